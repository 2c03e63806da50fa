"""Search, documents, sessions and pages over HTTP (in-process ASGI)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from servicetools import new_token, preserve, serve_articles, service, wait_for_job

from api.pages import highlight
from api.pipeline import after_relate
from api.tokens import revoke_token
from archive.config import Settings
from conftest import WebServer
from ingest.relations import relate


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, str, dict]]:
    """One service holding the English and Chinese articles, captured through the API."""
    home = tmp_path_factory.mktemp("search")
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("VESTIGE_HOME", str(home / "home"))
    monkeypatch.setenv("VESTIGE_CAPTURE_ALLOW_PRIVATE", "1")
    monkeypatch.delenv("VESTIGE_SEARCH_URL", raising=False)
    monkeypatch.delenv("VESTIGE_DATABASE_URL", raising=False)
    web = WebServer()
    try:
        urls = serve_articles(web)
        with service(Settings()) as client:
            token = new_token(client)
            english = preserve(client, token, [urls["/en/tribunal.html"]])
            chinese = preserve(
                client,
                token,
                [urls["/zh/report.html"], urls["/zh-hant/report.html"]],
                collection="reports",
            )
            yield client, token, {"en": english, "zh": chinese, "urls": urls}
    finally:
        web.close()
        monkeypatch.undo()


def test_capture_job_says_when_the_document_is_searchable(archive) -> None:
    client, _, jobs = archive
    (item,) = jobs["en"]["urls"]
    assert item["state"] == "done" and item["searchable"] is True
    assert item["document"] == f"/api/v1/documents/{item['document_id']}"
    found = client.get("/api/v1/search", params={"q": "tribunal"}).json()
    assert [hit["id"] for hit in found["hits"]] == [item["document_id"]]


def test_search_english_with_highlights_and_facets(archive) -> None:
    client, _, _ = archive
    response = client.get("/api/v1/search", params={"q": "harvest prisoners"})
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 1
    (hit,) = body["hits"]
    assert hit["title"] == "China Tribunal final judgment" and hit["language"] == "en"
    assert "<mark>harvesting</mark>" in hit["snippet"]
    assert "<mark>prisoners</mark>" in hit["snippet"]
    assert hit["archived"].startswith("/archive/") and hit["archived"].endswith("/en/tribunal.html")
    assert body["facets"]["language"] == [{"value": "en", "count": 1}]
    assert body["facets"]["year"] == [{"value": "2019", "count": 1}]
    assert client.get(hit["document"]).status_code == 200


def test_search_chinese_matches_both_scripts(archive) -> None:
    client, _, _ = archive
    body = client.get("/api/v1/search", params={"q": "器官", "cross": "false"}).json()
    assert body["total"] == 2
    assert {hit["script"] for hit in body["hits"]} == {"Hans", "Hant"}
    assert all("<mark>器官</mark>" in hit["snippet"] for hit in body["hits"])
    traditional = client.get("/api/v1/search", params={"q": "法輪功", "cross": "false"}).json()
    assert traditional["total"] == 2  # Traditional query finds the Simplified article too
    # Cross-language by default: 器官 is searched as "organ" too, in the English article.
    across = client.get("/api/v1/search", params={"q": "器官"}).json()
    assert {hit["language"] for hit in across["hits"]} == {"en", "zh"}
    assert {f["value"] for f in body["facets"]["collection"]} == {"reports"}


def test_search_parameters_like_the_cli(archive) -> None:
    client, _, _ = archive
    search = client.get
    assert search("/api/v1/search", params={"lang": "zh"}).json()["total"] == 2
    assert search("/api/v1/search", params={"collection": "default"}).json()["total"] == 1
    assert search("/api/v1/search", params={"after": "2020", "before": "2021"}).json()["total"] == 1
    assert (
        search("/api/v1/search", params={"q": "器官 lang:en", "cross": "false"}).json()["total"]
        == 0
    )
    assert search("/api/v1/search", params={"q": "器官 lang:en"}).json()["total"] == 1
    assert search("/api/v1/search", params={"site": "127.0.0.1"}).json()["total"] == 3
    assert search("/api/v1/search", params={"site": "localhost"}).status_code == 400
    by_date = search("/api/v1/search", params={"sort": "date", "limit": 2}).json()
    assert [hit["published"] for hit in by_date["hits"]] == ["2021-03-02", "2020-01-05"]
    assert by_date["total"] == 3 and by_date["limit"] == 2
    second = search("/api/v1/search", params={"sort": "date", "limit": 2, "page": 2}).json()
    assert second["offset"] == 2 and [hit["published"] for hit in second["hits"]] == ["2019-06-17"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"q": '"unbalanced'}, "unbalanced quote"),
        ({"q": "nosuchfield:x"}, "unknown field"),
        ({"q": "a OR"}, "OR at the end"),
        ({"after": "yesterday"}, "is not a date"),
        ({"lang": "english language"}, "not a valid filter value"),
    ],
)
def test_bad_query_is_400_with_a_message(archive, params: dict, message: str) -> None:
    client, _, _ = archive
    response = client.get("/api/v1/search", params=params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["status"] == 400 and error["message"].startswith("bad query: ")
    assert message in error["message"]


def test_invalid_search_parameters_are_422(archive) -> None:
    client, _, _ = archive
    assert client.get("/api/v1/search", params={"limit": 0}).status_code == 422
    assert client.get("/api/v1/search", params={"sort": "random"}).status_code == 422
    assert client.get("/api/v1/search", params={"offset": -1}).status_code == 422


def test_document_text_and_versions(archive) -> None:
    client, _, jobs = archive
    document_id = jobs["zh"]["urls"][1]["document_id"]
    document = client.get(f"/api/v1/documents/{document_id}").json()
    assert document["title"] == "人權報告 器官摘取"
    assert document["language"] == "zh" and document["script"] == "Hant"
    assert document["published"] == "2020-01-05" and document["collection"] == "reports"
    assert document["warc_file"].startswith("reports/") and document["payload_digest"]
    assert "text" not in document or document["text"].endswith("/text")
    text = client.get(document["text"])
    assert text.status_code == 200
    assert text.headers["content-type"] == "text/plain; charset=utf-8"
    assert "強制血液檢測" in text.text
    versions = client.get(document["versions"]).json()
    assert versions["url"] == document["url"]
    (version,) = versions["versions"]
    assert version["changes"] == ["first capture"] and version["document_id"] == document_id
    archived = client.get(document["archived"])
    assert archived.status_code == 200 and 'sandbox src="/web/' in archived.text


def test_unknown_documents_are_404(archive) -> None:
    client, _, _ = archive
    for path in ("/api/v1/documents/0123456789abcdef", "/api/v1/documents/0123456789abcdef/text"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.json()["error"]["message"] == "no document '0123456789abcdef'"
    assert client.get("/api/v1/documents/not-an-id").status_code == 422
    page = client.get("/documents/0123456789abcdef")
    assert page.status_code == 404 and "no document" in page.text


def test_status_reports_search_engine_and_ingest(archive) -> None:
    client, _, _ = archive
    status = client.get("/api/v1/status").json()
    assert status["search"]["available"] is True
    assert status["search"]["engine"] == "embedded (tantivy)"
    assert "rjieba" in status["search"]["chinese_analyzer"]
    assert status["search"]["behind"] == 0 and status["search"]["documents"] == 3
    assert status["ingest"]["documents"] == 3 and status["ingest"]["pending"] == 0
    assert status["last_runs"]["index_commit"] and status["jobs"]["done"] == 2
    page = client.get("/status")
    assert page.status_code == 200 and "rjieba" in page.text and "embedded (tantivy)" in page.text


def test_search_page_facets_paging_and_escaping(archive) -> None:
    client, _, _ = archive
    page = client.get("/", params={"q": "evidence"})
    assert page.status_code == 200
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    # The article's escaped "<b>given</b>" stays text: only the engine's marks are markup.
    assert "<b>given</b>" not in page.text
    assert "<mark>evidence</mark>" in page.text
    assert 'href="/?q=evidence&amp;lang=en"' in page.text
    chinese = client.get("/", params={"q": "器官", "lang": "zh", "after": "2021", "before": "2022"})
    assert "法轮功学员遭强制摘取器官的报告" in chinese.text
    assert "人權報告" not in chinese.text
    bad = client.get("/", params={"q": '"open'})
    assert bad.status_code == 400 and "unbalanced quote" in bad.text


def test_highlight_escapes_everything_but_marks() -> None:
    hostile = "<mark>a</mark><script>x()</script>&lt;img src=x onerror=y&gt;<mark><b>z</b></mark>"
    safe = str(highlight(hostile))
    assert safe.count("<mark>") == 2
    assert "<script>" not in safe and "<img" not in safe and "<b>" not in safe
    assert "&lt;script&gt;" in safe and "&lt;img src=x onerror=y&gt;" in safe


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_browser_login_csrf_and_preserve(home: Settings, web: WebServer) -> None:
    urls = serve_articles(web)
    with service(home) as client:
        token = new_token(client)
        assert client.get("/preserve", follow_redirects=False).headers["location"] == (
            "/login?next=%2Fpreserve"
        )
        form = client.get("/login", params={"next": "/preserve"})
        cookie = form.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        wrong = client.post("/login", data={"token": "vst_wrong", "csrf": _csrf(form.text)})
        assert wrong.status_code == 403 and "invalid or revoked token" in wrong.text
        form = client.get("/login")
        forged = client.post("/login", data={"token": token, "csrf": "guess"})
        assert forged.status_code == 403 and "session" not in client.cookies
        form = client.get("/login")
        logged_in = client.post(
            "/login",
            data={"token": token, "csrf": _csrf(form.text), "next": "//evil.example/"},
            follow_redirects=False,
        )
        assert logged_in.status_code == 303 and logged_in.headers["location"] == "/"
        session_cookie = logged_in.headers["set-cookie"]
        assert session_cookie.startswith("vestige_session=") and "HttpOnly" in session_cookie
        assert token not in session_cookie

        page = client.get("/preserve")
        csrf = _csrf(page.text)
        no_csrf = client.post("/preserve", data={"urls": urls["/en/tribunal.html"], "csrf": "x"})
        assert no_csrf.status_code == 403
        # The JSON API takes the session too, but a write needs the CSRF header.
        no_header = client.post("/api/v1/captures", json={"urls": urls["/en/tribunal.html"]})
        assert no_header.status_code == 403 and "CSRF" in no_header.json()["error"]["message"]
        queued = client.post(
            "/preserve",
            data={"urls": urls["/en/tribunal.html"], "csrf": csrf, "note": "from a source"},
            follow_redirects=False,
        )
        assert queued.status_code == 303
        job_id = queued.headers["location"].removeprefix("/jobs/")
        assert client.get(f"/jobs/{job_id}").status_code == 200
        job = wait_for_job(client, job_id)
        assert job["submitted_by"] == "tester" and job["urls"][0]["searchable"] is True

        uploaded = client.post(
            "/upload",
            data={"csrf": csrf, "url": "https://example.org/statement", "date": "2024-05-06"},
            files={"file": ("statement.txt", "Statement on detention 声明".encode(), "text/plain")},
        )
        assert uploaded.status_code == 200, uploaded.text
        document_id = re.search(r'href="/documents/([0-9a-f]{16})"', uploaded.text).group(1)
        found = client.get("/api/v1/search", params={"q": "声明 detention"}).json()
        assert [hit["id"] for hit in found["hits"]] == [document_id]

        with_header = client.post(
            "/api/v1/captures",
            json={"urls": urls["/zh/report.html"]},
            headers={"X-CSRF-Token": csrf},
        )
        assert with_header.status_code == 202
        client.post("/logout", data={"csrf": csrf})
        assert client.get("/preserve", follow_redirects=False).status_code == 303

        # Revoking the token ends its sessions.
        form = client.get("/login")
        client.post("/login", data={"token": token, "csrf": _csrf(form.text)})
        assert client.get("/preserve").status_code == 200
        revoke_token(client.app.state.repository.catalog, "tester")
        assert client.get("/preserve", follow_redirects=False).status_code == 303


def test_relation_markers_collapsed_copies_and_export(home: Settings, web: WebServer) -> None:
    urls = serve_articles(web)
    with service(home) as client:
        token = new_token(client)
        preserve(client, token, list(urls.values()))
        repository = client.app.state.repository
        # The Simplified report covers the tribunal's judgment; the Traditional one is a copy.
        relate(repository.catalog, urls["/zh/report.html"], "covers", urls["/en/tribunal.html"])
        relate(repository.catalog, urls["/zh-hant/report.html"], "same-story",
               urls["/zh/report.html"])  # fmt: skip
        after_relate(repository)

        covered = client.get("/api/v1/search", params={"has": "coverage"}).json()
        (primary,) = covered["hits"]
        assert primary["url"] == urls["/en/tribunal.html"] and primary["role"] == "primary"
        assert primary["has"] == ["coverage"]
        assert primary["related"] == [{"kind": "coverage", "count": 1, "suggested": 0}]

        same = {"q": "器官", "cross": "false"}  # the copies, not the English coverage
        story = client.get("/api/v1/search", params=same).json()
        assert (story["total"], story["documents"]) == (1, 2)
        (hit,) = story["hits"]
        assert hit["copies"] == 1 and hit["has"] == ["copies"]
        (copy,) = hit["copy_documents"]
        assert {hit["url"], copy["url"]} == {urls["/zh/report.html"], urls["/zh-hant/report.html"]}
        assert copy["captured"].endswith("Z") and copy["id"] != hit["id"]
        apart = client.get("/api/v1/search", params={**same, "collapse": "false"}).json()
        assert apart["total"] == 2 and all(h["copies"] == 0 for h in apart["hits"])
        everything = client.get("/api/v1/search").json()
        assert {f["value"]: f["count"] for f in everything["facets"]["role"]} == {
            "primary": 1,
            "coverage": 1,
            "copy": 1,
        }
        copy_role = client.get("/api/v1/search", params={"q": "role:copy"}).json()
        assert [h["url"] for h in copy_role["hits"]] == [urls["/zh-hant/report.html"]]
        bad = client.get("/api/v1/search", params={"has": "praise"})
        assert bad.status_code == 400 and "has:praise is not one of" in bad.text

        # The page shows the markers, the collapsed copies and the export links.
        page = client.get("/", params={"q": "tribunal"})
        assert 'data-has="coverage"' in page.text and "covered by 1" in page.text
        assert 'class="role"' in page.text and ">primary</a>" in page.text
        story = re.search(r'class="marker" data-has="coverage" href="([^"]+)"', page.text)
        assert story is not None and client.get(story.group(1)).status_code == 200
        chinese = client.get("/", params={"q": "器官", "has": "copies"})
        assert '<details class="copies">' in chinese.text
        assert "<summary>1 more copy</summary>" in chinese.text
        assert "has: copies" in chinese.text  # the filter's chip
        export = re.search(r'href="(/api/v1/export\?[^"]+format=jsonl)"', chinese.text)
        assert export is not None
        href = export.group(1).replace("&amp;", "&")
        assert href == "/api/v1/export?q=%E5%99%A8%E5%AE%98+has%3Acopies&format=jsonl"
        exported = client.get(href)
        assert exported.status_code == 200
        rows = [json.loads(line) for line in exported.text.splitlines() if line.strip()]
        assert {row["url"] for row in rows} == {hit["url"], copy["url"]}


def test_preserve_form_names_the_bad_line_and_keeps_what_was_typed(
    home: Settings, web: WebServer
) -> None:
    urls = serve_articles(web)
    with service(home) as client:
        token = new_token(client)
        client.post("/login", data={"token": token, "csrf": _csrf(client.get("/login").text)})
        csrf = _csrf(client.get("/preserve").text)
        typed = f"{urls['/en/tribunal.html']}\nhtp:/x\n{urls['/zh/report.html']}"
        note = 'sent by a source <"quoted">'
        refused = client.post(
            "/preserve",
            data={"urls": typed, "csrf": csrf, "note": note, "collection": "reports"},
        )
        assert refused.status_code == 422
        assert "line 2: invalid URL &#39;htp:/x&#39;: URL has no host" in refused.text
        assert f">{typed}</textarea>" in refused.text  # every line kept
        assert 'name="note" value="sent by a source &lt;&#34;quoted&#34;&gt;"' in refused.text
        assert 'name="collection" value="reports"' in refused.text
