"""Provenance through the service: relations (add, list, confirm, reject, remove),
stories, watches, the changes list and its Atom feed, side-by-side diffs, and the
background scheduler (which never captures a page twice, even run by two services)."""

from __future__ import annotations

import time
from collections.abc import Callable
from xml.etree import ElementTree as ET

import pytest
from fastapi.testclient import TestClient
from servicetools import auth, new_token, preserve, service

from api.watching import run_due
from archive.config import Settings
from conftest import Route, WebServer
from ingest.suggest import suggest

HTML = [("Content-Type", "text/html; charset=utf-8")]
ATOM = "{http://www.w3.org/2005/Atom}"


def page(title: str, paragraphs: list[str], *, published: str, links: list[str] = ()) -> Route:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    body += "".join(f'<p><a href="{href}">{href}</a></p>' for href in links)
    return Route(
        body=(
            f'<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f'<meta property="article:published_time" content="{published}"></head>'
            f"<body><article><h1>{title}</h1>{body}</article></body></html>"
        ).encode(),
        headers=HTML,
    )


REPORT = [
    "The commission published its findings on detention camps in the western region today.",
    "Investigators interviewed forty-two former detainees over eighteen months of work.",
    "The report documents forced labour, surveillance and separation of families.",
]


@pytest.fixture
def quiet(home: Settings) -> Settings:
    """Settings for a service without the background scheduler and with no politeness delay."""
    return home.model_copy(update={"scheduler": False, "crawl_delay": 0.0})


def documents_by_url(client: TestClient, job: dict) -> dict[str, str]:
    return {item["url"]: item["document_id"] for item in job["urls"]}


def story_site(web: WebServer) -> dict[str, str]:
    primary = web.route("/reports/findings.html", page("Findings", REPORT, published="2024-03-01"))
    urls = {
        "primary": primary,
        "coverage": web.route(
            "/news/coverage.html",
            page(
                "Commission report on camps",
                ["A commission report released on Friday describes detention camps.", *REPORT[1:]],
                published="2024-03-02",
                links=[primary],
            ),
        ),
        "correction": web.route(
            "/news/correction.html",
            page(
                "Correction to our camp report",
                [
                    "Correction: an earlier version of this article misstated the number of "
                    "detainees interviewed by the commission.",
                    "The commission interviewed forty-two people, not twenty-four.",
                ],
                published="2024-03-05",
            ),
        ),
    }
    return urls


