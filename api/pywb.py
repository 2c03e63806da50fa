"""High-fidelity replay by pywb, run as a separate process over the same WARC files.

pywb monkey-patches the whole process with gevent when it is imported, so this
module never imports it: it writes a config and a CDXJ index for pywb under
``$VESTIGE_HOME/pywb/`` and runs pywb's ``wayback`` program as a child process.
pywb is the optional extra ``vestige[replay]``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import func, select

from archive.catalog import CONTENT_TYPES, Catalog, Record
from archive.cdxj import cdxj_line
from archive.config import Settings

COLLECTION = "vestige"  # pywb serves the whole archive as one collection
_PAGE = 5000


class PywbMissing(RuntimeError):
    """pywb's ``wayback`` program is not installed."""


def pywb_dir(settings: Settings) -> Path:
    return settings.home / "pywb"


def cdxj_path(settings: Settings) -> Path:
    return pywb_dir(settings) / "index.cdxj"


def _lines(catalog: Catalog) -> Iterator[str]:
    """Every replayable record as a CDXJ line (streamed from the catalog)."""
    with catalog.session() as session:
        rows = session.scalars(
            select(Record)
            .where(Record.record_type.in_(CONTENT_TYPES), Record.url.is_not(None))
            .execution_options(yield_per=_PAGE)
        )
        for row in rows:
            yield cdxj_line(row)


def write_cdxj(catalog: Catalog, path: Path) -> int:
    """(Re)write the CDXJ index at ``path`` atomically; returns how many lines it has.

    Lines are sorted by their bytes, which is the order pywb's binary search needs.
    """
    lines = sorted(_lines(catalog), key=lambda line: line.encode("utf-8"))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".index-", suffix=".cdxj")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        for line in lines:
            handle.write(line + "\n")
    os.replace(temp, path)
    return len(lines)


def catalog_mark(catalog: Catalog) -> int:
    """Changes whenever records are added (the newest record id)."""
    with catalog.session() as session:
        return session.scalar(select(func.max(Record.id))) or 0


def write_config(settings: Settings) -> Path:
    """pywb's ``config.yaml``: one collection over the WARC files and our CDXJ index."""
    directory = pywb_dir(settings)
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "config.yaml"
    # JSON strings are valid YAML scalars: paths with any characters stay intact.
    config.write_text(
        "# Written by `vestige replay-server`; rewritten on every start.\n"
        "collections:\n"
        f"  {COLLECTION}:\n"
        f"    index_paths: {json.dumps(str(cdxj_path(settings)))}\n"
        f"    archive_paths: {json.dumps(str(settings.warc_dir) + os.sep)}\n"
        "enable_memento: true\n"
        "framed_replay: true\n",
        encoding="utf-8",
    )
    return config


def find_wayback(explicit: str | None = None) -> str:
    """The ``wayback`` program: given, beside this Python, or on PATH."""
    if explicit:
        if not Path(explicit).is_file():
            raise PywbMissing(f"no wayback program at {explicit}")
        return explicit
    beside = Path(sys.executable).parent / "wayback"
    if beside.is_file() and importlib.util.find_spec("pywb") is not None:
        return str(beside)
    found = shutil.which("wayback")
    if found:
        return found
    raise PywbMissing(
        "pywb is not installed: install the replay extra (pip install 'vestige[replay]') "
        "or give --wayback /path/to/wayback"
    )


def wayback_command(wayback: str, host: str, port: int) -> list[str]:
    return [wayback, "--bind", host, "--port", str(port)]
