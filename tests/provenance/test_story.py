# ruff: noqa: RUF001 (Chinese punctuation in Chinese text)
"""Provenance over a small real-world-shaped archive.

An article (a seed article), two later reports linking to it through URL
variants, a wire copy of one report, a correction notice, an English/Chinese
pair, Chinese corpus pages (one corrected later, one copied in Traditional
script), and watched pages the test changes between captures: edited,
shrunk to a retraction, deleted (404), redirected to the home page, a soft-404
on a site answering missing pages with 200, and an unreachable one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from opencc import OpenCC
from provenance_sites import Seed, SoftSite, WebhookReceiver, article

from archive.config import get_settings
from conftest import Route, WebServer, invoke, vestige

HTML = [("Content-Type", "text/html; charset=utf-8")]


def show(ref: str) -> dict:
    return json.loads(vestige("show", "--json", ref))


def lines(*args: str) -> list[dict]:
    return [json.loads(line) for line in vestige(*args).splitlines() if line.strip()]


@dataclass
class Archive:
    """The URLs of the scenario, by role."""

    web: WebServer
    soft: SoftSite
    urls: dict[str, str]
    pages: dict[str, bytes]


def serve(web: WebServer, path: str, body: bytes) -> str:
    return web.route(path, Route(body=body, headers=HTML))


def corpus_page(corpus: Path, path: str) -> str:
    return (corpus / path).read_text(encoding="utf-8")


def with_links(page: str, links: list[tuple[str, str]]) -> bytes:
    anchors = "".join(f'<p><a href="{href}">{text}</a></p>' for href, text in links)
    return page.replace("</body>", anchors + "</body>", 1).encode()


ZH_FIRST = "<p>\u3000\u3000新华社北京11月17日电"
ZH_CORRECTED = (
    "<p>更正：本文发布时将日期误写为17日，现已更正。</p>\n<p>\u3000\u3000新华社北京11月16日电"
)


@pytest.fixture
def archive(home, web: WebServer, corpus: Path) -> Iterator[Archive]:
    soft = SoftSite()
    seeds = sorted((corpus / "seeds").glob("*.txt"))
    original, followup = Seed.read(seeds[0]), Seed.read(seeds[1])
    base = web.base
    urls = {
        "home": base + "/",
        "original": base + "/reports/organ-harvesting/",
        "report1": base + "/news/doctor-reveals-details.html",
        "report2": base + "/news/storm-travel.html",
        "wire": base + "/wire/doctor-reveals-details.html",
        "correction": base + "/news/correction-organ-harvesting.html",
        "zh_translation": base + "/zh/reports/organ-harvesting/",
        "zh_article": base + "/zh/news/drugs.html",
        "tw_copy": base + "/tw/news/drugs.html",
        "retracted": base + "/news/storm-leak.html",
        "deleted": base + "/news/deleted-story.html",
        "moved": base + "/news/moved-story.html",
        "soft": soft.url("/b/removed-quietly.html"),
        "soft_edited": soft.url("/b/edited.html"),
    }
    pages: dict[str, bytes] = {}
    pages["home"] = article(
        "The Daily Record",
        ["Latest news from the Daily Record."],
        links=[(urls[k], k) for k in ("original", "report1", "report2", "deleted")],
    )
    pages["original"] = article(
        original.title,
        original.paragraphs,
        published=original.published,
        head=f'<link rel="alternate" hreflang="zh" href="{urls["zh_translation"]}">',
    )
    # Later reports link to the article through URL variants: AMP, tracking parameters.
    pages["report1"] = article(
        followup.title,
        followup.paragraphs,
        published="2021-02-10",
        links=[(urls["original"] + "amp/?utm_source=twitter&utm_medium=social", "Earlier report")],
    )
    pages["wire"] = article(
        followup.title + " (wire)",
        ["Distributed by the wire service.", *followup.paragraphs, "Republished with permission."],
        published="2021-02-11",
        links=[(urls["original"] + "amp/?utm_source=twitter&utm_medium=social", "Earlier report")],
    )
    cnn = corpus_page(corpus, "en/newspaper4k/html/cnn_article.html")
    pages["report2"] = with_links(
        cnn.replace(
            "We dodged a bullet,",
            "We dodged a bullet, as the man held at a correctional facility said before "
            "a witness retracted her statement,",
        ),
        # https and www. variants: normalisation ignores the scheme and the www.
        [(urls["original"].replace("http://", "https://www.") + "?amp=1&fbclid=a", "Report")],
    )
    pages["correction"] = article(
        "Correction: organ harvesting report",
        [
            "Correction: An earlier version of this article misstated the year in which "
            "Lu Shuping gave his interview to the rights group. It was 2016.",
            "We regret the error.",
        ],
        published="2021-02-05",
        links=[(urls["original"], original.title)],
    )
    pages["zh_translation"] = article(
        "医生披露强摘器官细节",
        [
            "一名加州居民表示，他在中国的亲属参与了国家支持的强制摘取器官，并曾请他从美国介绍病人。"
            "这一消息来自一份最新的人权报告。",
            "现年70多岁的Lu Shuping于2016年10月向总部位于纽约的非营利组织WOIPFG讲述了这些细节。"
            "该组织出于安全考虑，四年来一直没有公布采访内容。",
            "据他回忆，2002年他回中国时，对方问他能否介绍需要器官移植的病人。外交部发表声明称此事不实。",
        ],
        published="2021-02-03",
        lang="zh",
        links=[(urls["original"], "阅读英文版")],
    )
    zh = corpus_page(corpus, "zh/newspaper4k/html/chinese_article_002.html")
    pages["zh_article"] = zh.encode()
    pages["zh_article_v2"] = zh.replace(ZH_FIRST, ZH_CORRECTED, 1).encode()
    pages["tw_copy"] = OpenCC("s2t").convert(zh).encode()
    storm = corpus_page(corpus, "en/newspaper4k/html/time_001.html")
    pages["retracted"] = storm.encode()
    pages["retracted_v2"] = article(
        "Retracted",
        [
            "This article has been retracted. It relied on a document whose authenticity "
            "we could not confirm. We apologise to our readers."
        ],
    )
    pages["deleted"] = article(
        "Detainees moved overnight",
        ["Dozens of detainees were moved overnight to a facility outside the city, "
         "relatives said on Tuesday, in what they described as a punishment."] * 3,
    )  # fmt: skip
    pages["moved"] = article(
        "Petition delivered",
        ["Families delivered a petition with 4,000 signatures to the provincial office."] * 3,
    )
    pages["soft"] = article(
        "Lawyer disbarred",
        ["A human rights lawyer said on Friday that his licence had been revoked "
         "after he represented clients in politically sensitive cases."] * 3,
    )  # fmt: skip
    pages["soft_edited"] = article(
        "Court date set",
        ["The trial of the seven activists will open on March 3, the court said."] * 3,
    )
    for key in ("home", "original", "report1", "report2", "wire", "zh_translation",
                "zh_article", "tw_copy", "retracted", "deleted", "moved"):  # fmt: skip
        serve(web, urls[key][len(base) :], pages[key])
    soft.pages["/b/removed-quietly.html"] = pages["soft"]
    soft.pages["/b/edited.html"] = pages["soft_edited"]
    yield Archive(web, soft, urls, pages)
    soft.close()


def change_the_pages(archive: Archive) -> None:
    """What happens on the web between the first and the second capture."""
    web, urls, pages = archive.web, archive.urls, archive.pages
    base = web.base
    edited = pages["report2"].replace(b"We dodged a bullet", b"We barely dodged a bullet")
    serve(web, urls["report2"][len(base) :], edited)
    serve(web, urls["retracted"][len(base) :], pages["retracted_v2"])
    serve(web, urls["zh_article"][len(base) :], pages["zh_article_v2"])
    web.route(urls["deleted"][len(base) :], Route(404, b"<html><body>Not found</body></html>"))
    web.route(urls["moved"][len(base) :], Route(301, b"", [("Location", urls["home"])]))
    serve(web, urls["correction"][len(base) :], archive.pages["correction"])
    del archive.soft.pages["/b/removed-quietly.html"]  # now the site's "not found" page
    archive.soft.pages["/b/edited.html"] = pages["soft_edited"].replace(b"March 3", b"April 14")


WATCHED = ("original", "report2", "retracted", "zh_article", "deleted", "moved", "soft",
           "soft_edited")  # fmt: skip
CAPTURED = ("home", "report1", "wire", "zh_translation", "tw_copy")


def unreachable_url() -> str:
    gone = WebServer()
    url = gone.url("/nobody-home.html")
    gone.close()
    return url


def precision_recall(found: set, expected: set) -> tuple[float, float]:
    hits = len(found & expected)
    return (hits / len(found) if found else 1.0, hits / len(expected) if expected else 1.0)


def test_provenance_of_a_small_archive(archive: Archive, monkeypatch: pytest.MonkeyPatch) -> None:
    urls = archive.urls
    nowhere = unreachable_url()
    for key in WATCHED:
        assert "watching" in vestige("watch", urls[key], "--every", "1d")
    vestige("watch", nowhere, "--every", "1h")
    listed = lines("watch", "list", "--json")
    assert {w["url"] for w in listed} == {urls[k] for k in WATCHED} | {nowhere}
    assert all(w["every"] == 86400 for w in listed if w["url"] != nowhere)

    first = vestige("watch", "run", "--now", "--delay", "0")
    assert first.count("first") == len(WATCHED) and "unreachable" in first
    vestige("capture", *(urls[k] for k in CAPTURED))

    receiver = WebhookReceiver()
    monkeypatch.setenv("VESTIGE_WEBHOOK_URL", receiver.url)
    get_settings.cache_clear()
    try:
        change_the_pages(archive)
        vestige("watch", "run", "--now", "--delay", "0")
        vestige("capture", urls["correction"])
    finally:
        receiver.close()

    # -- what the watches found ---------------------------------------------
    changes = {c["url"]: c for c in lines("changes", "--json")}
    assert changes[urls["deleted"]]["kind"] == "removed"
    assert changes[urls["deleted"]]["reason"] == "HTTP 404"
    assert changes[urls["moved"]]["kind"] == "removed"
    assert changes[urls["moved"]]["reason"] == "redirected to the home page"
    assert changes[urls["soft"]]["kind"] == "removed"
    assert changes[urls["soft"]]["reason"].startswith("soft-404")
    soft_evidence = changes[urls["soft"]]["evidence"]
    assert soft_evidence["probe_similarity"] >= 0.8
    assert soft_evidence["probe_url"].endswith("-vestige-missing-page")
    assert changes[nowhere]["kind"] == "unreachable"
    for key in ("report2", "retracted", "zh_article", "soft_edited"):
        assert changes[urls[key]]["kind"] == "changed", key
    # A page changed on a soft-404 site is not mistaken for a missing page.
    assert changes[urls["soft_edited"]]["evidence"]["probe_similarity"] < 0.8
    assert urls["original"] not in changes  # unchanged: not a notable change
    everything = lines("changes", "--json", "--all", "--url", urls["original"])
    assert [c["kind"] for c in everything] == ["unchanged", "first"]
    assert everything[0]["evidence"]["revisit"] is True

    # The diff: English by word, Chinese by word and by character.
    fragments = changes[urls["report2"]]["evidence"]["diff"]["fragments"]
    assert [(f["old"], f["new"].strip()) for f in fragments] == [("", "barely")]
    zh_change = changes[urls["zh_article"]]
    by_char = zh_change["evidence"]["diff_by_char"]["fragments"]
    assert any(f["old"] == "7" and f["new"] == "6" for f in by_char)
    assert any("更正" in f["new"] for f in zh_change["evidence"]["diff"]["fragments"])
    inline = vestige("diff", zh_change["previous_id"], zh_change["document_id"], "--by", "char")
    assert "[-7-]{+6+}" in inline
    words = vestige("diff", changes[urls["report2"]]["previous_id"],
                    changes[urls["report2"]]["document_id"])  # fmt: skip
    assert re.search(r"We\{\+ ?barely ?\+\} ?dodged", words)

    # The change feed: Atom, one entry per notable change, and the webhook.
    feed = ET.fromstring(vestige("changes", "--atom").split("\n", 1)[-1])
    atom = "{http://www.w3.org/2005/Atom}"
    entries = feed.findall(f"{atom}entry")
    assert len(entries) == len(changes) + 1  # the unreachable page twice
    terms = {e.find(f"{atom}link").get("href"): e.find(f"{atom}category").get("term")
             for e in entries}  # fmt: skip
    assert terms[urls["deleted"]] == "removed" and terms[urls["report2"]] == "changed"
    hooked = {(e["change"]["url"], e["event"]) for e in receiver.events}
    assert hooked == {(c["url"], f"page.{c['kind']}") for c in changes.values()}

    # -- suggestions ---------------------------------------------------------
    assert "new suggestions" in vestige("suggest")
    suggested = lines("suggest", "--json")
    ids = {key: show(urls[key])["id"] for key in urls if key not in ("deleted", "moved", "soft")}

    def url_of(document_id: str) -> str:
        return show(document_id)["url"]

    found = {(url_of(s["source"]), s["type"], url_of(s["target"])): s for s in suggested}
    cites = {k for k in found if k[1] == "cites"}
    expected_cites = {
        (urls[k], "cites", urls["original"])
        for k in ("report1", "report2", "wire", "correction", "zh_translation")
    }
    notices = {k for k in found if k[1] in ("corrects", "retracts")}
    expected_notices = {
        (urls["correction"], "corrects", urls["original"]),
        (urls["retracted"], "retracts", urls["retracted"]),
        (urls["zh_article"], "corrects", urls["zh_article"]),
    }
    cite_p, cite_r = precision_recall(cites, expected_cites)
    notice_p, notice_r = precision_recall(notices, expected_notices)
    print(f"\ncites: precision {cite_p:.2f}, recall {cite_r:.2f} "
          f"({len(cites)} suggested, {len(expected_cites)} expected)")  # fmt: skip
    print(f"corrects/retracts: precision {notice_p:.2f}, recall {notice_r:.2f} "
          f"({len(notices)} suggested, {len(expected_notices)} expected)")  # fmt: skip
    # Perfect on this set: every link and notice here is unambiguous.
    assert (cite_p, cite_r, notice_p, notice_r) == (1.0, 1.0, 1.0, 1.0)

    # Evidence an automatic decision stored, so that a scholar can check it.
    via_amp = found[(urls["report1"], "cites", urls["original"])]["evidence"]
    assert "amp/?utm_source=twitter" in via_amp["link"]
    assert via_amp["archived_url"] == urls["original"]
    retraction = found[(urls["retracted"], "retracts", urls["retracted"])]["evidence"]
    assert "has been retracted" in retraction["notice"] and retraction["shrank"] is True
    assert retraction["words_after"] < retraction["words_before"] / 2
    zh_notice = found[(urls["zh_article"], "corrects", urls["zh_article"])]["evidence"]
    assert zh_notice["notice"].startswith("更正")
    assert "link" in found[(urls["correction"], "corrects", urls["original"])]["evidence"]
    translations = {k for k in found if k[1] == "translates"}
    assert translations == {(urls["zh_translation"], "translates", urls["original"])}
    assert found[next(iter(translations))]["evidence"]["how"] == "hreflang"
    copies = {k for k in found if k[1] == "same-story"}
    assert copies == {
        (urls["wire"], "same-story", urls["report1"]),
        (urls["tw_copy"], "same-story", urls["zh_article"]),
    }
    similarity = found[(urls["wire"], "same-story", urls["report1"])]["evidence"]["similarity"]
    assert 0.5 <= similarity < 1.0
    assert all(s["made_by"].startswith("suggest:") for s in suggested)
    assert "0 new suggestions" in vestige("suggest")  # nothing suggested twice

    # -- relations: show --json, relate, unrelate, confirm ---------------------
    relations = show(urls["original"])["relations"]
    incoming = {(r["type"], r["other"]["url"], r["direction"], r["status"]) for r in relations}
    assert ("cites", urls["report1"], "incoming", "suggested") in incoming
    assert ("translates", urls["zh_translation"], "incoming", "suggested") in incoming
    assert all(r["made_at"] and r["made_by"] for r in relations)

    vestige("relate", urls["report1"], "covers", urls["original"], "--note", "follow-up report")
    covers = [r for r in show(urls["report1"])["relations"] if r["type"] == "covers"]
    assert len(covers) == 1
    assert covers[0]["status"] == "confirmed" and covers[0]["direction"] == "outgoing"
    assert covers[0]["note"] == "follow-up report"
    assert not covers[0]["made_by"].startswith("suggest")

    vestige("unrelate", urls["report2"], "cites", urls["original"])
    assert not any(r["type"] == "cites" for r in show(urls["report2"])["relations"])
    vestige("suggest")
    assert not any(r["type"] == "cites" for r in show(urls["report2"])["relations"])

    correction_id = found[(urls["correction"], "corrects", urls["original"])]["id"]
    assert "confirmed" in vestige("suggest", "--confirm", str(correction_id))
    confirmed = [r for r in show(urls["correction"])["relations"] if r["type"] == "corrects"]
    assert confirmed[0]["status"] == "confirmed" and confirmed[0]["reviewed_by"]
    assert confirmed[0]["evidence"]["notice"].startswith("Correction:")

    bad = invoke("relate", urls["report1"], "praises", urls["original"], code=None)
    assert bad.exit_code == 2 and "unknown relation type" in bad.output

    # -- the story -------------------------------------------------------------
    told = json.loads(vestige("story", urls["report2"], "--json"))
    assert told["start"] == ids["report2"]
    story = json.loads(vestige("story", ids["wire"], "--json"))
    roles = [(e["document"]["url"], e["role"]) for e in story["entries"]]
    order = [role for _, role in roles]
    assert roles[0] == (urls["original"], "primary")
    assert order == sorted(order, key=["primary", "coverage", "copy", "update", "correction",
                                       "retraction", "translation"].index)  # fmt: skip
    assert dict(roles)[urls["correction"]] == "correction"
    assert dict(roles)[urls["zh_translation"]] == "translation"
    assert dict(roles)[urls["report1"]] == "coverage" and dict(roles)[urls["wire"]] == "coverage"
    assert {e["document"]["language"] for e in story["entries"]} == {"en", "zh"}
    assert urls["report2"] not in dict(roles)  # its only link was unrelated above
    text = vestige("story", urls["original"])
    assert text.splitlines()[0].startswith("* 2021-02-02  primary")

    # -- search: relation filters, facets, markers, collapsed copies ----------
    def search(*args: str) -> dict:
        return json.loads(vestige("search", *args, "--json", "--limit", "50"))

    def found_urls(*args: str) -> set[str]:
        return {hit["url"] for hit in search(*args)["hits"]}

    # A later version retracts the first one: the first is retracted, the notice a retraction.
    [retracted] = search("has:retraction")["hits"]
    assert retracted["url"] == urls["retracted"] and retracted["role"] == "primary"
    assert retracted["related"] == [{"kind": "retraction", "count": 1, "suggested": 1}]
    assert [h["title"] for h in search("role:retraction")["hits"]] == ["Retracted"]
    assert found_urls("has:correction") == {urls["original"], urls["zh_article"]}
    assert found_urls("has:coverage role:primary") == {urls["original"]}
    assert found_urls("has:translation role:translation") == {urls["zh_translation"]}
    assert found_urls("role:correction") == {urls["correction"], urls["zh_article"]}
    original = search("has:coverage")["hits"][0]
    assert {r["kind"]: (r["count"], r["suggested"]) for r in original["related"]} == {
        "coverage": (4, 3),  # report1 (confirmed), the wire copy, correction, translation
        "correction": (1, 0),
        "translation": (1, 1),
    }
    facets = {f["value"]: f["count"] for f in search("")["facets"]["has"]}
    assert facets["retraction"] == 1 and facets["copies"] == 5  # wire+report1, 3 Chinese
    # The wire copy and the report it copies are one hit (both coverage of the original).
    coverage = search("role:coverage")
    assert (coverage["total"], coverage["documents"]) == (1, 2)
    [story_hit] = coverage["hits"]
    assert story_hit["copies"] == 1
    copies = {story_hit["url"], story_hit["copy_documents"][0]["url"]}
    assert copies == {urls["report1"], urls["wire"]}
    assert search("role:coverage", "--no-collapse")["total"] == 2
    # The Traditional copy of the Chinese article, and both versions of the article.
    chinese = search("has:copies", "--lang", "zh")
    assert (chinese["total"], chinese["documents"]) == (1, 3)
    assert chinese["hits"][0]["copies"] == 2
    printed = vestige("search", "has:retraction")
    assert "retracted (suggested)" in printed
    assert "1 more copy:" in vestige("search", "role:coverage")