def test_relations_through_the_api(quiet: Settings, web: WebServer) -> None:
    urls = story_site(web)
    with service(quiet) as client:
        token = new_token(client, "researcher")
        ids = documents_by_url(client, preserve(client, token, list(urls.values())))
        primary, coverage = ids[urls["primary"]], ids[urls["coverage"]]

        # Writing needs a token; reading does not (public read).
        relation = {"source": coverage, "type": "covers", "target": primary, "note": "same figures"}
        assert client.post("/api/v1/relations", json=relation).status_code == 401
        made = client.post("/api/v1/relations", json=relation, headers=auth(token))
        assert made.status_code == 201, made.text
        made = made.json()
        assert made["status"] == "confirmed" and made["made_by"] == "researcher"
        assert made["made_at"].endswith("Z") and made["note"] == "same figures"
        assert client.get(f"/api/v1/relations/{made['id']}").json()["type"] == "covers"

        listed = client.get(f"/api/v1/documents/{primary}/relations").json()
        [seen] = listed["relations"]
        assert [seen["type"], seen["direction"], seen["status"]] == [
            "covers",
            "incoming",
            "confirmed",
        ]
        assert seen["other"]["id"] == coverage and seen["other"]["language"] == "en"
        [seen] = client.get(f"/api/v1/documents/{coverage}/relations").json()["relations"]
        assert seen["direction"] == "outgoing" and seen["other"]["id"] == primary

        # URLs name documents too; bad relations are refused with a clear message.
        by_url = {"source": urls["correction"], "type": "corrects", "target": urls["coverage"]}
        assert client.post("/api/v1/relations", json=by_url, headers=auth(token)).status_code == 201
        for bad, status, message in (
            ({**relation, "type": "likes"}, 422, "type"),
            ({**relation, "target": "0123456789abcdef"}, 404, "no document"),
            ({**relation, "target": coverage}, 422, "itself"),
        ):
            refused = client.post("/api/v1/relations", json=bad, headers=auth(token))
            assert refused.status_code == status and message in refused.text, refused.text

        # Removing keeps the row as rejected; removing it again is a 404.
        removed = client.delete(f"/api/v1/relations/{made['id']}", headers=auth(token))
        assert removed.json()["status"] == "rejected"
        assert removed.json()["reviewed_by"] == "researcher"
        assert client.get(f"/api/v1/documents/{primary}/relations").json()["relations"] == []
        again = client.delete(f"/api/v1/relations/{made['id']}", headers=auth(token))
        assert again.status_code == 404

        # Suggestions: the coverage links to the primary source (cites), the
        # correction notice suggests corrects. Confirm one, reject the other.
        suggest(client.app.state.repository)
        pending = [
            r
            for r in client.get(f"/api/v1/documents/{coverage}/relations").json()["relations"]
            if r["status"] == "suggested"
        ]
        cites = next(r for r in pending if r["type"] == "cites")
        assert cites["other"]["id"] == primary and cites["evidence"]["link"] == urls["primary"]
        assert cites["made_by"].startswith("suggest")
        confirmed = client.post(f"/api/v1/relations/{cites['id']}/confirm", headers=auth(token))
        assert confirmed.json()["status"] == "confirmed"
        assert confirmed.json()["evidence"]["link"] == urls["primary"]  # the evidence stays
        assert client.post(f"/api/v1/relations/{cites['id']}/confirm").status_code == 401
        unknown = client.post("/api/v1/relations/999999/reject", headers=auth(token))
        assert unknown.status_code == 404
        assert client.get("/api/v1/relations/99999999999").status_code == 422
        rejected = client.post(f"/api/v1/relations/{cites['id']}/reject", headers=auth(token))
        assert rejected.json()["status"] == "rejected"
        suggest(client.app.state.repository)  # a rejected suggestion does not come back
        statuses = {
            (r["type"], r["status"])
            for r in client.get(f"/api/v1/documents/{coverage}/relations").json()["relations"]
        }
        assert ("cites", "suggested") not in statuses
        assert ("corrects", "confirmed") in statuses


def test_story_json_and_page(quiet: Settings, web: WebServer) -> None:
    urls = story_site(web)
    with service(quiet) as client:
        token = new_token(client)
        ids = documents_by_url(client, preserve(client, token, list(urls.values())))
        for source, type_, target in (
            ("coverage", "covers", "primary"),
            ("correction", "corrects", "coverage"),
        ):
            relation = {"source": ids[urls[source]], "type": type_, "target": ids[urls[target]]}
            assert client.post("/api/v1/relations", json=relation, headers=auth(token)).is_success

        story = client.get(f"/api/v1/documents/{ids[urls['correction']]}/story").json()
        assert story["start"] == ids[urls["correction"]]
        timeline = [(e["role"], e["document"]["url"], e["date"]) for e in story["entries"]]
        assert timeline == [
            ("primary", urls["primary"], "2024-03-01"),
            ("coverage", urls["coverage"], "2024-03-02"),
            ("correction", urls["correction"], "2024-03-05"),
        ]
        assert all(e["document"]["language"] == "en" for e in story["entries"])
        assert {r["type"] for r in story["relations"]} == {"covers", "corrects"}
        assert client.get("/api/v1/documents/0123456789abcdef/story").status_code == 404

        html = client.get(f"/documents/{ids[urls['primary']]}/story").text
        assert html.index("Findings") < html.index("Commission report on camps")
        assert html.index("Commission report on camps") < html.index("Correction to our camp")
        assert 'data-role="correction"' in html and "2024-03-05" in html


