# ruff: noqa: RUF001 (Chinese punctuation in Chinese text)
"""A page's title edited between two captures is reported wherever changes are:
``vestige versions``, ``watch run``, ``changes`` (lines, JSON, Atom), ``diff``, the
JSON API (versions, changes, diffs) and the changes and document pages.

Three corpus pages on a loopback site, watched and captured twice: an English article
whose ``<title>`` alone is edited (its headline comes from ``og:title`` and stays),
a Chinese article whose title and one sentence are edited, and an article whose
markup changes (a new payload) with the same title and text.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from sqlalchemy import update

from api.schema import TABLES
from archive.config import Settings
from archive.repository import Repository
from conftest import Route, WebServer, vestige
from ingest.models import Document

sys.path.insert(0, str(Path(__file__).parents[1] / "api"))

from servicetools import service

HTML = [("Content-Type", "text/html; charset=utf-8")]
ATOM = "{http://www.w3.org/2005/Atom}"

EN_TITLE = "After storm, forecasters see smooth sailing for Thanksgiving - CNN.com"
EN_RETITLED = "Storm over: clear skies for Thanksgiving travel - CNN.com"
ZH_SENTENCE = "新华社北京11月17日电"
ZH_EDITED = "新华社北京11月16日电"
ZH_SUFFIX = "（更新）"


def lines(*args: str) -> list[dict]:
    return [json.loads(line) for line in vestige(*args).splitlines() if line.strip()]


def serve(web: WebServer, path: str, page: str) -> str:
    return web.route(path, Route(body=page.encode(), headers=HTML))


@pytest.fixture
def site(home: Settings, web: WebServer, corpus: Path) -> dict[str, tuple[str, str, str]]:
    """Per page: its URL, the page of the first capture and the page of the second."""
    en = (corpus / "en/newspaper4k/html/cnn_article.html").read_text(encoding="utf-8")
    zh = (corpus / "zh/newspaper4k/html/chinese_article_002.html").read_text(encoding="utf-8")
    zh_title = zh.split("<title>", 1)[1].split("</title>", 1)[0]
    same = (corpus / "en/newspaper4k/html/time_001.html").read_text(encoding="utf-8")
    assert f"<title>{EN_TITLE}</title>" in en and ZH_SENTENCE in zh
    pages = {
        "en": (en, en.replace(f"<title>{EN_TITLE}</title>", f"<title>{EN_RETITLED}</title>")),
        "zh": (
            zh,
            zh.replace(ZH_SENTENCE, ZH_EDITED, 1).replace(
                f"<title>{zh_title}</title>", f"<title>{zh_title.strip()}{ZH_SUFFIX}</title>"
            ),
        ),
        "same": (same, same.replace("</body>", "<!-- served by another node --></body>", 1)),
    }
    return {
        key: (serve(web, f"/{key}.html", first), first, second)
        for key, (first, second) in pages.items()
    }


def capture_twice(web: WebServer, site: dict[str, tuple[str, str, str]]) -> str:
    """Watch the pages, capture them, edit them, capture them again; the second run's lines."""
    for url, _, _ in site.values():
        vestige("watch", "add", url, "--every", "1d")
    first = vestige("watch", "run", "--now", "--delay", "0")
    assert first.count(" first ") == 3, first
    for key, (_, _, second) in site.items():
        serve(web, f"/{key}.html", second)
    return vestige("watch", "run", "--now", "--delay", "0")


