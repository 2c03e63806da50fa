"""Replay and Memento (RFC 7089): mementos, TimeMaps, TimeGates, and the archived-copy page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from email.utils import parsedate_to_datetime
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from servicetools import gzipped, service, store_response

from archive.config import Settings

URL = "https://example.org/news/report?id=7"
TIMES = [datetime(2021, 3, 1, 12), datetime(2022, 6, 15, 8, 30), datetime(2024, 1, 2, 3, 4, 5)]
LINK = re.compile(r'<([^>]*)>((?:;\s*[a-z]+="[^"]*")*)')


def parse_link_format(text: str) -> list[tuple[str, dict[str, str]]]:
    """Links and their parameters, as a Memento client reads a TimeMap or Link header."""
    return [
        (uri, dict(re.findall(r';\s*([a-z]+)="([^"]*)"', params)))
        for uri, params in LINK.findall(text)
    ]


@pytest.fixture
def client(home: Settings) -> Iterator[TestClient]:
    with service(home) as client:
        repository = client.app.state.repository
        for number, moment in enumerate(TIMES):
            store_response(
                repository,
                URL,
                moment,
                f"<p>version {number}</p>".encode(),
                [("Content-Type", "text/html"), ("Set-Cookie", f"v={number}")],
            )
        yield client


def memento_body(client: TestClient, path: str) -> bytes:
    response = client.get(path)
    assert response.status_code == 200, response.text
    return response.content


def test_timemap_lists_every_capture(client: TestClient) -> None:
    response = client.get(f"/timemap/link/{URL}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/link-format")
    links = parse_link_format(response.text)
    rels = {params["rel"]: uri for uri, params in links}
    assert rels["original"] == URL
    assert rels["timegate"].endswith(f"/timegate/{URL}")
    assert rels["self"].endswith(f"/timemap/link/{URL}")
    mementos = [(uri, params) for uri, params in links if "memento" in params["rel"].split()]
    assert [parsedate_to_datetime(p["datetime"]).replace(tzinfo=None) for _, p in mementos] == (
        TIMES
    )
    assert mementos[0][1]["rel"] == "first memento" and mementos[-1][1]["rel"] == "last memento"
    for number, (uri, _) in enumerate(mementos):
        path = uri.split("://", 1)[1].split("/", 1)[1]
        assert memento_body(client, "/" + path) == f"<p>version {number}</p>".encode()


@pytest.mark.parametrize(
    ("accept_datetime", "expected"),
    [
        ("Thu, 01 Jan 1998 00:00:00 GMT", 0),
        ("Mon, 01 Mar 2021 12:00:00 GMT", 0),
        ("Sun, 01 May 2022 00:00:00 GMT", 1),
        ("Sat, 01 Jun 2024 00:00:00 GMT", 2),
        ("Tue, 02 Jan 2024 05:04:05 +0200", 2),  # 03:04:05 UTC exactly
        (None, 2),  # no Accept-Datetime: the newest
    ],
)
def test_timegate_redirects_to_closest(client: TestClient, accept_datetime, expected) -> None:
    headers = {"Accept-Datetime": accept_datetime} if accept_datetime else {}
    response = client.get(f"/timegate/{URL}", headers=headers, follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["vary"].lower() == "accept-datetime"
    stamp = TIMES[expected].strftime("%Y%m%d%H%M%S")
    assert response.headers["location"].endswith(f"/web/{stamp}/{URL}")
    rels = {params["rel"] for _, params in parse_link_format(response.headers["link"])}
    assert {"original", "timemap"} <= rels
    memento = client.get(response.headers["location"])
    assert memento.content == f"<p>version {expected}</p>".encode()
    assert (
        parsedate_to_datetime(memento.headers["memento-datetime"]).replace(tzinfo=None)
        == (TIMES[expected])
    )
    assert {"original", "timegate", "timemap"} <= {
        params["rel"] for _, params in parse_link_format(memento.headers["link"])
    }


def test_timegate_rejects_bad_accept_datetime(client: TestClient) -> None:
    response = client.get(f"/timegate/{URL}", headers={"Accept-Datetime": "last tuesday"})
    assert response.status_code == 400
    assert "Accept-Datetime" in response.json()["error"]["message"]


def test_inexact_timestamp_redirects_to_the_closest_capture(client: TestClient) -> None:
    response = client.get(f"/web/20220101000000/{URL}", follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["location"] == f"/web/20220615083000/{URL}"
    raw = client.get(f"/web/2024id_/{URL}", follow_redirects=False)
    assert raw.headers["location"] == f"/web/20240102030405id_/{URL}"
    exact = client.get(f"/web/20240102030405id_/{URL}")
    assert exact.content == b"<p>version 2</p>" and "set-cookie" not in exact.headers
    assert exact.headers["content-security-policy"].startswith("sandbox")


def test_spellings_of_a_url_find_the_same_captures(client: TestClient) -> None:
    for spelling in (
        "https://EXAMPLE.org:443/news/report?id=7",
        "https:/example.org/news/report?id=7",  # '//' collapsed by a client
    ):
        assert client.get(f"/web/20210301120000/{spelling}").content == b"<p>version 0</p>"


def test_a_fully_percent_encoded_url_finds_the_captures(client: TestClient) -> None:
    """``quote(url, safe="")``, as link builders write it: scheme, slashes and query encoded."""
    whole = quote(URL, safe="")
    for encoded in (whole, whole.replace("%3A", "%3a").replace("%2F", "%2f")):
        timemap = client.get(f"/timemap/link/{encoded}")
        assert timemap.status_code == 200, (encoded, timemap.text)
        assert len([p for _, p in parse_link_format(timemap.text) if "memento" in p["rel"]]) == 3
        assert client.get(f"/timegate/{encoded}", follow_redirects=False).status_code == 302
        assert client.get(f"/web/20210301120000/{encoded}").content == b"<p>version 0</p>"


def test_non_ascii_urls(client: TestClient) -> None:
    url = "https://例子.测试/新闻/报道?标题=人权"
    store_response(
        client.app.state.repository,
        url,
        TIMES[0],
        "<p>中文</p>".encode(),
        [("Content-Type", "text/html; charset=utf-8")],
    )
    # As an IRI (the client percent-encodes it) and fully percent-encoded, host included.
    assert client.get(f"/web/20210301120000/{url}").content.decode() == "<p>中文</p>"
    encoded = quote(url, safe=":/?=")
    assert client.get(f"/web/20210301120000/{encoded}").content.decode() == "<p>中文</p>"
    versions = client.get("/api/v1/urls/versions", params={"url": url}).json()
    assert versions["url"].startswith("https://xn--fsqu00a.xn--0zwm56d/")
    assert client.get(f"/timemap/link/{encoded}").status_code == 200


def test_unknown_urls_and_bad_timestamps(client: TestClient) -> None:
    for path in (
        "/web/20240101000000/https://example.org/never",
        "/timemap/link/https://example.org/never",
        "/timegate/https://example.org/never",
        f"/web/notatime/{URL}",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["status"] == 404
    page = client.get("/archive/20240101000000/https://example.org/never")  # for people: HTML
    assert page.status_code == 404 and "is not in the archive" in page.text
    assert client.get(f"/web/20241399000000/{URL}").status_code == 400


def test_chunked_and_compressed_bodies_are_served_correctly(client: TestClient) -> None:
    page = "<p>compressed 压缩</p>".encode() * 50
    packed = gzipped(page)
    chunked = (
        b"".join(
            f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in (packed[:100], packed[100:])
        )
        + b"0\r\n\r\n"
    )
    url = "http://example.net/chunked"
    store_response(
        client.app.state.repository,
        url,
        TIMES[1],
        chunked,
        [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Encoding", "gzip"),
            ("Transfer-Encoding", "chunked"),
        ],
    )
    path = f"/web/20220615083000id_/{url}"
    # A client that takes gzip gets the stored bytes, de-chunked, with their encoding.
    raw = client.get(path, headers={"Accept-Encoding": "gzip"})
    assert raw.headers["content-encoding"] == "gzip"
    assert raw.content == page  # httpx decodes gzip, as a browser would
    with client.stream("GET", path, headers={"Accept-Encoding": "gzip"}) as streamed:
        assert b"".join(streamed.iter_raw()) == packed
    # One that does not gets the decoded body, without the header.
    plain = client.get(path, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.content == page


def test_archived_copy_page_frames_the_sandboxed_replay(client: TestClient) -> None:
    response = client.get(f"/archive/20220615083000/{URL}")
    assert response.status_code == 200
    html = response.text
    assert "This is an archived copy" in html
    assert "2022-06-15 08:30:00 UTC" in html
    assert f'href="{URL}"' in html
    frame = re.search(r"<iframe[^>]*>", html).group(0)
    assert re.search(r"\ssandbox[\s>]", frame) and "allow-same-origin" not in frame
    assert f'src="/web/20220615083000id_/{URL}"' in frame
    assert "version 1" not in html  # the archived body is never inlined
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    moved = client.get(f"/archive/2022/{URL}", follow_redirects=False)
    assert moved.status_code == 302 and moved.headers["location"].startswith("/archive/2022")


def test_head_requests(client: TestClient) -> None:
    response = client.head(f"/web/20210301120000/{URL}")
    assert response.status_code == 200 and response.content == b""
    assert response.headers["memento-datetime"] == "Mon, 01 Mar 2021 12:00:00 GMT"


def test_each_capture_is_found_by_its_own_timestamp(client: TestClient) -> None:
    # The early capture is 0.1 s nearer to 00:00:10 than the late one, made at 00:00:10.9.
    url = "http://example.net/close"
    repository = client.app.state.repository
    store_response(repository, url, datetime(2020, 1, 1, 0, 0, 9, 900_000), b"early")
    store_response(repository, url, datetime(2020, 1, 1, 0, 0, 10, 900_000), b"late")
    assert memento_body(client, f"/web/20200101000010/{url}") == b"late"
    assert memento_body(client, f"/web/20200101000009/{url}") == b"early"
