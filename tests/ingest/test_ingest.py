"""Ingest through the CLI over real captures from a loopback server."""

# ruff: noqa: RUF001, RUF002 - Chinese text has full-width punctuation

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select, update

from archive.catalog import Record
from archive.config import get_settings
from archive.importer import Importer, Submission
from archive.repository import Repository
from conftest import Route, WebServer, invoke, minimal_pdf, vestige
from ingest import documents
from ingest.language import detect
from ingest.models import Document, IngestOutcome
from ingest.pipeline import Ingester

ARTICLE = """<html><head><title>{title}</title></head><body>
<nav><a href="/">Home</a> <a href="/about">About</a></nav>
<article><h1>{title}</h1>
<p>{body}</p>
<p>Witnesses described the events of that night in detail to the reporters who met them.
The account was later confirmed by two further sources and by documents seen by the paper.</p>
</article><footer>Copyright</footer></body></html>"""


def page(title: str, body: str) -> bytes:
    return ARTICLE.format(title=title, body=body).encode("utf-8")


def html(body: bytes, charset: str | None = None) -> Route:
    content_type = "text/html" + (f"; charset={charset}" if charset else "")
    return Route(body=body, headers=[("Content-Type", content_type)])


def show(url_or_id: str) -> dict:
    return json.loads(vestige("show", "--json", url_or_id))


def repository() -> Repository:
    return Repository(get_settings())


def test_capture_leaves_a_document(home, web: WebServer) -> None:
    body = page("Court hears testimony", "The tribunal heard three survivors on Monday.")
    url = web.route("/report.html", html(body, "utf-8"))
    vestige("capture", url)
    data = show(url)
    for key in ("id", "url", "title", "authors", "published", "language", "script", "text",
                "text_simplified", "warc_file", "warc_offset", "payload_digest"):  # fmt: skip
        assert key in data
    assert data["title"] == "Court hears testimony"
    assert "three survivors" in data["text"] and "Copyright" not in data["text"]
    assert (data["language"], data["script"], data["text_simplified"]) == ("en", "Latn", None)
    assert data["warc_file"].startswith("default/") and data["payload_digest"].startswith("sha1:")
    assert show(data["id"]) == data
    text = vestige("show", url)
    assert "Court hears testimony" in text and data["warc_file"] in text


def test_versions_unchanged_changed_gone_redirected(home, web: WebServer) -> None:
    first = page("Statement", "The ministry denied that any arrests took place in the city.")
    url = web.route("/statement", html(first, "utf-8"))
    vestige("capture", "--no-ingest", url)
    vestige("capture", "--no-ingest", url)  # same payload: a revisit
    changed = page("Statement", "The ministry admitted that forty arrests took place in the city.")
    web.route("/statement", html(changed, "utf-8"))
    vestige("capture", "--no-ingest", url)
    web.route("/statement", Route(404, b"<html><body>Not found</body></html>"))
    result = invoke("capture", "--no-ingest", url, code=None)
    assert "404" in result.output
    target = web.route("/new-home", html(page("Moved", "This statement moved here."), "utf-8"))
    old = web.route("/old-home", Route(301, b"", [("Location", target)]))
    vestige("capture", "--no-ingest", old)
    vestige("ingest", "--workers", "1")

    found = documents.versions(repository().catalog, url)
    assert [v.changes for v in found] == [
        [documents.FIRST],
        [documents.UNCHANGED],
        [documents.TEXT_CHANGED],
        [documents.PAGE_GONE],
    ]
    assert found[1].record_type == "revisit" and found[1].document_id != found[0].document_id
    assert found[1].content_hash == found[0].content_hash
    assert 0.5 < found[2].similarity < 1.0
    assert show(found[1].document_id)["captured"] > show(found[0].document_id)["captured"]
    listing = vestige("versions", url).splitlines()
    assert len(listing) == 4
    assert "unchanged" in listing[1] and "text changed (similarity" in listing[2]
    assert "page gone" in listing[3]
    redirect = documents.versions(repository().catalog, old)
    assert redirect[0].changes == [documents.REDIRECTED] and redirect[0].redirect_to == target
    assert "redirected elsewhere -> " + target in vestige("versions", old)