def test_relation_forms_need_a_session_and_its_csrf(quiet: Settings, web: WebServer) -> None:
    urls = story_site(web)
    with service(quiet) as client:
        token = new_token(client)
        ids = documents_by_url(client, preserve(client, token, list(urls.values())))
        primary, coverage = ids[urls["primary"]], ids[urls["coverage"]]
        form = {"type": "covers", "other": primary, "direction": "outgoing", "csrf": "x"}
        assert client.post(f"/documents/{coverage}/relations", data=form).status_code == 401
        assert "Log in</a> to add" in client.get(f"/documents/{coverage}").text

        login = client.get("/login")
        csrf = login.text.split('name="csrf" value="')[1].split('"')[0]
        client.post("/login", data={"token": token, "csrf": csrf, "next": "/"})
        page_html = client.get(f"/documents/{coverage}").text
        session_csrf = page_html.split('name="csrf" value="')[1].split('"')[0]
        assert client.post(f"/documents/{coverage}/relations", data=form).status_code == 403

        added = client.post(
            f"/documents/{coverage}/relations",
            data={**form, "csrf": session_csrf, "note": "from the form"},
            follow_redirects=False,
        )
        assert added.status_code == 303
        assert added.headers["location"] == f"/documents/{coverage}#relations"
        [relation] = client.get(f"/api/v1/documents/{coverage}/relations").json()["relations"]
        assert relation["made_by"] == "tester" and relation["note"] == "from the form"
        html = client.get(f"/documents/{primary}").text
        assert f'data-relation="{relation["id"]}"' in html
        assert "<strong>covers</strong> this" in html

        # The other way round, by URL: the primary is the object again.
        incoming = {**form, "csrf": session_csrf, "type": "cites", "other": urls["coverage"]}
        client.post(f"/documents/{primary}/relations", data={**incoming, "direction": "incoming"})
        relations = client.get(f"/api/v1/documents/{coverage}/relations").json()["relations"]
        assert {(r["type"], r["direction"]) for r in relations} == {
            ("covers", "outgoing"),
            ("cites", "outgoing"),
        }
        bad = client.post(f"/documents/{primary}/relations", data={**incoming, "other": "nothing"})
        # The same status as the API's (one mapping of domain errors): nothing is there.
        assert bad.status_code == 404 and "no document" in bad.text

        removed = client.post(
            f"/relations/{relation['id']}/remove",
            data={"csrf": session_csrf, "document": primary},
            follow_redirects=False,
        )
        assert removed.status_code == 303
        assert client.get(f"/api/v1/relations/{relation['id']}").json()["status"] == "rejected"
        again = client.post(
            f"/relations/{relation['id']}/remove", data={"csrf": session_csrf, "document": primary}
        )
        assert again.status_code == 404
        huge = {"csrf": session_csrf, "document": primary}
        assert client.post("/relations/99999999999/confirm", data=huge).status_code == 422


def watched_site(web: WebServer) -> tuple[str, Callable[[Route], None]]:
    """A page whose answer the test changes between captures."""
    current = {"route": page("Statement", REPORT, published="2024-05-01")}
    url = web.route("/statement.html", lambda _: current["route"])

    def change(route: Route) -> None:
        current["route"] = route

    return url, change


