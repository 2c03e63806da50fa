"""Browser captures against plain HTTP captures, and how faithfully the archive replays them.

    python benchmarks/browser.py [--n 8]

A loopback site (its own process) serves ``n`` real corpus pages, each with a
generated stylesheet (a background image and a web font), three images and two
images loaded lazily by a script; the corpus pages' own links to other hosts are
made local, so nothing leaves the machine. The same pages are captured over HTTP
and with ``--browser`` in one run (fresh archives), then the service replays the
browser captures in Chromium with the live site stopped. Prints pages per minute of
each mode, resources per page, peak memory of the capturing Chromium (PSS of its
processes), fidelity (of the resources a live load of each page fetched, the
share the replay served from the archive; goal 1.0) and the pixel difference
between the live and the replayed screenshot (share of pixels that differ).
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import re
import socket
import sys
import tempfile
import threading
import time
import zlib
from contextlib import suppress
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit

from _corpus import CORPUS, LoopbackHandler, sample, serve_until_stdin_closes, server_process
from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from archive.browser import SCROLL_STEPS

# This folder's api.py (the API benchmark) would shadow the api package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]

CHROMIUM = "/usr/bin/chromium"
_EXTERNAL = re.compile(rb"""((?:src|href|srcset)\s*=\s*["']?)https?://[^/"'\s>]+""", re.I)
_LAZY = b"""<img class="lazy" data-src="/assets/%d-lazy-a.png" width="160" height="90">
<div style="height: 900px"></div><img class="lazy" data-src="/assets/%d-lazy-b.png"
width="160" height="90"><script>
const seen = new IntersectionObserver((entries) => { for (const e of entries) {
  if (e.isIntersecting) { e.target.src = e.target.dataset.src; seen.unobserve(e.target); } } });
document.querySelectorAll("img.lazy").forEach((img) => seen.observe(img));
</script>"""
_CSS = """@font-face { font-family: "Bench"; src: url("/assets/font.ttf"); }
body { font-family: "Bench", serif; }
.bench-hero { background: url("/assets/%d-hero.png"); width: 320px; height: 120px; }
"""


def _png(width: int, height: int, seed: int) -> bytes:
    rgb = bytes(((seed * 53) % 256, (seed * 97) % 256, (seed * 31) % 256))
    raw = zlib.compress((b"\x00" + rgb * width) * height)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes((8, 2, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def _page(number: int, path: str) -> bytes:
    body = (CORPUS / path).read_bytes()
    if path.endswith(".gz"):
        body = gzip.decompress(body)
    body = _EXTERNAL.sub(rb"\1", body)  # links to other hosts point at this site
    extra = (
        b'<link rel="stylesheet" href="/assets/%d.css"><div class="bench-hero"></div>' % number
        + b"".join(
            b'<img src="/assets/%d-%d.png" width="200" height="80">' % (number, n) for n in range(3)
        )
        + _LAZY % (number, number)
    )
    closing = body.lower().rfind(b"</body>")
    return body[:closing] + extra + body[closing:] if closing >= 0 else body + extra


class _Site(LoopbackHandler):
    files: ClassVar[dict[str, tuple[str, bytes]]] = {}

    def do_GET(self) -> None:
        found = self.files.get(self.path.split("?", 1)[0])
        if found is None:
            self.send_error(404)
            return
        self.send_body(*found)


def serve(n: int) -> None:
    """The benchmark site: ``/page/<i>`` and their assets; print the port first."""
    files = {
        "/assets/font.ttf": ("font/ttf", next(Path("/usr/share/fonts").rglob("*.ttf")).read_bytes())
    }
    for number, path in enumerate(sample(n, seed=15)):
        files[f"/page/{number}"] = ("text/html; charset=utf-8", _page(number, path))
        files[f"/assets/{number}.css"] = ("text/css", (_CSS % number).encode())
        for name in ("hero", "0", "1", "2", "lazy-a", "lazy-b"):
            files[f"/assets/{number}-{name}.png"] = (
                "image/png",
                _png(200, 80, hash(name) % 97 + number),
            )
    _Site.files = files
    serve_until_stdin_closes(_Site)


class _Memory:
    """Samples the PSS of every Chromium process in the background; keeps the peak."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, _chromium_pss())

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def _chromium_pss() -> int:
    """PSS of the Chromium processes this process started (through Playwright's driver)."""
    parents, chromium = {}, set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            parents[int(pid)] = int(stat.rsplit(")", 1)[1].split()[1])
            if Path(f"/proc/{pid}/exe").resolve().name.startswith("chromium"):
                chromium.add(int(pid))
        except OSError:
            continue
    total = 0
    for pid in chromium:
        ancestor = parents.get(pid)
        while ancestor and ancestor != os.getpid():
            ancestor = parents.get(ancestor)
        if ancestor != os.getpid():
            continue  # someone else's browser
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def _capture(urls: list[str], home: Path, mode: str) -> tuple[float, list, int]:
    from archive.browser import CaptureMode, ModeCapturer
    from archive.config import Settings
    from archive.repository import Repository

    repository = Repository(Settings(home=home, capture_allow_private=True))
    capturer = ModeCapturer(repository, CaptureMode(mode))
    memory = _Memory()
    try:
        started = time.perf_counter()
        results = [capturer.capture(url) for url in urls]
        elapsed = time.perf_counter() - started
    finally:
        capturer.close()
        repository.close()
        peak = memory.stop()
    failed = [r.error for r in results if not r.ok]
    if failed:
        sys.exit(f"error: {len(failed)} {mode} captures failed: {failed[0]}")
    return elapsed, results, peak


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _load(page: Page, url: str) -> tuple[set[str], bytes]:
    """Load ``url``, scrolled to the end and back; the URLs that loaded, a screenshot."""
    loaded: set[str] = set()
    # Scripts are not counted: replay runs none by design (the DOM shows what they did).
    page.on(
        "response",
        lambda r: (
            loaded.add(r.url)
            if r.status < 400 and r.status != 302 and r.request.resource_type != "script"
            else None
        ),
    )
    # Only the loopback site: nothing may reach the public internet.
    page.route(
        "**/*",
        lambda route: (
            route.continue_()
            if urlsplit(route.request.url).hostname == "127.0.0.1"
            else route.abort()
        ),
    )
    page.goto(url, wait_until="networkidle")
    for _ in range(SCROLL_STEPS):  # as far as a browser capture scrolls
        if page.evaluate(
            "window.scrollBy(0, innerHeight);"
            " scrollY + innerHeight >= document.documentElement.scrollHeight - 1"
        ):
            break
        page.wait_for_timeout(150)
    page.evaluate("window.scrollTo(0, 0)")
    # "networkidle" fires once per page: wait for the images scrolling started instead.
    with suppress(PlaywrightTimeout):
        page.wait_for_function("[...document.images].every((i) => i.complete)", timeout=15_000)
    page.wait_for_timeout(500)
    page.evaluate("document.fonts.ready.then(() => true)")
    return loaded, page.screenshot(full_page=True)


def _pixel_difference(first: bytes, second: bytes) -> float:
    from PIL import Image, ImageChops

    a, b = (
        Image.open(io.BytesIO(first)).convert("RGB"),
        Image.open(io.BytesIO(second)).convert("RGB"),
    )
    if a.size != b.size:
        width, height = max(a.width, b.width), max(a.height, b.height)
        a, b = (image.crop((0, 0, width, height)) for image in (a, b))  # pads with black
    difference = ImageChops.difference(a, b).convert("L").point(lambda v: 255 if v else 0)
    return difference.histogram()[255] / (a.width * a.height)


def _fidelity(
    urls: list[str], home: Path, live: dict[str, tuple[set[str], bytes]]
) -> list[tuple[float, float]]:
    """For each page: share of its live resources the replay served, pixel difference."""
    import uvicorn
    from playwright.sync_api import sync_playwright

    from api.app import create_app
    from archive.cdxj import timestamp14
    from archive.config import Settings
    from archive.repository import Repository

    settings = Settings(home=home, scheduler=False)
    repository = Repository(settings)
    stamps = {url: timestamp14(repository.catalog.versions(url)[-1].timestamp) for url in urls}
    repository.close()
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    results = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
            )
            for url in urls:
                context = browser.new_context(viewport={"width": 1280, "height": 800})
                page = context.new_page()
                replayed, shot = _load(page, f"http://127.0.0.1:{port}/web/{stamps[url]}/{url}")
                context.close()
                originals = {re.sub(r"^.*?/web/\d{14}/", "", r) for r in replayed if "/web/" in r}
                wanted, live_shot = live[url]
                for missing in sorted(wanted - originals):
                    print(f"not replayed: {missing}", file=sys.stderr)
                if os.environ.get("BENCH_SHOTS"):  # to look at a pixel difference
                    name = url.rsplit("/", 1)[-1]
                    Path(os.environ["BENCH_SHOTS"], f"{name}-live.png").write_bytes(live_shot)
                    Path(os.environ["BENCH_SHOTS"], f"{name}-replay.png").write_bytes(shot)
                results.append(
                    (len(wanted & originals) / len(wanted), _pixel_difference(live_shot, shot))
                )
            browser.close()
    finally:
        server.should_exit = True
        thread.join(30)
    return results


def _live(urls: list[str]) -> dict[str, tuple[set[str], bytes]]:
    from playwright.sync_api import sync_playwright

    loads = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        for url in urls:
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            loads[url] = _load(context.new_page(), url)
            context.close()
        browser.close()
    return loads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=8, help="pages (default 8)")
    args = parser.parse_args()
    if not Path(CHROMIUM).is_file():
        sys.exit("error: Chromium is not installed (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as scratch:
        with server_process(__file__, "serve", str(args.n)) as base:
            urls = [f"{base}/page/{number}" for number in range(args.n)]
            http_time, _, _ = _capture(urls, Path(scratch) / "http", "http")
            browser_time, results, peak = _capture(urls, Path(scratch) / "browser", "browser")
            live = _live(urls)
        # The live site is stopped: the replay has only the archive.
        scores = _fidelity(urls, Path(scratch) / "browser", live)
    resources = [result.resources for result in results]
    fidelity = [score for score, _ in scores]
    pixels = [difference for _, difference in scores]
    print(f"{args.n} corpus pages, each with generated CSS (background, web font) and 5 images")
    print(f"http:     {args.n / http_time * 60:8.1f} pages/min")
    print(f"browser:  {args.n / browser_time * 60:8.1f} pages/min")
    print(
        f"resources per page (browser): {sum(resources) / len(resources):.1f} "
        f"(min {min(resources)}, max {max(resources)})"
    )
    print(f"peak Chromium memory while capturing (PSS): {peak / 2**20:.0f} MiB")
    print(
        f"fidelity (live resources replayed): mean {sum(fidelity) / len(fidelity):.3f}, "
        f"min {min(fidelity):.3f}"
    )
    print(
        f"pixel difference live/replay: mean {sum(pixels) / len(pixels):.4f}, max {max(pixels):.4f}"
    )


if __name__ == "__main__" and sys.argv[1:2] == ["serve"]:
    serve(int(sys.argv[2]))
elif __name__ == "__main__":
    main()
