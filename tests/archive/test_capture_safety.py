"""Capture safety against a real server: refused addresses reach nothing,
redirects are guarded hop by hop, and user-given names stay in VESTIGE_HOME."""

from __future__ import annotations

import pytest
from test_capture_basic import configure, stored_records, vestige

from archive.capture import Capturer
from archive.fetch import Fetcher
from archive.repository import Repository
from archive.store import InvalidCollection
from conftest import Route, WebServer


@pytest.fixture
def guarded(home, monkeypatch):
    """The default: VESTIGE_CAPTURE_ALLOW_PRIVATE unset."""
    monkeypatch.delenv("VESTIGE_CAPTURE_ALLOW_PRIVATE")
    return configure(monkeypatch)


def private_urls(web: WebServer) -> list[str]:
    port = web.base.rsplit(":", 1)[1]
    return [
        web.url("/secret"),
        f"http://localhost:{port}/secret",
        f"http://[::1]:{port}/secret",
        f"http://[::ffff:127.0.0.1]:{port}/secret",
        f"http://0.0.0.0:{port}/secret",
        f"http://2130706433:{port}/secret",  # 127.0.0.1 as one number
        "http://10.0.0.1/secret",
        "http://192.168.0.1/secret",
        "http://169.254.169.254/latest/meta-data/",
        "http://224.0.0.1/secret",
        "http://[fe80::1]/secret",
    ]


def test_private_addresses_are_refused_before_connecting(guarded, web: WebServer) -> None:
    web.route("/secret", Route(body=b"internal"))
    urls = private_urls(web)
    done = vestige("capture", *urls)
    assert done.exit_code == 1
    lines = done.output.strip().splitlines()
    assert len(lines) == len(urls)
    for url, line in zip(urls, lines, strict=True):
        assert line.startswith(f"FAILED  {url}  refused"), line
        assert "VESTIGE_CAPTURE_ALLOW_PRIVATE=1" in line
    assert web.hits == []
    assert stored_records(guarded) == []


@pytest.mark.parametrize("value", ["0", "false", ""])
def test_only_the_setting_allows_private_addresses(
    home, web: WebServer, monkeypatch, value: str
) -> None:
    if value:
        configure(monkeypatch, capture_allow_private=value)
    else:
        monkeypatch.delenv("VESTIGE_CAPTURE_ALLOW_PRIVATE")
        configure(monkeypatch)
    url = web.route("/x", Route(body=b"x"))
    assert vestige("capture", url).exit_code == 1
    configure(monkeypatch, capture_allow_private=1)
    assert vestige("capture", url).exit_code == 0
    assert web.hits == ["/x"]


class FirstHopAllowed(Fetcher):
    """Allows private addresses for the test server's own address only, so
    a redirect from it to another loopback name must be refused."""

    def allows_private(self, host: str) -> bool:
        return host == "127.0.0.1"


@pytest.mark.parametrize("target", ["localhost", "[::1]", "0.0.0.0"])
def test_redirect_to_loopback_is_refused(guarded, web: WebServer, target: str) -> None:
    port = web.base.rsplit(":", 1)[1]
    web.route("/secret", Route(body=b"internal"))
    start = web.route("/start", Route(302, b"", [("Location", f"http://{target}:{port}/secret")]))
    repository = Repository(guarded)
    capturer = Capturer(repository, FirstHopAllowed(guarded))
    try:
        result = capturer.capture(start)
        assert not result.ok
        assert result.error.startswith(f"refused {target.strip('[]')!r}")
        assert web.hits == ["/start"]
        assert repository.catalog.versions(start) == []
        # the first hop alone is fine with this fetcher
        ok = capturer.capture(web.route("/fine", Route(body=b"fine")))
        assert ok.ok and ok.status == 200
    finally:
        capturer.close()
        repository.close()


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.org/file",
        "file:///etc/passwd",
        "javascript:alert(document.cookie)",
        "data:text/html;base64,PGI+eDwvYj4=",
        "gopher://example.org/",
    ],
)
def test_other_schemes_are_refused(guarded, url: str) -> None:
    done = vestige("capture", url)
    assert done.exit_code == 2
    assert done.output.startswith(f"error: invalid URL {url!r}: ")


@pytest.mark.parametrize(
    ("url", "reason"),
    [("http://[::1/page", "Invalid IPv6 URL"), ("http://example.org:99999/", "Port out of range")],
)
def test_malformed_urls_fail_with_a_clear_error(guarded, url: str, reason: str) -> None:
    # Refused before anything is fetched: a usage error, not a failed capture.
    done = vestige("capture", url, "http://127.0.0.1:1/also-refused")
    assert done.exit_code == 2
    assert done.output.startswith(f"error: invalid URL {url!r}: ")
    assert reason in done.output
    assert "Traceback" not in done.output


@pytest.mark.parametrize(
    "name", ["../x", "..", "a/../../x", "/tmp/x", "a/b", ".hidden", "", "x" * 101, "名字", "a\x00b"]
)
def test_collection_names_cannot_escape_home(home, web: WebServer, tmp_path, name: str) -> None:
    url = web.route("/page", Route(body=b"page"))
    done = vestige("capture", "--collection", name, url)
    assert done.exit_code == 2
    assert "invalid collection name" in done.stderr
    assert web.hits == []
    repository = Repository(home)
    try:
        with pytest.raises(InvalidCollection):
            Capturer(repository).capture(url, collection=name)
    finally:
        repository.close()
    assert web.hits == []
    assert [p.name for p in tmp_path.iterdir()] == ["home"]
    assert not home.warc_dir.exists() or list(home.warc_dir.iterdir()) == []
