"""``vestige doctor``: what of Vestige's set-up works here, what is missing, how to add it.

Each check looks without changing anything (no catalog is created, no index opened for
writing). A check is *required* when the configured set-up cannot run without it (the
catalog, the search engine, a writable home); the others are optional parts a feature
or the tests need (Chromium, Tesseract, Java, PostgreSQL, pywb).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from archive.config import Settings
from archive.migrations import head
from ingest.ocr import INSTALL as APT_TESSERACT

GiB = 1024**3
CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
TESSERACT_LANGUAGES = ("eng", "chi_sim", "chi_tra")


@dataclass(frozen=True)
class Check:
    """The outcome of one check: ``fix`` is the one command that adds what is missing."""

    name: str
    ok: bool
    detail: str
    fix: str | None = None
    required: bool = False


def run_checks(settings: Settings) -> Iterator[Check]:
    """Every check, in the order ``vestige doctor`` prints them."""
    checks: list[Callable[[Settings], Check]] = [
        _python,
        _home,
        _catalog,
        _search,
        _chromium,
        _tesseract,
        _java,
        _postgresql,
        _pywb,
    ]
    for check in checks:
        yield check(settings)


def _run(*command: str) -> str | None:
    """What a program prints (stdout and stderr), or None when it cannot run."""
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout + result.stderr if result.returncode == 0 else None


def _python(settings: Settings) -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    ok = sys.version_info >= (3, 11)
    return Check("python", ok, f"Python {version}", None if ok else "install Python 3.11+", True)


def _home(settings: Settings) -> Check:
    # The nearest existing folder is where the home will be made and what fills up.
    existing = next(p for p in (settings.home, *settings.home.parents) if p.exists())
    free = shutil.disk_usage(existing).free
    writable = _writable(existing)
    detail = f"{settings.home} ({free / GiB:.1f} GiB free)"
    if not writable:
        return Check("home", False, f"{detail}: not writable", "set VESTIGE_HOME", True)
    if free < GiB:
        return Check("home", False, f"{detail}: under 1 GiB free", "free disk space", True)
    return Check("home", True, detail, required=True)


def _writable(folder: Path) -> bool:
    return os.access(folder, os.W_OK | os.X_OK)


def _catalog(settings: Settings) -> Check:
    url = settings.catalog_url
    shown = re.sub(r"//[^@/]*@", "//***@", url)  # never print a password
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return Check("catalog", True, f"{shown}: new (made on first use)", required=True)
    try:
        engine = create_engine(url)
    except (SQLAlchemyError, ImportError) as exc:
        fix = "pip install 'vestige[postgres]'" if "psycopg" in str(exc) else None
        return Check("catalog", False, f"{shown}: {exc}", fix, True)
    try:
        with engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
            current = (
                connection.scalar(text("SELECT version_num FROM alembic_version"))
                if "alembic_version" in tables
                else None
            )
    except SQLAlchemyError as exc:
        return Check(
            "catalog", False, f"{shown}: cannot connect: {exc.__cause__ or exc}", None, True
        )
    finally:
        engine.dispose()
    if not tables:
        return Check("catalog", True, f"{shown}: empty (made on first use)", required=True)
    if current != head():
        detail = f"{shown}: schema at revision {current or 'none'}, this Vestige needs {head()}"
        return Check("catalog", False, detail, "vestige migrate", True)
    return Check("catalog", True, f"{shown}: schema {current} (current)", required=True)


def _search(settings: Settings) -> Check:
    if not settings.search_url:
        found = importlib.util.find_spec("tantivy") is not None
        fix = None if found else "pip install -c requirements.lock -e ."
        return Check("search", found, f"embedded engine in {settings.home / 'index'}", fix, True)
    from search.backend import SearchError
    from search.cluster import CHINESE_ANALYZERS
    from search.engine import detect_distribution

    url = settings.search_url.rstrip("/")
    try:
        distribution = detect_distribution(url, timeout=5)
        answer = httpx.get(f"{url}/_cat/plugins", params={"format": "json"}, timeout=5)
        installed = {entry.get("component") for entry in answer.json()}
    except (SearchError, httpx.HTTPError, ValueError) as exc:
        return Check("search", False, str(exc), "start it, or unset VESTIGE_SEARCH_URL", True)
    # The best Chinese analyzer the cluster offers, as ClusterBackend will choose it.
    analyzer = next(name for name, plugin, _ in CHINESE_ANALYZERS if plugin in (*installed, None))
    detail = f"{distribution} at {url}, Chinese analyzer {analyzer}"
    if analyzer == "cjk":
        fix = f"bin/{distribution}-plugin install analysis-smartcn (on every node)"
        return Check("search", True, f"{detail} (no smartcn or icu plugin)", fix, True)
    return Check("search", True, detail, required=True)


def _chromium(settings: Settings) -> Check:
    path = next(filter(None, map(shutil.which, CHROMIUM)), None)
    if path is None:
        return Check("chromium", False, "no Chromium (browser capture)", "apt-get install chromium")
    if importlib.util.find_spec("playwright") is None:
        fix = "pip install -c requirements.lock -e '.[test]'"
        return Check("chromium", False, f"{path}, but Playwright is not installed", fix)
    # Debian's wrapper script prints noise of its own around the version line.
    printed = (_run(path, "--version") or "").splitlines()
    version = next((line for line in printed if line.startswith(("Chromium", "Google"))), "")
    return Check("chromium", True, f"{path} {version}".strip())


def _tesseract(settings: Settings) -> Check:
    listed = _run("tesseract", "--list-langs")
    if listed is None:
        return Check("tesseract", False, "no Tesseract (OCR of scans and images)", APT_TESSERACT)
    languages = set(listed.split())
    missing = [lang for lang in TESSERACT_LANGUAGES if lang not in languages]
    if missing:
        return Check("tesseract", False, f"no language models {', '.join(missing)}", APT_TESSERACT)
    return Check("tesseract", True, f"languages {', '.join(TESSERACT_LANGUAGES)}")


def _java(settings: Settings) -> Check:
    fix = "apt-get install maven openjdk-17-jre-headless"
    shown = _run("java", "-version")
    found = re.search(r'version "(\d+)', shown or "")
    if not found or int(found.group(1)) < 17:
        return Check("java", False, "no Java 17+ (the tests' OpenSearch node and S3Proxy)", fix)
    if shutil.which("mvn") is None:
        return Check("java", False, f"Java {found.group(1)}, but no Maven", fix)
    return Check("java", True, f"Java {found.group(1)} and Maven (for the tests)")


def _postgresql(settings: Settings) -> Check:
    tools = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb")) or shutil.which("initdb")
    if not tools:
        return Check("postgresql", False, "no PostgreSQL server", "apt-get install postgresql")
    return Check("postgresql", True, "PostgreSQL server programs (for the tests, or a catalog)")


def _pywb(settings: Settings) -> Check:
    from api.pywb import PywbMissing, find_wayback

    try:
        wayback = find_wayback()
    except PywbMissing:
        fix = (
            "python3 -m venv .venv-pywb && .venv-pywb/bin/pip install -r requirements-replay.lock"
            " (then vestige replay-server --wayback .venv-pywb/bin/wayback)"
        )
        return Check("pywb", False, "not on PATH (vestige replay-server)", fix)
    return Check("pywb", True, wayback)
