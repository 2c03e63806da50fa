"""A real S3-compatible server for tests: S3Proxy (from Maven Central) over a temporary directory.

The first use resolves ``org.gaul:s3proxy`` into the local Maven repository with
``mvn dependency:build-classpath`` (``s3proxy/pom.xml``); later runs reuse it. The
server listens on a free loopback port with SigV4 credentials, and stores each
bucket as a directory. Test modules import the fixtures they use from here.
"""

from __future__ import annotations

import atexit
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from javatools import free_port, maven_classpath

from conftest import missing_part

HERE = Path(__file__).resolve().parent
IDENTITY, CREDENTIAL = "vestige-test", "vestige-test-secret"


class S3ProxyMissing(RuntimeError):
    """S3Proxy could not be resolved or started (needs Java and Maven)."""


def classpath() -> str:
    """S3Proxy's Java classpath, resolving it from Maven Central the first time."""
    return maven_classpath(HERE / "s3proxy" / "pom.xml", "s3proxy", "S3Proxy", S3ProxyMissing)


class S3Proxy:
    """A running S3Proxy; ``endpoint`` is its URL, ``directory`` holds its buckets."""

    def __init__(self, startup_timeout: float = 120.0) -> None:
        java = shutil.which("java")
        if java is None:
            raise S3ProxyMissing("Java is needed to run S3Proxy")
        self.home = Path(tempfile.mkdtemp(prefix="vestige-s3proxy-"))
        self.directory = self.home / "buckets"
        self.directory.mkdir()
        self.endpoint = f"http://127.0.0.1:{free_port()}"
        properties = self.home / "s3proxy.properties"
        properties.write_text(
            f"s3proxy.endpoint={self.endpoint}\n"
            "s3proxy.authorization=aws-v2-or-v4\n"
            f"s3proxy.identity={IDENTITY}\n"
            f"s3proxy.credential={CREDENTIAL}\n"
            "jclouds.provider=filesystem\n"
            f"jclouds.filesystem.basedir={self.directory}\n"
        )
        self._output = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server
        self.process = subprocess.Popen(
            [java, "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "-cp", classpath(),
             "org.gaul.s3proxy.Main", "--properties", str(properties)],
            stdout=self._output, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + startup_timeout
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self._output.seek(0)
                tail = self._output.read().decode(errors="replace")[-3000:]
                self.stop()
                raise S3ProxyMissing(f"S3Proxy did not start:\n{tail}")
            time.sleep(0.3)

    def _answers(self) -> bool:
        try:
            urllib.request.urlopen(self.endpoint, timeout=2).close()
        except urllib.error.HTTPError:
            return True  # an S3 error (anonymous request): it is up
        except OSError:
            return False
        return True

    def new_bucket(self) -> str:
        """A new empty bucket (S3Proxy's filesystem store: one directory per bucket)."""
        name = f"vestige-{uuid.uuid4().hex[:12]}"
        (self.directory / name).mkdir()
        return name

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._output.close()
        shutil.rmtree(self.home, ignore_errors=True)


@dataclass
class Bucket:
    """An empty bucket on the running S3Proxy, with the AWS variables set to reach it."""

    server: S3Proxy
    name: str

    @property
    def objects(self) -> Path:
        """Where the server keeps the bucket's objects (to check them as files)."""
        return self.server.directory / self.name


_servers: list[S3Proxy] = []


@pytest.fixture
def s3_bucket(monkeypatch: pytest.MonkeyPatch) -> Bucket:
    """A fresh bucket on one S3Proxy started per session; AWS_* point at it.

    Skips when Java or Maven is missing, except under CI (which has them).
    """
    if not _servers:
        try:
            _servers.append(S3Proxy())
        except S3ProxyMissing as exc:
            missing_part("S3Proxy", f"apt-get install maven openjdk-17-jre-headless: {exc}")
        atexit.register(_servers[0].stop)
    server = _servers[0]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", IDENTITY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CREDENTIAL)
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return Bucket(server, server.new_bucket())
