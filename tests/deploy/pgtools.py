"""A throwaway PostgreSQL cluster for tests: ``initdb`` and ``pg_ctl`` on a free loopback port.

Uses the server binaries of Debian's ``postgresql`` package (on PATH or under
``/usr/lib/postgresql/*/bin``). As root the cluster runs as the ``postgres``
user, since PostgreSQL refuses to run as root. Test modules import the
fixtures they use from here (no conftest.py, whose module name would shadow
``tests/conftest.py``).
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from archive.config import Settings, get_settings
from conftest import missing_part


class PostgresMissing(RuntimeError):
    """The PostgreSQL server programs are not installed."""


def _bin_dir() -> Path:
    """The directory of ``initdb`` and ``pg_ctl`` (one version: the newest installed)."""
    versions = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if versions:
        newest = max(versions, key=lambda path: float(Path(path).parts[-3]))
        return Path(newest).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise PostgresMissing("initdb not found: apt-get install postgresql")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresCluster:
    """One PostgreSQL server in a temporary directory; ``stop()`` removes it.

    Tests run it without fsync (faster, nothing to keep); benchmarks pass
    ``fsync=True`` to compare it fairly with SQLite, which syncs every commit.
    """

    def __init__(self, *, fsync: bool = False) -> None:
        binaries = _bin_dir()
        initdb, self._pg_ctl = str(binaries / "initdb"), str(binaries / "pg_ctl")
        self.directory = Path(tempfile.mkdtemp(prefix="vestige-pg-"))
        self.port = _free_port()
        self._prefix: list[str] = []
        if os.geteuid() == 0:
            # initdb refuses to run as root: run the cluster as the package's user.
            try:
                user = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise PostgresMissing("as root, the `postgres` user is needed") from exc
            os.chown(self.directory, user.pw_uid, user.pw_gid)
            self._prefix = ["runuser", "-u", "postgres", "--"]
        data = self.directory / "data"
        self._run(
            initdb, "-D", str(data), "-U", "vestige", "--auth=trust", "-E", "UTF8", "--locale=C"
        )
        self.data = data
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.directory} "
            f"-c fsync={'on' if fsync else 'off'}"
        )
        self._run(
            self._pg_ctl, "-D", str(data), "-o", options, "-l", str(self.directory / "log"), "-w",
            "start",
        )  # fmt: skip

    def _run(self, *command: str) -> None:
        subprocess.run([*self._prefix, *command], check=True, capture_output=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://vestige@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        name = f"test_{uuid.uuid4().hex[:12]}"
        engine = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run(self._pg_ctl, "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)


_clusters: list[PostgresCluster] = []


@pytest.fixture
def postgres_url() -> str:
    """The URL of a fresh, empty database on a PostgreSQL started once per session.

    Skips when PostgreSQL is not installed, except under CI (which installs it).
    """
    if not _clusters:
        try:
            _clusters.append(PostgresCluster())
        except PostgresMissing as exc:
            missing_part("PostgreSQL", f"apt-get install postgresql: {exc}")
        atexit.register(_clusters[0].stop)
    return _clusters[0].create_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_home(
    request: pytest.FixtureRequest, home: Settings, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """``home`` with its catalog in SQLite, then in PostgreSQL (``VESTIGE_DATABASE_URL``)."""
    if request.param == "sqlite":
        return home
    monkeypatch.setenv("VESTIGE_DATABASE_URL", request.getfixturevalue("postgres_url"))
    get_settings.cache_clear()
    return get_settings()
