"""DNS rebinding: a name that answers a public address to one lookup and
127.0.0.1 to the next reaches nothing, in captures, crawls, watches and webhooks.

The public internet is simulated in-process: ``socket.getaddrinfo`` answers
for the test names, and a connect to a public address is intercepted before
any packet is sent (refused, or, for the one "public site", handed to a
loopback server). A loopback listener counts the connections that got through.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections import Counter
from collections.abc import Iterator

import pytest
from test_capture_basic import configure, stored_records, vestige

from conftest import Route, WebServer

PUBLIC = "93.184.215.14"  # a global unicast address; never actually contacted
PUBLIC_SITE = "93.184.215.15"  # "public" address whose connects go to the test's web server


class Listener:
    """A loopback TCP listener that counts connections (and closes them)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()


class Internet:
    """The patched resolver and connect: who asked for what, and what got out."""

    def __init__(self, site: WebServer) -> None:
        self.lookups: Counter[str] = Counter()
        self.public_connects: list[tuple[str, int]] = []
        self.site = site

    def answer(self, host: str) -> str | None:
        """``rebind.*``: public on the first lookup, loopback after; ``inside.*``:
        loopback; ``site.*``: the simulated public site; other names: the system's."""
        if host.startswith("rebind."):
            self.lookups[host] += 1
            return PUBLIC if self.lookups[host] == 1 else "127.0.0.1"
        if host.startswith("inside."):
            return "127.0.0.1"
        if host.startswith("site."):
            return PUBLIC_SITE
        return None


@pytest.fixture
def internet(monkeypatch: pytest.MonkeyPatch, web: WebServer) -> Iterator[Internet]:
    world = Internet(web)
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect

    def getaddrinfo(host, port, *args, **kwargs):
        address = world.answer(host) if isinstance(host, str) else None
        return real_getaddrinfo(address or host, port, *args, **kwargs)

    def connect(sock: socket.socket, address) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            host, port = address[0], address[1]
            if ipaddress.ip_address(host.split("%")[0]).is_global:
                world.public_connects.append((host, port))
                if host != PUBLIC_SITE:
                    raise ConnectionRefusedError(111, "refused in-process (no public traffic)")
                address = ("127.0.0.1", int(web.base.rsplit(":", 1)[1]))
        real_connect(sock, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    yield world


@pytest.fixture
def guarded(home, monkeypatch):
    monkeypatch.delenv("VESTIGE_CAPTURE_ALLOW_PRIVATE")
    return configure(monkeypatch)


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.sock.close()


def test_capture_of_a_rebinding_name_reaches_nothing(guarded, internet, listener) -> None:
    url = f"http://rebind.capture.example:{listener.port}/secret"
    done = vestige("capture", url)
    assert done.exit_code == 1
    assert f"FAILED  {url}  cannot connect" in done.output
    assert listener.connections == 0
    assert internet.lookups["rebind.capture.example"] == 1  # resolved once, for the check
    assert internet.public_connects == [
        (PUBLIC, listener.port)
    ]  # and connected to what was checked
    assert stored_records(guarded) == []


def test_a_name_with_any_private_address_is_refused_before_connecting(
    guarded, internet, listener
) -> None:
    url = f"http://inside.example:{listener.port}/secret"
    done = vestige("capture", url)
    assert done.exit_code == 1
    assert f"FAILED  {url}  refused 'inside.example': it resolves to loopback" in done.output
    assert listener.connections == 0 and internet.public_connects == []


def test_a_public_site_is_still_captured(guarded, internet, web) -> None:
    port = web.base.rsplit(":", 1)[1]
    web.route("/page", Route(body=b"<p>public</p>", headers=[("Content-Type", "text/html")]))
    done = vestige("capture", f"http://site.example:{port}/page")
    assert done.exit_code == 0, done.output
    assert internet.public_connects == [(PUBLIC_SITE, int(port))]
    assert web.hits == ["/page"]


def test_crawl_of_a_rebinding_name_reaches_nothing(guarded, internet, listener) -> None:
    done = vestige(
        "crawl", "start", f"http://rebind.crawl.example:{listener.port}/", "--delay", "0"
    )
    assert "Traceback" not in done.output
    assert listener.connections == 0
    assert internet.lookups["rebind.crawl.example"] >= 1  # robots.txt was tried, then the seed
    assert {port for _, port in internet.public_connects} == {listener.port}


def test_watch_and_its_webhook_reach_nothing(guarded, internet, listener, monkeypatch) -> None:
    # Watching a rebinding name finds it unreachable, a notable change: the
    # webhook, on a rebinding name and then on a name that is plainly loopback,
    # is refused like a capture.
    url = f"http://rebind.watch.example:{listener.port}/page"
    assert vestige("watch", "add", url, "--every", "1h").exit_code == 0
    for hook in ("rebind.hook.example", "inside.hook.example"):
        configure(monkeypatch, webhook_url=f"http://{hook}:{listener.port}/hook")
        done = vestige("watch", "run", "--now", "--no-ingest")
        assert "Traceback" not in done.output, done.output
        assert "unreachable" in done.output
        assert listener.connections == 0
    assert internet.lookups["rebind.watch.example"] == 2  # once per run
    assert internet.lookups["rebind.hook.example"] == 1
