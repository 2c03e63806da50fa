"""Java programs for tests and benchmarks: Maven-resolved classpaths and free ports.

The real servers the tests start (an OpenSearch node, S3Proxy) come from Maven
Central: the first use resolves a ``pom.xml``'s dependencies into the local
Maven repository with ``mvn dependency:build-classpath``; later runs reuse the
classpath cached under ``~/.cache/vestige``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

CACHE = Path.home() / ".cache" / "vestige"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def maven_classpath(pom: Path, name: str, what: str, error: type[Exception]) -> str:
    """The Java classpath of ``pom``'s dependencies (cached as ``name.classpath``).

    Raises ``error`` naming ``what`` when Maven is missing or cannot resolve it.
    """
    cached = CACHE / f"{name}.classpath"
    if cached.is_file():
        entries = cached.read_text().strip().split(os.pathsep)
        if entries and all(Path(entry).is_file() for entry in entries):
            return os.pathsep.join(entries)
    mvn = shutil.which("mvn")
    if mvn is None:
        raise error(f"Maven (mvn) is needed to fetch {what}; install maven")
    cached.parent.mkdir(parents=True, exist_ok=True)
    command = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(pom),
        "dependency:build-classpath",
        f"-Dmdep.outputFile={cached}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    if result.returncode != 0 or not cached.is_file():
        tail = (result.stdout + result.stderr).strip().splitlines()[-15:]
        raise error(
            f"could not resolve {what} from Maven Central ({' '.join(command)}):\n"
            + "\n".join(tail)
        )
    return cached.read_text().strip()