def test_watches_changes_feed_and_diff(quiet: Settings, web: WebServer) -> None:
    url, change = watched_site(web)
    with service(quiet) as client:
        token = new_token(client)
        refused = client.post(
            "/api/v1/watches", json={"url": url, "every": "often"}, headers=auth(token)
        )
        assert refused.status_code == 422 and "interval" in refused.text
        assert client.post("/api/v1/watches", json={"url": url}).status_code == 401
        made = client.post("/api/v1/watches", json={"url": url, "every": "1d"}, headers=auth(token))
        assert made.status_code == 201, made.text
        watch = made.json()
        assert watch["every"] == 86400 and watch["last_run"] is None
        assert client.get("/api/v1/watches").json()[0]["url"] == url

        repository = client.app.state.repository
        run_due(repository, delay=0)  # first capture
        edited = [REPORT[0], REPORT[1].replace("forty-two", "forty-three"), REPORT[2]]
        change(page("Statement", edited, published="2024-05-01"))
        run_due(repository, every=True, delay=0)
        change(Route(404, b"gone", [("Content-Type", "text/plain")]))
        run_due(repository, every=True, delay=0)

        changes = client.get("/api/v1/changes").json()
        assert [c["kind"] for c in changes] == ["removed", "changed"]
        assert changes[0]["reason"] == "HTTP 404"
        changed = changes[1]
        assert changed["diff"] == (
            f"/documents/{changed['document_id']}?against={changed['previous_id']}#diff"
        )
        every_kind = client.get("/api/v1/changes", params={"all": 1}).json()
        assert [c["kind"] for c in every_kind] == ["removed", "changed", "first"]
        assert client.get("/api/v1/changes", params={"url": "http://"}).status_code == 422

        # The Atom feed of the same changes.
        feed = client.get("/api/v1/changes.atom")
        assert feed.headers["content-type"].startswith("application/atom+xml")
        entries = ET.fromstring(feed.content).findall(f"{ATOM}entry")
        assert [e.find(f"{ATOM}category").get("term") for e in entries] == ["removed", "changed"]
        assert entries[1].find(f"{ATOM}link").get("href") == url

        # The diff, as JSON and side by side on the document page.
        diff = client.get(f"/api/v1/documents/{changed['document_id']}/diff").json()
        assert diff["old"]["id"] == changed["previous_id"] and diff["by"] == "word"
        edits = [op for op in diff["ops"] if op["kind"] != "equal"]
        assert edits == [{"kind": "replace", "old": "two", "new": "three"}]
        html = client.get(f"/documents/{changed['document_id']}").text
        assert "<del>two</del>" in html and "<ins>three</ins>" in html
        first = client.get(f"/documents/{changed['previous_id']}").text
        assert 'id="diff"' not in first  # the first version has nothing to compare with
        no_earlier = client.get(f"/api/v1/documents/{changed['previous_id']}/diff")
        assert no_earlier.status_code == 404

        html = client.get("/changes").text
        assert 'data-kind="removed"' in html and "side-by-side diff" in html
        assert "<del>two</del>" in html  # the change's fragments
        assert url in client.get("/watches").text

        assert client.delete(f"/api/v1/watches/{watch['id']}").status_code == 401
        gone = client.delete(f"/api/v1/watches/{watch['id']}", headers=auth(token))
        assert gone.status_code == 200 and gone.json()["url"] == url
        assert client.get("/api/v1/watches").json() == []
        assert client.get(f"/api/v1/watches/{watch['id']}").status_code == 404
        assert len(client.get("/api/v1/changes").json()) == 2  # the changes stay


def wait_until(check: Callable[[], bool], what: str, seconds: float = 120) -> None:
    """Poll until ``check()`` holds (a generous bound so a hang fails, not a timing test)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_two_services_scheduling_one_watch_capture_it_once(home: Settings, web: WebServer) -> None:
    url, _ = watched_site(web)
    settings = home.model_copy(update={"scheduler_interval": 0.2, "crawl_delay": 0.0})
    with service(settings) as first, service(settings) as second:
        token = new_token(first)
        made = first.post("/api/v1/watches", json={"url": url, "every": "1h"}, headers=auth(token))
        assert made.status_code == 201

        def captured() -> bool:
            return bool(first.get("/api/v1/changes", params={"all": 1}).json())

        wait_until(captured, "the scheduler's first capture of the watched page")
        wait_until(
            lambda: not first.app.state.scheduler.busy and not second.app.state.scheduler.busy,
            "the scheduler runs to finish",
        )
        # Both schedulers looked many times; the watch was captured once, an hour apart.
        assert [c["kind"] for c in first.get("/api/v1/changes?all=1").json()] == ["first"]
        assert web.hits.count("/statement.html") == 1
        [watch] = second.get("/api/v1/watches").json()
        assert watch["last_kind"] == "first"
        assert watch["next_due"] > watch["last_run"]
        document = watch["last_document_id"]
        assert second.get(f"/api/v1/documents/{document}").json()["url"] == url
