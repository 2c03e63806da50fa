"""Captures against a real HTTP server: redirects, encodings, sizes, timing,
WARC headers, deduplication and non-ASCII URLs. Every WARC passes ``warcio check``."""

from __future__ import annotations

import gzip
import os
import re
import zlib
from urllib.parse import quote

import brotli
import pytest
from test_capture_basic import (
    configure,
    of_type,
    sha1,
    stored_records,
    vestige,
    warc_files,
    warcio_check,
)
from warcio.archiveiterator import ArchiveIterator

from conftest import Route, WebServer

HTML = [("Content-Type", "text/html")]


def redirect(status: int, location: str) -> Route:
    return Route(status, b"", [("Location", location)])


# -- redirects ----------------------------------------------------------------


def test_redirect_chain_records_every_hop(home, web: WebServer) -> None:
    start = web.route("/old", redirect(301, "/moved"))
    moved = web.route("/moved", redirect(302, web.url("/final")))  # absolute Location
    final = web.route("/final", Route(200, b"<p>final</p>", HTML))

    done = vestige("capture", start)
    assert done.exit_code == 0, done.output
    assert done.output.split()[:2] == ["200", final]
    records = stored_records(home)
    responses = of_type(records, "response")
    assert [(r["WARC-Target-URI"], r.http.get_statuscode()) for r in responses] == [
        (start, "301"),
        (moved, "302"),
        (final, "200"),
    ]
    requests = of_type(records, "request")
    assert [r["WARC-Target-URI"] for r in requests] == [start, moved, final]
    for request, response in zip(requests, responses, strict=True):
        assert request["WARC-Concurrent-To"] == response["WARC-Record-ID"]
    assert web.hits == ["/old", "/moved", "/final"]
    assert "200" in vestige("captures", final).output
    assert "301" in vestige("captures", start).output
    (metadata,) = of_type(records, "metadata")
    assert f"requested-url: {start}" in metadata.payload.decode()
    assert f"via: {start}\r\nvia: {moved}\r\n" in metadata.payload.decode()


def test_the_result_names_the_final_response_and_revisit_by_catalog_id(
    home, web: WebServer
) -> None:
    from archive.capture import Capturer
    from archive.catalog import Record
    from archive.repository import Repository

    final = web.route("/landing", Route(200, b"<p>landing</p>", HTML))
    start = web.route("/go", redirect(302, "/landing"))
    loop = web.route("/round", redirect(302, "/round"))
    repository = Repository(home)
    capturer = Capturer(repository)
    try:
        first, again = capturer.capture(start), capturer.capture(start)
        failed = capturer.capture(loop)
        with repository.catalog.session() as session:
            answered = [session.get(Record, r.response_id) for r in (first, again)]
    finally:
        capturer.close()
        repository.close()
    assert [(row.url, row.record_type) for row in answered] == [
        (final, "response"),
        (final, "revisit"),
    ]
    assert all(r.response_id in r.record_ids for r in (first, again))
    assert not failed.ok and failed.response_id is None


def test_redirect_loop_is_a_clear_error_and_stores_nothing(home, web: WebServer) -> None:
    loop = web.route("/loop", redirect(302, "/loop"))
    done = vestige("capture", loop)
    assert done.exit_code == 1
    assert f"too many redirects (more than 10) from {loop}" in done.output
    assert len(web.hits) == 11
    assert stored_records(home) == []
    assert vestige("captures", loop).exit_code == 1


def test_redirect_limit_is_configurable(home, web: WebServer, monkeypatch) -> None:
    configure(monkeypatch, max_redirects=2)
    web.route("/a", redirect(302, "/b"))
    web.route("/b", redirect(302, "/c"))
    web.route("/c", redirect(302, "/d"))
    web.route("/d", Route(200, b"end"))
    assert vestige("capture", web.url("/b")).exit_code == 0  # two redirects: fine
    done = vestige("capture", web.url("/a"))
    assert done.exit_code == 1 and "too many redirects (more than 2)" in done.output


