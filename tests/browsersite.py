"""A loopback site that only a browser can archive: the article arrives by fetch()
of a JSON file, images load lazily (IntersectionObserver), the stylesheet has a
background image and a web font, an iframe has its own image, and a script tries
to reach 127.0.0.1 and a private address (which the capture must refuse).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import threading
import zlib
from contextlib import suppress
from pathlib import Path

from conftest import Route, WebServer

TITLE = "Harbour cranes idle as dockworkers strike"
ARTICLE = (
    "Quokkaberry negotiators met the port authority on Tuesday night. "
    "The strike has stopped every crane in the harbour for nine days, and the "
    "union says the talks about night shift pay are far from over."
)
PAGE_HEIGHT = 2600  # px: the page's full height, so the screenshot's
PRIVATE_IP = "10.255.0.7"
# Paths a complete archive of the page holds, besides the page itself.
RESOURCES = [
    "/style.css",
    "/app.js",
    "/article.json",
    "/hero.png",
    "/lazy-1.png",
    "/lazy-2.png",
    "/font.ttf",
    "/frame.html",
    "/framed.png",
]


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid-colour PNG."""
    row = b"\x00" + bytes(rgb) * width
    raw = zlib.compress(row * height)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG, after checking its signature and header chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _font() -> bytes:
    for path in sorted(Path("/usr/share/fonts").rglob("*.ttf")):
        return path.read_bytes()
    raise RuntimeError("no font under /usr/share/fonts (apt-get install fonts-dejavu-core)")


class Listener:
    """A TCP listener on 127.0.0.1 that counts the connections it accepts."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.connections = 0
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.connections += 1
            connection.close()

    def close(self) -> None:
        self.socket.close()


def serve_site(web: WebServer, secret_port: int) -> str:
    """Set the site's routes on ``web``; ``secret_port`` is a loopback port the page's
    scripts try to reach. Returns the page's URL."""
    secret = f"http://127.0.0.1:{secret_port}"
    html = f"""<!doctype html><html><head><meta charset="utf-8"><title>{TITLE}</title>
<link rel="stylesheet" href="/style.css"><link rel="preconnect" href="{secret}/">
</head><body>
<div id="article"><p>Loading…</p></div>
<div class="hero"></div>
<div style="height: 1200px"></div>
<img class="lazy" data-src="/lazy-1.png" width="200" height="100" alt="first">
<div style="height: 600px"></div>
<img class="lazy" data-src="/lazy-2.png" width="200" height="100" alt="second">
<iframe src="/frame.html" width="300" height="150"></iframe>
<script src="/app.js"></script>
</body></html>"""
    script = f"""
fetch("/article.json").then((r) => r.json()).then((data) => {{
  document.getElementById("article").innerHTML =
    "<h1>" + data.title + "</h1><p>" + data.body + "</p>";
}});
const observer = new IntersectionObserver((entries) => {{
  for (const entry of entries) {{
    if (entry.isIntersecting) {{
      entry.target.src = entry.target.dataset.src;
      observer.unobserve(entry.target);
    }}
  }}
}});
document.querySelectorAll("img.lazy").forEach((img) => observer.observe(img));
fetch("{secret}/steal").catch(() => null);
new Image().src = "http://{PRIVATE_IP}/pixel.png";
fetch("/leave").catch(() => null);
"""
    css = f"""@font-face {{ font-family: "Site"; src: url("/font.ttf") format("truetype"); }}
html, body {{ margin: 0; padding: 0; }}
body {{ font-family: "Site", sans-serif; height: {PAGE_HEIGHT}px; display: flow-root; }}
.hero {{ background-image: url("/hero.png"); width: 400px; height: 200px; }}
iframe, img {{ display: block; border: 0; }}
"""
    frame = """<!doctype html><html><body style="margin:0">
<p>Framed caption</p><img src="/framed.png" width="100" height="50"></body></html>"""
    article = json.dumps({"title": TITLE, "body": ARTICLE})
    for path, body, kind in [
        ("/", html.encode(), "text/html; charset=utf-8"),
        ("/app.js", script.encode(), "text/javascript"),
        ("/style.css", css.encode(), "text/css"),
        ("/article.json", article.encode(), "application/json"),
        ("/frame.html", frame.encode(), "text/html"),
        ("/font.ttf", _font(), "font/ttf"),
    ]:
        web.route(path, Route(body=body, headers=[("Content-Type", kind)]))
    for path, colour in [
        ("/hero.png", (200, 30, 30)),
        ("/lazy-1.png", (30, 160, 30)),
        ("/lazy-2.png", (30, 30, 200)),
        ("/framed.png", (230, 180, 0)),
    ]:
        web.route(path, Route(body=png(40, 20, colour), headers=[("Content-Type", "image/png")]))
    # A redirect off the site to loopback: the second hop must be refused.
    web.route("/leave", Route(302, b"", [("Location", f"{secret}/redirected")]))
    return web.url("/")