def test_bad_records_fail_with_reasons_and_the_run_goes_on(
    home, web: WebServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VESTIGE_INGEST_MAX_SIZE", "20000")
    get_settings.cache_clear()
    junk = bytes(range(256)) * 40
    bad = web.route("/junk.html", html(junk))
    huge = web.route("/huge.html", html(page("Huge", "word " * 10_000), "utf-8"))
    good = web.route("/good.html", html(page("Good", "A perfectly ordinary report."), "utf-8"))
    image = web.route("/photo.png", Route(body=b"\x89PNG\r\n\x1a\n" + junk,
                                          headers=[("Content-Type", "image/png")]))  # fmt: skip
    vestige("capture", "--no-ingest", bad, huge, good, image)
    output = vestige("ingest", "--workers", "1")
    assert output.splitlines()[0] == "1 documents created, 1 skipped, 2 failed"
    assert "undecodable" in output and "too large" in output and "not text (image/png)" in output
    assert show(good)["title"] == "Good"
    with repository().catalog.session() as session:
        outcomes = {o.reason: o for o in session.scalars(select(IngestOutcome))}
    assert outcomes["too large"].outcome == "failed" and outcomes["too large"].attempts == 1
    assert vestige("ingest").splitlines()[0] == "0 documents created, 0 skipped, 0 failed"
    retried = vestige("ingest", "--retry-failed")
    assert retried.splitlines()[0] == "0 documents created, 0 skipped, 2 failed"
    with repository().catalog.session() as session:
        assert session.get(IngestOutcome, outcomes["too large"].record_id).attempts == 2


def test_timeout_fails_then_retry_failed_ingests(
    home, web: WebServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = web.route("/slow.html", html(page("Slow", "Text " * 2000), "utf-8"))
    vestige("capture", "--no-ingest", url)
    monkeypatch.setenv("VESTIGE_INGEST_TIMEOUT", "0.000001")
    get_settings.cache_clear()
    assert "failed       1  timeout" in vestige("ingest", "--workers", "1")
    assert vestige("ingest").splitlines()[0] == "0 documents created, 0 skipped, 0 failed"
    monkeypatch.delenv("VESTIGE_INGEST_TIMEOUT")
    get_settings.cache_clear()
    assert vestige("ingest", "--retry-failed").startswith("1 documents created")
    with repository().catalog.session() as session:
        assert session.scalars(select(IngestOutcome)).first() is None
    assert show(url)["title"] == "Slow"


def test_rebuild_rederives_and_the_change_feed_follows(home, web: WebServer) -> None:
    urls = [
        web.route(f"/n{i}.html", html(page(f"Report {i}", f"Report number {i} in full."), "utf-8"))
        for i in range(3)
    ]
    vestige("capture", "--no-ingest", *urls)
    vestige("ingest", "--workers", "2")
    catalog = repository().catalog
    feed = documents.changes(catalog, 0, 2) + documents.changes(catalog, 2, 10)
    assert [d.seq for d in feed] == [1, 2, 3]
    assert documents.latest_seq(catalog) == 3
    tampered = show(urls[1])
    with catalog.session() as session:
        session.execute(update(Document).where(Document.id == tampered["id"]).values(text="x"))
    output = vestige("ingest", "--rebuild", "--workers", "1")
    assert (
        output.splitlines()[0] == "0 documents created, 1 updated, 2 unchanged, 0 skipped, 0 failed"
    )
    assert [d.id for d in documents.changes(catalog, 3, 10)] == [tampered["id"]]
    assert show(urls[1])["text"] == tampered["text"] and show(urls[1])["seq"] == 4
    assert show(urls[0])["seq"] == 1


def test_chinese_pages_big5_and_gbk_fold_and_keep_meta_authors(home, web: WebServer) -> None:
    traditional = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=big5">'
        '<meta name="author" content="李明"><title>法輪功學員在臺灣集會</title></head><body>'
        "<article><p>法輪功學員星期日在臺北舉行集會。紀念四二五和平上訪二十五週年。"
        "參加者表示。他們希望國際社會關注中國大陸的人權狀況。並呼籲停止迫害。</p>"
        "<p>主辦單位說。這次活動吸引了來自全臺各地的數千名學員參與。</p></article></body></html>"
    ).encode("big5")
    simplified = (
        "<html><head><title>人权报告发布</title></head><body><article>"
        "<p>该组织星期一在北京发布年度人权报告。记录了过去一年的多起案件。</p>"
        "<p>报告说。许多家属仍在等待有关部门的答复。</p></article></body></html>"
    ).encode("gbk")
    hant = web.route("/tw.html", html(traditional))  # charset only in the page's <meta>
    hans = web.route("/cn.html", html(simplified, "gbk"))
    vestige("capture", "--no-ingest", hant, hans)
    vestige("ingest", "--workers", "1")
    tw, cn = show(hant), show(hans)
    assert (tw["language"], tw["script"]) == ("zh", "Hant")
    assert "法輪功" in tw["text"] and "法轮功" in tw["text_simplified"]
    assert tw["authors"] == ["李明"]
    assert (cn["language"], cn["script"]) == ("zh", "Hans")
    assert "人权报告" in cn["text"] and "\ufffd" not in cn["text"]


def test_language_checks_script_before_langdetect() -> None:
    traditional = detect("法輪功學員星期日在臺北舉行集會。紀念和平上訪。")
    assert (traditional.language, traditional.script) == ("zh", "Hant")
    # langdetect alone says "ko" for the first and "en" for the second.
    mixed = detect("我们讨论 the new housing policy proposal 在北京")
    assert mixed.language == "zh" and set(mixed.languages) == {"zh", "en"}
    english = detect("The court heard from three witnesses, and 北京 was mentioned once.")
    assert english.language == "en" and "zh" in english.languages
    assert detect("").language is None


def test_seed_articles_import_and_ingest(home, corpus: Path) -> None:
    seeds = corpus / "seeds"
    repo = repository()
    importer = Importer(repo)
    importer.import_path(seeds / "000_d0831179beb6aade.txt")
    url_004 = (
        "https://www.theepochtimes.com/doctor-reveals-details-of-forced-organ-harvesting-"
        "in-military-concentration-camps_2884164.html"
    )
    importer.import_path(
        seeds / "004_a3ca7efba8b2f82d.txt",
        submission=Submission(url=url_004, published=date(2019, 4, 10)),
    )
    repo.close()
    vestige("ingest", "--workers", "1")
    first = show(
        "https://www.theepochtimes.com/relative-of-shanghai-doctor-reveals-details-about-"
        "forced-organ-harvesting_3682420.html"
    )
    assert (
        first["title"]
        == "Relative of Shanghai Doctor Reveals Details About Forced Organ Harvesting"
    )
    assert first["published"] == "2021-02-02"
    assert first["text"].startswith("A California resident said")
    assert (first["extraction"], first["language"]) == ("text", "en")
    second = show(url_004)
    assert (
        second["title"]
        == "Doctor Reveals Details of Forced Organ Harvesting in Military Concentration Camps"
    )
    assert second["published"] == "2019-04-10" and second["url"] == url_004
    assert not second["text"].startswith("Doctor Reveals")


def test_pdf_text_and_document_information(home, web: WebServer) -> None:
    pdf = minimal_pdf(
        "Tribunal Judgment",
        "Jane Smith",
        ["The tribunal finds that the witnesses were credible.", "Judgment delivered in London."],
    )
    pdf_type = [("Content-Type", "application/pdf")]
    url = web.route("/judgment.pdf", Route(body=pdf, headers=pdf_type))
    broken = web.route("/broken.pdf", Route(body=b"%PDF-1.4\n" + bytes(200), headers=pdf_type))
    vestige("capture", "--no-ingest", url, broken)
    output = vestige("ingest", "--workers", "1")
    assert output.splitlines()[0] == "1 documents created, 0 skipped, 1 failed"
    data = show(url)
    assert (data["title"], data["authors"], data["published"]) == (
        "Tribunal Judgment",
        ["Jane Smith"],
        "2019-04-10",
    )
    assert "witnesses were credible" in data["text"] and data["extraction"] == "pdf"
    assert data["language"] == "en"


def test_a_small_edit_of_a_long_corpus_article_is_not_100_percent_similar(
    home, web: WebServer, corpus: Path
) -> None:
    """A one-word correction in a long real article: below 100%, shown so (was 100%)."""
    source = (corpus / "en" / "readability" / "nytimes-1" / "source.html").read_text("utf-8")
    url = web.route("/sudan", html(source.encode(), "utf-8"))
    vestige("capture", url)
    text = show(url)["text"]
    sentence = next(s for s in text.split("\n") if len(s) > 200 and s[:60] in source)
    word = sentence.split()[5]
    at = source.index(sentence[:60])
    edited = source[:at] + source[at:].replace(f" {word} ", " and ", 1)
    web.route("/sudan", html(edited.encode(), "utf-8"))
    vestige("capture", url)
    found = documents.versions(repository().catalog, url)
    assert found[1].changes == [documents.TEXT_CHANGED]
    assert found[1].similarity is not None and 0.99 < found[1].similarity < 1.0
    assert "(similarity 100" not in vestige("versions", url)
    assert "text changed (similarity 99." in vestige("versions", url)


def test_worker_processes_stay_from_one_run_to_the_next(home, web: WebServer) -> None:
    urls = [
        web.route(f"/w{i}.html", html(page(f"Notice {i}", f"Notice number {i} in full."), "utf-8"))
        for i in range(4)
    ]
    vestige("capture", "--no-ingest", *urls)
    archive = repository()
    with archive.catalog.session() as session:
        ids = list(session.scalars(select(Record.id).where(Record.record_type == "response")))
    with Ingester(archive, workers=2) as ingester:
        assert ingester.run(record_ids=ids[:2]).created == 2
        workers = set(ingester._pool._processes)  # the pool's process ids
        assert len(workers) == 2
        assert ingester.run(record_ids=ids[2:]).created == 2
        assert set(ingester._pool._processes) == workers
    assert ingester._pool is None  # closed with the block
    assert [show(url)["title"] for url in urls] == [f"Notice {i}" for i in range(4)]


TAIWAN = {  # ground truth of zh/taiwanese-news: (page, title, authors)
    "apple_daily_s2.html": ("診所助理救活人反觸法", ["丁牧群"]),
    "liberty_times_big5_s1.html": (
        "果汁？啤酒？難分 「飲誘」青少年",
        ["施曉光", "吳亮儀", "陳慧萍"],
    ),
    "liberty_times_news_s1.html": ("義光禁食》林義雄宣布停止禁食 願再為台奮鬥", ["李欣芳"]),
    "cna_s2.html": (None, ["楊思瑞"]),
    "ettoday_s2.html": (None, ["王文萱"]),
}


def test_chinese_news_metadata_on_corpus_pages(home, web: WebServer, corpus: Path) -> None:
    """Real Taiwanese news pages (Big5 and UTF-8) captured from loopback: headline without
    the site suffix (or the <h1> when <title> is only the site name), bylines such as
    〔記者XXX／台北報導〕 as authors, and never a URL fragment or a number as an author."""
    folder = corpus / "zh" / "taiwanese-news" / "html"
    for name, (title, authors) in TAIWAN.items():
        body = (folder / name).read_bytes()
        url = web.route(f"/news/{name}", Route(body=body, headers=[("Content-Type", "text/html")]))
        vestige("capture", url)
        data = show(url)
        if title is not None:
            assert " ".join(data["title"].split()) == title, (name, data["title"])
        assert data["authors"] == authors, (name, data["authors"])
    body = (folder / "udn_s1.html").read_bytes()
    udn = web.route("/news/udn.html", Route(body=body, headers=[("Content-Type", "text/html")]))
    vestige("capture", udn)
    data = show(udn)
    assert data["title"] == "國光免費去宜蘭第二天 零星衝突"
    assert not [a for a in data["authors"] if "http" in a.lower() or a.isdigit() or "com" in a]


def test_a_spaced_out_chinese_name_is_one_author(home, web: WebServer, corpus: Path) -> None:
    """A CWCED journal page lays its author out as "赵 培": the author is 赵培."""
    body = (corpus / "zh/cwced/original/2397c95d-2de8-4ca5-a569-4fffd20b9d50.html").read_bytes()
    url = web.route("/paper.html", Route(body=body, headers=[("Content-Type", "text/html")]))
    vestige("capture", url)
    authors = show(url)["authors"]
    assert "赵培" in authors and "赵 培" not in authors


# Corpus pages imported at the URLs they were published at: (page, URL, headline).
HEADLINES = [
    # The site's name ends the title, longer than the headline: 中央社 on cna.com.tw.
    ("zh/taiwanese-news/html/cna_s1.html", "http://www.cna.com.tw/News/FirstNews/201306290064-1.aspx",
     "電競亞室運 中華隊奪牌希望濃"),
    # " -- " before the site's name only ...
    ("en/newspaper4k/html/article_with_br.html", "https://www.sott.net/article/434715-x",
     "'The American friends': New court files expose Sheldon Adelson's security team "
     "involved in US spy operation against Julian Assange"),
    # ... and not when it is the headline's ("-- STOLEN!!!").
    ("en/readability/tmz-1/source.html", "https://www.tmz.com/2014/03/26/lupita-dress/",
     "Lupita Nyong'o's $150K Pearl Oscar Dress -- STOLEN!!!"),
    # A tail that is no site, section or author's name stays.
    ("en/readability/dropbox-blog/source.html", "https://dropbox.tech/infrastructure/atf",
     "How we designed Dropbox’s ATF - an async task framework"),
    # A keyword that is the headline itself is not the site's name.
    ("other/readability/la-nacion/source.html", "https://www.lanacion.com.ar/2090662-una",
     "Una solución no violenta para la cuestión mapuche"),
    # Sections and site after » go.
    ("other/newspaper4k/html/spanish_article.html", "http://ultimahora.es/mallorca/noticia.html",
     "Anticorrupción decidirá en Madrid si recurre la imputación de la Infanta"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "url", "headline"), HEADLINES)
def test_headline_without_the_site_name(
    home, corpus: Path, path: str, url: str, headline: str
) -> None:
    """The title loses the site's name and the sections before it, and nothing else."""
    vestige("import", str(corpus / path), "--url", url)
    data = show(url)
    assert data["title"] == headline
    assert data["page_title"] is not None and headline.split()[0] in data["page_title"]