@pytest.mark.parametrize("location", ["javascript:alert(1)", "ftp://example.org/f", "file:///x"])
def test_redirect_to_another_scheme_is_refused(home, web: WebServer, location: str) -> None:
    url = web.route("/jump", redirect(302, location))
    done = vestige("capture", url)
    assert done.exit_code == 1 and "only http and https URLs can be captured" in done.output
    assert stored_records(home) == []


def test_redirect_to_an_invalid_url_is_a_clear_error(home, web: WebServer) -> None:
    url = web.route("/bad", redirect(302, "http://[::1/"))
    done = vestige("capture", url)
    assert done.exit_code == 1 and "invalid URL" in done.output
    assert stored_records(home) == []


# -- bodies are stored exactly as sent ------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [("gzip", gzip.compress), ("deflate", zlib.compress)],
)
def test_content_encoded_body_is_kept_compressed(home, web: WebServer, encoding, encode) -> None:
    page = "<p>压缩的页面 compressed page</p>".encode() * 50
    sent = encode(page)
    url = web.route(
        f"/{encoding}",
        Route(body=sent, headers=[*HTML, ("Content-Encoding", encoding), ("Vary", "Accept")]),
    )
    done = vestige("capture", url)
    assert done.exit_code == 0, done.output
    assert done.output.split()[3] == sha1(sent)
    (response,) = of_type(stored_records(home), "response")
    assert response.payload == sent
    assert response["WARC-Payload-Digest"] == sha1(sent)
    assert response.http.get_header("Content-Encoding") == encoding
    # a WARC reader decodes it back to the page
    with open(response.file, "rb") as fh:
        record = next(r for r in ArchiveIterator(fh) if r.rec_type == "response")
        assert record.content_stream().read() == page


def test_unrequested_brotli_body_is_kept_as_sent(home, web: WebServer) -> None:
    # Captures do not ask for br (warcio cannot decode it with the brotli
    # package, warcio issue #73), but a server may send it anyway.
    sent = brotli.compress("<p>布罗特利</p>".encode() * 20)
    url = web.route("/br", Route(body=sent, headers=[*HTML, ("Content-Encoding", "br")]))
    assert vestige("capture", url).exit_code == 0
    assert vestige("verify").exit_code == 0  # digests checked without decoding
    records = stored_records(home, check=False)
    (response,) = of_type(records, "response")
    assert response.payload == sent and response["WARC-Payload-Digest"] == sha1(sent)
    (request,) = of_type(records, "request")
    assert request.http.get_header("Accept-Encoding") == "gzip, deflate"


def test_chunked_body_is_stored_whole(home, web: WebServer) -> None:
    parts = [b"first part, ", b"second part, ", "第三部分".encode()]
    url = web.route("/chunked", Route(body=parts, headers=HTML, chunked=True))
    done = vestige("capture", url)
    assert done.exit_code == 0, done.output
    (response,) = of_type(stored_records(home), "response")
    assert response.http.get_header("Transfer-Encoding") == "chunked"
    assert response.payload == b"".join(parts)
    assert response["WARC-Payload-Digest"] == sha1(b"".join(parts))


PAGES = {
    "gbk": "<html><head><title>人权报告</title></head><body>证词与判决</body></html>",
    "big5": "<html><head><title>人權報告</title></head><body>證詞與判決</body></html>",
}


@pytest.mark.parametrize("codec", ["gbk", "big5"])
@pytest.mark.parametrize("declared", [True, False], ids=["charset", "no-charset"])
def test_chinese_legacy_encodings_are_stored_byte_for_byte(
    home, web: WebServer, codec: str, declared: bool
) -> None:
    sent = PAGES[codec].encode(codec)
    content_type = f"text/html; charset={codec}" if declared else "text/html"
    url = web.route(f"/{codec}", Route(body=sent, headers=[("Content-Type", content_type)]))
    done = vestige("capture", url)
    assert done.exit_code == 0, done.output
    (response,) = of_type(stored_records(home), "response")
    assert response.payload == sent
    assert response.http.get_header("Content-Type") == content_type
    assert response["WARC-Payload-Digest"] == sha1(sent)


PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452") + bytes(range(256)) * 8
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nstream\n" + os.urandom(3000) + b"\n%%EOF\n"


@pytest.mark.parametrize(
    ("name", "mime", "body"), [("x.png", "image/png", PNG), ("x.pdf", "application/pdf", PDF)]
)
def test_binary_files(home, web: WebServer, name: str, mime: str, body: bytes) -> None:
    url = web.route(f"/{name}", Route(body=body, headers=[("Content-Type", mime)]))
    assert vestige("capture", url).exit_code == 0
    (response,) = of_type(stored_records(home), "response")
    assert response.payload == body
    listing = vestige("captures", "--format", "json", url).output
    assert f'"mime": "{mime}"' in listing


# -- time and size limits ---------------------------------------------------------


def test_slow_response_within_the_timeout_is_captured(home, web: WebServer, monkeypatch) -> None:
    configure(monkeypatch, fetch_timeout=2)
    url = web.route("/slow", Route(body=[b"a" * 10, b"b" * 10, b"c" * 10], delay=0.2))
    done = vestige("capture", url)
    assert done.exit_code == 0, done.output
    (response,) = of_type(stored_records(home), "response")
    assert response.payload == b"a" * 10 + b"b" * 10 + b"c" * 10


def test_response_slower_than_the_timeout_fails(home, web: WebServer, monkeypatch) -> None:
    configure(monkeypatch, fetch_timeout=0.3)
    url = web.route("/slower", Route(body=[b"late"], delay=1.5))
    done = vestige("capture", url)
    assert done.exit_code == 1
    assert f"timed out reading {url}" in done.output
    assert stored_records(home) == []


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_oversized_body_is_refused(home, web: WebServer, monkeypatch, chunked: bool) -> None:
    configure(monkeypatch, max_body_size=1000)
    url = web.route("/big", Route(body=[b"x" * 600] * 5, chunked=chunked))
    done = vestige("capture", url)
    assert done.exit_code == 1
    size = "more" if chunked else "3,000 bytes"
    assert f"{url} is too large ({size}; the limit is 1,000 bytes" in done.output
    assert "--truncate" in done.output
    assert stored_records(home) == []


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_truncate_keeps_the_first_part(home, web: WebServer, monkeypatch, chunked: bool) -> None:
    configure(monkeypatch, max_body_size=1000)
    body = os.urandom(3000)
    url = web.route("/big", Route(body=[body[:600], body[600:]], chunked=chunked))
    done = vestige("capture", "--truncate", url)
    assert done.exit_code == 0, done.output
    assert done.output.split()[3] == sha1(body[:1000]) and "(truncated)" in done.output
    records = stored_records(home)
    (response,) = of_type(records, "response")
    assert response["WARC-Truncated"] == "length"
    assert response.payload == body[:1000]
    assert "truncated: length" in of_type(records, "metadata")[0].payload.decode()


def test_body_at_the_limit_is_whole(home, web: WebServer, monkeypatch) -> None:
    configure(monkeypatch, max_body_size=1000)
    url = web.route("/exact", Route(body=b"y" * 1000))
    assert vestige("capture", url).exit_code == 0
    (response,) = of_type(stored_records(home), "response")
    assert "WARC-Truncated" not in response.headers and len(response.payload) == 1000


# -- WARC headers and the metadata record ----------------------------------------------


