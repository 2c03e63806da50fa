"""The watch scheduler: intervals, restarts, leases, politeness, follows; and
the URL, notice and diff rules the suggesters and watches rely on."""

# ruff: noqa: RUF001 (Chinese punctuation in Chinese text)

from __future__ import annotations

from datetime import timedelta

import pytest
from provenance_sites import SoftSite, article
from sqlalchemy import select, update

from api.watching import run_due
from archive.catalog import utcnow
from archive.config import get_settings
from archive.follow import add_follow, list_follows, remove_follow
from archive.repository import Repository
from conftest import Route, WebServer
from ingest import diff
from ingest.suggest import cite_key, find_notice
from ingest.watch import Watch, WatchError, add_watch, list_changes, remove_watch

HTML = [("Content-Type", "text/html; charset=utf-8")]


def test_schedule_survives_restarts_and_never_runs_early(home, web: WebServer) -> None:
    url = web.route("/page.html", Route(body=article("A page", ["Text. " * 40]), headers=HTML))
    repository = Repository(get_settings())
    add_watch(repository.catalog, url, "1d")
    start = utcnow()
    assert [c.kind for c in run_due(repository, start, delay=0).changes] == ["first"]
    repository.close()

    repository = Repository(get_settings())  # a restart: state comes from the catalog
    with repository.catalog.session() as session:
        (watch,) = session.scalars(select(Watch)).all()
    assert watch.next_due == start + timedelta(days=1) and watch.lease_until is None
    hits = len(web.hits)
    assert run_due(repository, start + timedelta(hours=23), delay=0).changes == []
    assert len(web.hits) == hits  # not due: nothing fetched
    later = start + timedelta(days=1, seconds=1)
    assert [c.kind for c in run_due(repository, later, delay=0).changes] == ["unchanged"]
    assert run_due(repository, later, delay=0).changes == []  # the same moment: done already

    # A run that crashed holding the lease: skipped until the lease ends, then run.
    due = later + timedelta(days=1)
    with repository.catalog.session() as session:
        session.execute(update(Watch).values(lease_until=due + timedelta(minutes=10)))
    assert run_due(repository, due, delay=0).changes == []
    assert len(run_due(repository, due + timedelta(minutes=11), delay=0).changes) == 1
    assert len(list_changes(repository.catalog, kinds=["first", "unchanged"])) == 3
    repository.close()


def test_one_connection_per_host_and_follows_run_too(home, web: WebServer) -> None:
    site = SoftSite()
    try:
        for index in range(4):
            site.pages[f"/p{index}.html"] = article(f"Page {index}", [f"Page {index}. " * 30])
        repository = Repository(get_settings())
        for index in range(4):
            add_watch(repository.catalog, site.url(f"/p{index}.html"), "1h")
        feed = web.route("/", Route(body=article("Front", ["Front page. " * 20]), headers=HTML))
        add_follow(repository, feed, every=3600)
        run = run_due(repository, delay=0)
        assert sorted(c.kind for c in run.changes) == ["first"] * 4
        assert site.most_in_flight == 1  # one request at a time to the host
        assert len(run.follows) == 1 and list_follows(repository)[0].last_run is not None
        repository.close()
    finally:
        site.close()


def test_invalid_watches_are_refused(home) -> None:
    repository = Repository(get_settings())
    for url, every in (("ftp://example.org/", "1d"), ("http://example.org/", "5s"),
                       ("http://example.org/", "soon")):  # fmt: skip
        with pytest.raises(WatchError):
            add_watch(repository.catalog, url, every)
    repository.close()


@pytest.mark.parametrize(
    "variant",
    [
        "http://example.com/news/story",
        "https://www.example.com/news/story/",
        "https://m.example.com/news/story",
        "https://mobile.example.com/news/story?utm_source=x&utm_campaign=y",
        "https://amp.example.com/news/story?fbclid=abc&gclid=def",
        "https://example.com/news/story/amp",
        "https://example.com/amp/news/story",
        "https://example.com/news/story?amp=1",
        "https://example.com/news/story#comments",
    ],
)
def test_cite_key_merges_url_variants(variant: str) -> None:
    assert cite_key(variant) == "example.com/news/story"


