"""Smoke test of an installed Vestige: capture a loopback page, ingest, search, export.

CI runs it in a throwaway venv made by ``pip install .`` with the newest versions the
loose ranges in pyproject.toml allow, so an upstream release that breaks Vestige fails
CI here, naming the packages that differ from ``requirements.lock``, before it breaks a
user's fresh install. Run it with the venv's python from outside the source tree, so
it imports the installed package: ``VENV/bin/python .ci/smoke.py``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata
from pathlib import Path

LOCK = Path(__file__).resolve().parents[1] / "requirements.lock"
PAGE = (
    "<html><head><title>Smoke test report</title></head><body><article>"
    "<h1>Smoke test report</h1>"
    + "<p>The tribunal heard testimony about the quarry near Ostrava in 2019.</p>" * 20
    + "</article></body></html>"
).encode()


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args: object) -> None:
        pass


def differences_from_lock() -> list[str]:
    """Installed distributions at a version requirements.lock does not pin.

    A name pinned twice (under different environment markers) matches either pin.
    """
    pins: dict[str, set[str]] = {}
    for name, version in re.findall(r"^([A-Za-z0-9_.-]+)==([^\s;]+)", LOCK.read_text(), re.M):
        pins.setdefault(_canonical(name), set()).add(version)
    found = []
    for dist in metadata.distributions():
        name = _canonical(dist.metadata["Name"])
        if name in pins and dist.version not in pins[name]:
            found.append(f"{name} {dist.version} (lock: {' or '.join(sorted(pins[name]))})")
    return sorted(found)


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def vestige(*args: str, env: dict[str, str]) -> str:
    """Run one ``vestige`` command of this venv; stop with its output if it fails."""
    command = [str(Path(sys.executable).with_name("vestige")), *args]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        newer = differences_from_lock()
        sys.exit(
            f"smoke: `vestige {' '.join(args)}` failed ({result.returncode}):\n"
            f"{result.stdout}{result.stderr}\n"
            "versions other than requirements.lock's (the suspects):\n  "
            + "\n  ".join(newer or ["none"])
        )
    return result.stdout


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/report.html"
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "VESTIGE_HOME": home, "VESTIGE_CAPTURE_ALLOW_PRIVATE": "1"}
        env.pop("VESTIGE_SEARCH_URL", None)
        env.pop("VESTIGE_DATABASE_URL", None)
        vestige("--help", env=env)
        vestige("capture", url, env=env)
        hits = vestige("search", "Ostrava quarry", "--json", env=env)
        if url not in hits:
            sys.exit(f"smoke: the captured page was not found by search:\n{hits}")
        export = Path(home) / "export.jsonl"
        vestige("export", "Ostrava", "--format", "jsonl", "--output", str(export), env=env)
        rows = [json.loads(line) for line in export.read_text().splitlines()]
        if [row["url"] for row in rows] != [url]:
            sys.exit(f"smoke: the export does not hold the captured page: {rows}")
    server.shutdown()
    newer = differences_from_lock()
    print("smoke: capture, ingest, search and export work; versions other than the lock's:")
    print("  " + ("\n  ".join(newer) or "none"))


if __name__ == "__main__":
    main()