def test_warc_headers_and_metadata(home, web: WebServer, monkeypatch) -> None:
    configure(monkeypatch, user_agent="TestArchiver/1.0 (+mailto:desk@example.org)")
    url = web.route("/page", Route(body=b"<p>statement</p>", headers=HTML))
    done = vestige("capture", "--collection", "statements", "--note", "press  release\n1", url)
    assert done.exit_code == 0, done.output
    assert done.output.split()[2].startswith("statements/")
    warcinfo, response, request, metadata = stored_records(home, "statements")
    assert warcinfo.type == "warcinfo" and "isPartOf: statements" in warcinfo.payload.decode()
    assert response["WARC-IP-Address"] == "127.0.0.1"
    assert response["WARC-Block-Digest"].startswith("sha1:")
    assert response["WARC-Payload-Digest"] == sha1(b"<p>statement</p>")
    assert response["Content-Type"] == "application/http; msgtype=response"
    assert request["WARC-Concurrent-To"] == response["WARC-Record-ID"]
    assert request.http.protocol == "GET" and request.http.statusline == "/page HTTP/1.1"
    assert request.http.get_header("User-Agent") == "TestArchiver/1.0 (+mailto:desk@example.org)"
    assert metadata["WARC-Concurrent-To"] == response["WARC-Record-ID"]
    assert metadata["Content-Type"] == "application/warc-fields"
    fields = dict(line.split(": ", 1) for line in metadata.payload.decode().splitlines())
    assert fields == {
        "collection": "statements",
        "note": "press release 1",  # one line, whitespace collapsed
        "trigger": "cli",
        "user-agent": "TestArchiver/1.0 (+mailto:desk@example.org)",
        "requested-url": url,
    }


# -- deduplication ----------------------------------------------------------------------


def test_revisit_points_at_the_original(home, web: WebServer) -> None:
    url = web.route("/same", Route(body=b"unchanged", headers=HTML))
    assert vestige("capture", url).exit_code == 0
    assert "(revisit)" in vestige("capture", url).output
    records = stored_records(home)
    (original,) = of_type(records, "response")
    (revisit,) = of_type(records, "revisit")
    assert revisit["WARC-Refers-To"] == original["WARC-Record-ID"]
    assert revisit["WARC-Refers-To-Target-URI"] == url
    assert revisit["WARC-Refers-To-Date"] == original["WARC-Date"]
    assert revisit["WARC-Profile"] == (
        "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"
    )
    assert revisit["WARC-Payload-Digest"] == original["WARC-Payload-Digest"]
    assert revisit.http.get_statuscode() == "200" and revisit.payload == b""
    lines = vestige("captures", url).output.strip().splitlines()
    assert len(lines) == 2 and "(revisit)" in lines[1]
    cdxj = vestige("captures", "--format", "cdxj", url).output.strip().splitlines()
    assert '"mime": "warc/revisit"' in cdxj[1]


def test_dedup_only_for_the_same_url(home, web: WebServer) -> None:
    one = web.route("/one", Route(body=b"same body"))
    two = web.route("/two", Route(body=b"same body"))
    done = vestige("capture", one, two)
    assert done.exit_code == 0 and "(revisit)" not in done.output
    assert len(of_type(stored_records(home), "response")) == 2


def test_changed_page_is_a_new_response(home, web: WebServer) -> None:
    bodies = iter([b"version 1", b"version 2", b"version 1"])
    url = web.route("/changing", lambda handler: Route(body=next(bodies)))
    for _ in range(3):
        assert vestige("capture", url).exit_code == 0
    records = stored_records(home)
    assert len(of_type(records, "response")) == 2
    (revisit,) = of_type(records, "revisit")
    assert revisit["WARC-Refers-To"] == of_type(records, "response")[0]["WARC-Record-ID"]
    assert len(vestige("captures", url).output.strip().splitlines()) == 3


# -- several URLs -------------------------------------------------------------------------