def test_title_changes_are_reported(home: Settings, web: WebServer, site: dict) -> None:
    run = capture_twice(web, site)
    en, zh, same = (site[key][0] for key in ("en", "zh", "same"))
    ran = {url: next(line for line in run.splitlines() if f"  {url}" in line)
           for url in (en, zh, same)}  # fmt: skip
    assert f'title "{EN_TITLE}" -> "{EN_RETITLED}"' in ran[en]
    assert " changed " in ran[en] and "(title changed)" in ran[en]
    assert "similarity" not in ran[en]  # the text is the same: no text edit to measure
    assert " unchanged " in ran[same] and "title" not in ran[same]

    # vestige versions: the change of each version, and the titles before and after.
    [_, en_second] = lines("versions", "--json", en)
    assert en_second["changes"] == ["title changed"]
    assert en_second["title_change"] == [EN_TITLE, EN_RETITLED]
    # The headline is og:title, which the edit left as it was.
    assert en_second["title"] == "After storm, forecasters see smooth sailing for Thanksgiving"
    [_, zh_second] = lines("versions", "--json", zh)
    assert zh_second["changes"] == ["text changed", "title changed"]
    assert 0.9 < zh_second["similarity"] < 1.0
    before, after = zh_second["title_change"]
    assert after == before + ZH_SUFFIX
    [_, same_second] = lines("versions", "--json", same)
    assert same_second["changes"] == ["unchanged"] and same_second["title_change"] is None
    assert f"<title>:    {EN_RETITLED}" in vestige("show", en)
    printed = vestige("versions", en).splitlines()[-1]
    assert f'title changed; title "{EN_TITLE}" -> "{EN_RETITLED}"' in printed

    # vestige changes: lines, JSON and the Atom feed.
    changes = {change["url"]: change for change in lines("changes", "--json")}
    assert set(changes) == {en, zh}  # the unchanged page is not a notable change
    assert changes[en]["kind"] == "changed" and changes[en]["reason"] == "title changed"
    assert changes[en]["title_change"] == [EN_TITLE, EN_RETITLED]
    assert changes[en]["similarity"] is None and "diff" not in changes[en]["evidence"]
    assert changes[zh]["kind"] == "changed" and changes[zh]["title_change"] == [before, after]
    assert any(f["new"] == "6" for f in changes[zh]["evidence"]["diff_by_char"]["fragments"])
    listed = vestige("changes")
    assert f'title "{before}" -> "{after}"' in listed
    feed = ET.fromstring(vestige("changes", "--atom").split("\n", 1)[-1])
    summaries = {entry.find(f"{ATOM}link").get("href"): entry.find(f"{ATOM}summary").text
                 for entry in feed.findall(f"{ATOM}entry")}  # fmt: skip
    assert f'title "{EN_TITLE}" -> "{EN_RETITLED}"' in summaries[en]
    assert f'title "{before}" -> "{after}"' in summaries[zh]

    # vestige diff: the title first, then the text.
    shown = vestige("diff", changes[en]["previous_id"], changes[en]["document_id"])
    assert shown.startswith(f'title "{EN_TITLE}" -> "{EN_RETITLED}"\n')
    assert "{+" not in shown and "[-" not in shown
    shown = vestige("diff", changes[zh]["previous_id"], changes[zh]["document_id"], "--by", "char")
    assert shown.startswith(f'title "{before}" -> "{after}"\n') and "[-7-]{+6+}" in shown
    unchanged = lines("changes", "--json", "--all", "--url", same)[0]
    assert "title" not in vestige("diff", unchanged["previous_id"], unchanged["document_id"])

    # A version ingested before documents kept <title> (migration 0006) has none: its
    # headline is compared, so an upgrade reports no title change that did not happen.
    repository = Repository(home, TABLES)
    try:
        with repository.catalog.session() as session:
            session.execute(
                update(Document)
                .where(Document.id.in_([changes[en]["previous_id"], changes[zh]["previous_id"]]))
                .values(page_title=None)
            )
    finally:
        repository.close()
    assert lines("versions", "--json", en)[1]["changes"] == ["unchanged"]
    assert lines("versions", "--json", zh)[1]["changes"] == ["text changed", "title changed"]


def test_title_changes_through_the_service(home: Settings, web: WebServer, site: dict) -> None:
    capture_twice(web, site)
    en, zh, same = (site[key][0] for key in ("en", "zh", "same"))
    settings = home.model_copy(update={"scheduler": False})
    with service(settings) as client:
        changes = {c["url"]: c for c in client.get("/api/v1/changes").json()}
        assert changes[en]["title_change"] == [EN_TITLE, EN_RETITLED]
        assert changes[en]["reason"] == "title changed"
        assert changes[zh]["title_change"][1].endswith(ZH_SUFFIX)
        document = changes[en]["document_id"]
        versions = client.get(f"/api/v1/documents/{document}/versions").json()["versions"]
        assert [v["title_change"] for v in versions] == [None, [EN_TITLE, EN_RETITLED]]
        shown = client.get(f"/api/v1/documents/{document}").json()
        assert shown["page_title"] == EN_RETITLED
        diff = client.get(f"/api/v1/documents/{document}/diff").json()
        assert diff["title_change"] == [EN_TITLE, EN_RETITLED]
        assert {op["kind"] for op in diff["ops"]} == {"equal"}
        same_id = json.loads(vestige("show", "--json", same))["id"]
        assert client.get(f"/api/v1/documents/{same_id}/diff").json()["title_change"] is None

        # The pages for people: the changes list and the document's versions and diff.
        page = client.get("/changes").text
        assert f"<del>{EN_TITLE}</del> <ins>{EN_RETITLED}</ins>" in page
        page = client.get(f"/documents/{document}").text
        assert f"<del>{EN_TITLE}</del> → <ins>{EN_RETITLED}</ins>" in page
        assert "The text is the same as in the previous version." in page
        feed = ET.fromstring(client.get("/api/v1/changes.atom").content)
        summaries = [entry.find(f"{ATOM}summary").text for entry in feed.iter(f"{ATOM}entry")]
        assert any(f'title "{EN_TITLE}" -> "{EN_RETITLED}"' in text for text in summaries)