# The members-only story: its body arrives by fetch() only when the request carries
# what the browser has by then: the cookies set by a redirect, by the page and by a
# script, the page as Referer, and the Accept and X-Requested-With the script sends.
# Its image redirects to another origin (localhost), which must get none of the cookies.
STORY = "Pelican wardens counted four hundred nests on the breakwater this spring."
STORY_COOKIES = ("visit=1", "session=s3cr3t", "js=ok")


IMAGE = [("Content-Type", "image/png")]


def serve_story(web: WebServer) -> str:
    """Set the members-only story's routes on ``web``; returns its first URL, which
    redirects to the page (``/story/``, whose script fetches a relative ``body.json``)."""
    page = web.url("/story/")
    html = b"""<!doctype html><html><head><title>Members</title></head><body>
<div id="story">Members only.</div><img src="away.png" width="10" height="10"><script>
document.cookie = "js=ok; path=/";
fetch("body.json", {headers: {"Accept": "application/json", "X-Requested-With": "fetch"}})
  .then((r) => r.json())
  .then((data) => { document.getElementById("story").textContent = data.story; });
</script></body></html>"""

    def body(handler) -> Route:
        cookies = handler.headers.get("Cookie", "")
        allowed = (
            all(cookie in cookies for cookie in STORY_COOKIES)
            and handler.headers.get("Referer") == page
            and handler.headers.get("Accept") == "application/json"
            and handler.headers.get("X-Requested-With") == "fetch"
        )
        answer = {"story": STORY if allowed else "Forbidden."}
        return Route(
            200 if allowed else 403,
            json.dumps(answer).encode(),
            [("Content-Type", "application/json")],
        )

    web.route("/story", Route(302, b"", [("Location", "/story/"), ("Set-Cookie", "visit=1")]))
    web.route(
        "/story/",
        Route(
            body=html,
            headers=[("Content-Type", "text/html"), ("Set-Cookie", "session=s3cr3t; HttpOnly")],
        ),
    )
    web.route("/story/body.json", body)
    away = web.url("/story/landed.png").replace("127.0.0.1", "localhost")
    web.route("/story/away.png", Route(302, b"", [("Location", away)]))
    web.route("/story/landed.png", Route(body=png(10, 10, (0, 90, 0)), headers=IMAGE))
    return web.url("/story")


def chromium_processes(name: str = "chromium") -> list[int]:
    """The processes started (through Playwright's driver) by this process whose
    executable's name starts with ``name``: Chromium's, or the driver's (``node``)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found = []
    for pid in parents:
        ancestor = parents.get(pid)
        while ancestor and ancestor != os.getpid():
            ancestor = parents.get(ancestor)
        try:
            matches = Path(f"/proc/{pid}/exe").resolve().name.startswith(name)
        except OSError:
            continue
        if ancestor == os.getpid() and matches:
            found.append(pid)
    return found


def kill_chromium() -> None:
    """SIGKILL every Chromium process this process started: a browser crash."""
    for pid in chromium_processes():
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