def test_one_failure_does_not_lose_the_others(home, web: WebServer, monkeypatch) -> None:
    configure(monkeypatch, max_body_size=100)
    first = web.route("/first", Route(body=b"first"))
    big = web.route("/big", Route(body=b"z" * 500))
    last = web.route("/last", Route(body=b"last"))
    closed = "http://127.0.0.1:9/x"  # the discard port: connection refused
    done = vestige("capture", first, big, closed, last)
    assert done.exit_code == 1
    lines = done.output.strip().splitlines()
    assert lines[0].startswith(f"200  {first}")
    assert lines[1].startswith(f"FAILED  {big}") and "too large" in lines[1]
    assert lines[2].startswith(f"FAILED  {closed}")
    assert lines[3].startswith(f"200  {last}")
    responses = of_type(stored_records(home), "response")
    assert [r["WARC-Target-URI"] for r in responses] == [first, last]


def test_unreachable_host_is_a_clear_error(home, web: WebServer) -> None:
    closed = web.url("/x")
    web.close()
    done = vestige("capture", closed)
    assert done.exit_code == 1 and "cannot connect to 127.0.0.1" in done.output
    assert stored_records(home) == []


# -- non-ASCII URLs -----------------------------------------------------------------------


def test_chinese_path_and_query(home, web: WebServer) -> None:
    path, query = "/新闻/人权报告", "标题=证词&页=2"
    encoded = quote(path) + "?" + quote(query, safe="=&")
    url = web.route(encoded, Route(body="<p>证词</p>".encode(), headers=HTML))
    iri = web.url(f"{path}?{query}")
    assert url != iri and url.isascii()

    done = vestige("capture", iri)
    assert done.exit_code == 0, done.output
    assert done.output.split()[1] == url
    assert web.hits == [encoded]
    (response,) = of_type(stored_records(home), "response")
    assert response["WARC-Target-URI"] == url
    for spelling in (iri, url, url.replace("%E6", "%e6")):
        listing = vestige("captures", spelling)
        assert listing.exit_code == 0, spelling
        assert len(listing.output.strip().splitlines()) == 1
    cdxj = vestige("captures", "--format", "cdxj", iri).output
    assert cdxj.startswith("1,0,0,127:") and f'"url": "{url}"' in cdxj


def test_redirect_to_a_chinese_location(home, web: WebServer) -> None:
    target = "/文章"
    # raw UTF-8 bytes in the Location header (http.server writes headers as latin-1)
    web.route("/short", redirect(302, target.encode().decode("latin-1")))
    final = web.route(quote(target), Route(body=b"article"))
    done = vestige("capture", web.url("/short"))
    assert done.exit_code == 0, done.output
    assert done.output.split()[1] == final


# -- rolling ----------------------------------------------------------------------------


def test_files_roll_at_the_size_limit(home, web: WebServer, monkeypatch) -> None:
    configure(monkeypatch, warc_max_size=4000)
    urls = [web.route(f"/p{i}", Route(body=os.urandom(1500))) for i in range(6)]
    done = vestige("capture", *urls)
    assert done.exit_code == 0, done.output
    files = warc_files(home)
    assert len(files) >= 3
    assert all(p.name.endswith(".warc.gz") for p in files)  # closed: no ".open" left
    warcio_check(files)
    for path in files:
        with open(path, "rb") as fh:
            first = next(iter(ArchiveIterator(fh)))
            assert first.rec_type == "warcinfo"
            assert first.rec_headers.get_header("WARC-Filename") == path.name
    # every capture's records stay together in one file
    printed = {line.split()[2].split(":")[0] for line in done.output.splitlines()}
    assert len(printed) >= 3
    records = stored_records(home)
    assert len(of_type(records, "response")) == 6
    verified = vestige("verify")
    assert verified.exit_code == 0, verified.output


def test_warc_dates_are_utc_with_microseconds(home, web: WebServer) -> None:
    url = web.route("/when", Route(body=b"now"))
    vestige("capture", url)
    (response,) = of_type(stored_records(home), "response")
    # e.g. 2024-05-01T12:00:00.123456Z
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", response["WARC-Date"])