def test_cite_key_keeps_what_names_another_page() -> None:
    assert cite_key("https://example.com/story?id=3") != cite_key("https://example.com/story?id=4")
    assert cite_key("https://example.com/a") != cite_key("https://example.org/a")
    assert cite_key("mailto:someone@example.com") is None


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Correction: An earlier version misspelled the minister's name.", "corrects"),
        ("Editor’s note: this story has new details.", "corrects"),
        ("This article has been updated with a statement from the police.", "corrects"),
        ("This article has been retracted because its main source was false.", "retracts"),
        ("更正：本报昨日报道中的数字有误。", "corrects"),
        ("勘误：第三段人名应为张三。", "corrects"),
        ("勘誤：第三段人名應為張三。", "corrects"),
        ("编者按：本文作者为前记者。", "corrects"),
        ("編者按：本文作者為前記者。", "corrects"),
        ("本报声明：此前报道有误。", "corrects"),
        ("撤稿声明：本文因事实错误撤稿。", "retracts"),
        ("本文已撤回。", "retracts"),
        ("本文已撤回，特此聲明。", "retracts"),
    ],
)
def test_notices_in_english_and_both_chinese_scripts(text: str, kind: str) -> None:
    notice = find_notice(f"Some earlier paragraph.\n{text}\nMore text.")
    assert notice is not None and notice.kind == kind and text in notice.text


@pytest.mark.parametrize(
    "text",
    [
        "He spent ten years in a correctional facility.",
        "The witness retracted her statement on Monday.",
        "外交部发表声明称此事不实。",
        "他要求政府撤回这项决定。",
        "The editors noted a rise in readers.",
    ],
)
def test_ordinary_sentences_are_not_notices(text: str) -> None:
    assert find_notice(text) is None


def test_chinese_diff_by_word_and_by_character() -> None:
    old, new = "警方周一逮捕了四十名抗议者。", "警方周二逮捕了五十名抗议者。"
    by_word = diff.diff(old, new, "zh", "word")
    assert [(op.old, op.new) for op in by_word if op.kind != "equal"] == [
        ("周一", "周二"),
        ("四十名", "五十名"),
    ]
    by_char = diff.diff(old, new, "zh", "char")
    changed = [(op.old, op.new) for op in by_char if op.kind != "equal"]
    assert changed == [("一", "二"), ("四", "五")]
    assert diff.inline(by_char) == "警方周[-一-]{+二+}逮捕了[-四-]{+五+}十名抗议者。"
    english = diff.diff("The court met on Monday.", "The court met on Tuesday.", "en")
    assert [(op.old, op.new) for op in english if op.kind != "equal"] == [("Monday", "Tuesday")]


def test_a_follow_or_watch_deleted_while_it_runs_is_skipped_quietly(home, web: WebServer) -> None:
    repository = Repository(get_settings())
    try:
        follow = add_follow(repository, web.url("/feed.xml"), every=3600)
        page = web.url("/watched.html")
        add_watch(repository.catalog, page, "1d")

        def deleting(what):
            def route(_handler) -> Route:
                what()  # deleted while its run fetches it
                return Route(body=article("Gone", ["Text. " * 40]), headers=HTML)

            return route

        web.route("/feed.xml", deleting(lambda: remove_follow(repository, follow.id)))
        web.route("/watched.html", deleting(lambda: remove_watch(repository.catalog, page)))
        run = run_due(repository, delay=0)  # before: CrawlError "no follow with id 1"
        assert [info.id for info, _ in run.follows] == [follow.id]
        assert list_follows(repository) == []
        assert [change.url for change in run.changes] == [page]
        assert run_due(repository, utcnow() + timedelta(days=2), delay=0).changes == []
    finally:
        repository.close()
