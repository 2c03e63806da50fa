"""Request and response bodies of the JSON API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
)

from api.models import JobState
from archive.browser import CaptureMode
from ingest.relations import TYPES
from ingest.story import ORDER

MAX_URLS_PER_JOB = 1000


def _as_utc(moment: datetime) -> datetime:
    # The catalog keeps naive UTC; say so in every response.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


UTCDateTime = Annotated[
    datetime,
    AfterValidator(_as_utc),
    PlainSerializer(lambda m: m.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), return_type=str),
]


class ErrorDetail(BaseModel):
    status: int = Field(description="The HTTP status code.")
    message: str = Field(description="What went wrong, in one line.")
    details: list[dict] | None = Field(None, description="Per-field problems of invalid input.")


class ErrorResponse(BaseModel):
    """Every error the API returns."""

    error: ErrorDetail


class Health(BaseModel):
    status: str = Field("ok", description="Always 'ok' when the service answers.")
    version: str


class ArchiveStatus(BaseModel):
    records: int = Field(description="WARC records in the catalog.")
    records_by_type: dict[str, int]
    captures: int = Field(description="Captures (fetches of a URL, with every redirect hop).")
    urls: int = Field(description="Distinct archived URLs.")
    collections: list[str]
    warc_files: int
    storage_bytes: int = Field(description="Size of the WARC files on disk.")


class JobCounts(BaseModel):
    queued: int = 0
    running: int = 0
    done: int = 0
    failed: int = 0
    pending_urls: int = Field(0, description="URLs waiting for or being captured now.")


class LastRuns(BaseModel):
    capture: UTCDateTime | None = Field(None, description="When the newest record was stored.")
    job_finished: UTCDateTime | None = None
    ingest_outcome: UTCDateTime | None = Field(
        None, description="When ingest last skipped or failed a record."
    )
    index_commit: UTCDateTime | None = Field(
        None, description="When the search index last committed (embedded engine)."
    )


class IngestFailure(BaseModel):
    url: str | None
    reason: str
    detail: str | None
    when: UTCDateTime


class IngestStatus(BaseModel):
    documents: int = Field(description="Live documents derived from records.")
    pending: int = Field(description="Records neither ingested nor skipped nor failed yet.")
    skipped: int = Field(description="Records that hold no document (images, scripts...).")
    failed: int = Field(description="Records whose ingest failed (vestige ingest --retry-failed).")
    latest_change: int = Field(description="The newest document change (search follows these).")
    recent_failures: list[IngestFailure]


class SearchStatus(BaseModel):
    available: bool
    engine: str | None = None
    chinese_analyzer: str | None = None
    english_analyzer: str | None = None
    documents: int | None = None
    checkpoint: int | None = Field(None, description="The last document change indexed.")
    behind: int | None = Field(None, description="Document changes not yet indexed.")
    error: str | None = None
    details: dict[str, str] = Field({}, description="Everything the engine reports.")


class FailedCapture(BaseModel):
    url: str
    error: str
    when: UTCDateTime | None
    job: str


class Status(BaseModel):
    """What the archive holds and what the service is doing."""

    version: str
    archive: ArchiveStatus
    jobs: JobCounts
    last_runs: LastRuns
    ingest: IngestStatus
    search: SearchStatus
    failed_captures: list[FailedCapture] = Field(description="The most recent failed captures.")


def _one_or_many(value: object) -> object:
    return [value] if isinstance(value, str) else value


class CaptureRequest(BaseModel):
    """URLs to capture in the background."""

    urls: Annotated[list[str], BeforeValidator(_one_or_many)] = Field(
        min_length=1,
        max_length=MAX_URLS_PER_JOB,
        description="One URL or a list of http(s) URLs.",
        examples=[["https://example.org/article"]],
    )
    collection: str = Field("default", description="Collection to store the captures in.")
    note: str | None = Field(None, max_length=10_000, description="A note stored with each.")
    truncate: StrictBool = Field(
        False, description="Keep the first VESTIGE_MAX_BODY_SIZE bytes of larger bodies."
    )
    mode: CaptureMode = Field(
        CaptureMode.http,
        description="http: one GET; browser: headless Chromium, with every resource the page "
        "loads, a screenshot and the rendered DOM; auto: HTTP, then the browser when the page "
        "has almost no text but scripts.",
    )


class JobAccepted(BaseModel):
    id: str
    state: JobState
    href: str = Field(description="Where to follow the job.")


class JobUrl(BaseModel):
    """One URL of a job and what became of it."""

    url: str
    state: JobState
    status: int | None = Field(None, description="HTTP status of the final response.")
    final_url: str | None = Field(None, description="The URL after redirects.")
    warc_file: str | None = None
    offset: int | None = None
    payload_digest: str | None = None
    revisit: bool = False
    truncated: bool = False
    captured_at: UTCDateTime | None = None
    replay: str | None = Field(None, description="The archived copy, once stored.")
    error: str | None = None
    after_store_error: str | None = Field(
        None, description="Set when the capture is stored but ingesting or indexing it failed."
    )
    document_id: str | None = Field(None, description="The document ingested from the capture.")
    document: str | None = Field(None, description="The document in the JSON API.")
    searchable: bool = Field(False, description="Whether search finds the document now.")


class JobView(BaseModel):
    """A capture job and its per-URL results."""

    id: str
    kind: str
    state: JobState
    collection: str
    note: str | None
    submitted_by: str | None
    created: UTCDateTime
    started: UTCDateTime | None
    finished: UTCDateTime | None
    urls: list[JobUrl]


class Version(BaseModel):
    """One stored version (capture) of a URL."""

    timestamp: UTCDateTime
    url: str
    type: str = Field(description="response, resource or revisit.")
    status: int | None
    mime: str | None
    payload_digest: str | None
    length: int = Field(description="Size of the (compressed) WARC record.")
    collection: str
    warc_file: str
    offset: int
    memento: str = Field(description="The archived copy (Memento).")
    view: str = Field(description="The archived copy with its banner, for people.")
    mode: str = Field("http", description="http, or browser for a capture with headless Chromium.")
    resources: int | None = Field(None, description="Sub-resources a browser capture stored.")
    screenshot: str | None = Field(None, description="A browser capture's screenshot (PNG).")


class Versions(BaseModel):
    url: str = Field(description="The URL as stored (normalised).")
    versions: list[Version]


class ImportedSource(BaseModel):
    """What importing one source did (a WACZ has one per WARC inside it)."""

    source: str
    imported: int = Field(description="Records stored.")
    skipped: int = Field(description="Records already in the archive.")
    stopped: str | None = Field(
        None, description="Where and why damaged input stopped (records before it are stored)."
    )
    warnings: list[str] = []
    url: str | None = Field(None, description="A single document's URL (normalised).")
    payload_digest: str | None = None
    versions: str | None = Field(None, description="The document's stored versions.")
    document_id: str | None = Field(None, description="The document ingested from the upload.")


class ImportResponse(BaseModel):
    filename: str
    sources: list[ImportedSource]
    after_store_error: str | None = Field(
        None, description="Set when the upload is stored but ingesting or indexing it failed."
    )


class RelatedCount(BaseModel):
    """How many other pages stand in one relation to a hit (``has:`` values)."""

    kind: str = Field(description="coverage, correction, retraction, update, translation, copies")
    count: int
    suggested: int = Field(description="How many of them only suggested, not yet confirmed.")


class SearchCopy(BaseModel):
    """A matching copy of a hit's story (same-story), collapsed into the hit."""

    id: str
    url: str
    title: str
    language: str
    published: str | None
    captured: UTCDateTime


class MatchedVia(BaseModel):
    """A translation a hit matched: its ``term`` translates the query's ``from``."""

    model_config = ConfigDict(populate_by_name=True)

    term: str = Field(description="The document's word that matched (人权).")
    source_term: str = Field(alias="from", description="The query's term (human rights).")
    source: str = Field(
        description="Where the translation comes from: cc-cedict, names (Vestige's names "
        "table), pinyin (a name spelled out), yours (the query's zh:/en:)."
    )


class SearchHit(BaseModel):
    """One ranked document; ``snippet`` is HTML-escaped text with ``<mark>`` around matches."""

    id: str
    url: str
    title: str
    language: str
    script: str | None
    published: str | None = Field(description="Publication date (ISO, possibly partial).")
    captured: UTCDateTime
    collection: str
    score: float = Field(description="Relevance (0 when sorted by date).")
    snippet: str
    has: list[str] = Field(description="Related coverage, corrections, retractions... (has:).")
    related: list[RelatedCount] = Field(description="How many pages of each has: kind.")
    role: str | None = Field(description="What the document is in its story (role:).")
    copies: int = Field(description="Matching copies of the same story collapsed into this hit.")
    copy_documents: list[SearchCopy] = Field(description="The first of those copies.")
    ocr: bool = Field(False, description="The text (and so the snippet) was read by OCR.")
    ocr_confidence: float | None = Field(None, description="OCR's mean confidence, 0-100.")
    own_words: bool | None = Field(
        description="Matched the query's own words (null: no translation was searched)."
    )
    matched_via: list[MatchedVia] = Field(
        description="The translations of query terms it matched (cross-language search)."
    )
    document: str = Field(description="The document in the JSON API.")
    archived: str = Field(description="The archived copy, for people.")


class FacetCount(BaseModel):
    value: str
    count: int


class SearchResponse(BaseModel):
    """A page of hits, how many documents match, and facet counts over every match."""

    query: str
    total: int = Field(description="Hits, with the copies of one story counted once.")
    documents: int = Field(description="Matching documents (what facets count).")
    offset: int
    limit: int
    translated: list[str] = Field(
        description="The query's translations searched too, per language (zh: ..., en: ...)."
    )
    notes: list[str] = Field(description="What the translation could not do, and why.")
    hits: list[SearchHit]
    facets: dict[str, list[FacetCount]] = Field(
        description="Counts per language, site, year, collection, has and role over all matches."
    )


class DocumentView(BaseModel):
    """An ingested document's metadata; its text is at ``text``."""

    id: str
    url: str
    title: str | None = Field(description="The headline: og:title, or <title> without the site.")
    page_title: str | None = Field(None, description="The HTML <title> as served.")
    authors: list[str]
    published: str | None
    language: str | None
    languages: dict[str, float]
    script: str | None
    site: str | None
    description: str | None
    tags: list[str]
    word_count: int
    outlinks: list[str]
    collection: str
    captured: UTCDateTime
    status: int | None
    mime: str | None
    extraction: str
    content_hash: str
    ocr: dict[str, Any] | None = Field(
        None,
        description="OCR engine, languages, confidence, pages read and the model of each "
        "(null when no page needed OCR); `reason` says why a page needing it was not read.",
    )
    properties: dict[str, Any] = Field(
        default_factory=dict, description="EXIF camera and date, e-mail headers, file properties."
    )
    warc_file: str
    warc_offset: int
    warc_length: int
    payload_digest: str | None
    record_id: str
    revisit_of: str | None
    deleted: bool
    text: str = Field(description="Where the full extracted text is (text/plain, streamed).")
    versions: str = Field(description="Every version of the document's URL.")
    archived: str = Field(description="The archived copy, for people.")
    memento: str = Field(description="The archived bytes (Memento).")


# The <title> as served when both versions have one, else the headline.
TitleChange = Annotated[
    tuple[str | None, str | None] | None,
    Field(description="The title before and after, when it changed: [before, after]."),
]


class DocumentVersion(BaseModel):
    """One capture of a URL and what changed since the previous one."""

    captured: UTCDateTime
    record_id: str
    record_type: str
    status: int | None
    collection: str
    payload_digest: str | None
    document_id: str | None
    title: str | None
    changes: list[str] = Field(description="e.g. first capture, text changed, page gone.")
    similarity: float | None = Field(None, description="Text similarity to the previous version.")
    title_change: TitleChange = None
    redirect_to: str | None = None
    archived: str = Field(description="This capture's archived copy, for people.")


class DocumentVersions(BaseModel):
    url: str
    versions: list[DocumentVersion]


# -- provenance: relations, stories, diffs --------------------------------------------

RelationType = Literal[TYPES]  # covers, cites, corrects, retracts, updates, translates, same-story


class DocumentBrief(BaseModel):
    """Enough of a document to show it next to a relation or in a story."""

    id: str
    url: str
    title: str | None
    language: str | None
    published: str | None = Field(description="Publication date (ISO, possibly partial).")
    captured: str = Field(description="Capture time (ISO 8601, UTC).")


class RelationRequest(BaseModel):
    """``source`` TYPE ``target``: ``A covers B`` says A reports on the primary source B."""

    source: str = Field(
        min_length=1, max_length=4096, description="Document id, or URL (its latest version)."
    )
    type: RelationType
    target: str = Field(
        min_length=1, max_length=4096, description="Document id, or URL (its latest version)."
    )
    note: str | None = Field(None, max_length=10_000, description="Why they are related.")


class RelationView(BaseModel):
    """A stored relation: who or what made it, when, and what it is based on."""

    id: int
    source: str = Field(description="The subject's document id (A in 'A covers B').")
    type: str
    target: str = Field(description="The object's document id (B).")
    status: Literal["confirmed", "suggested", "rejected"]
    note: str | None
    evidence: dict[str, Any] = Field(
        description="What an automatic suggestion saw: the link, the notice, the similarity."
    )
    made_by: str = Field(description="The token name, user or suggester that made it.")
    made_at: UTCDateTime
    reviewed_by: str | None = Field(None, description="Who last confirmed or removed it.")
    reviewed_at: UTCDateTime | None = None


class DocumentRelation(BaseModel):
    """A relation seen from one document: ``outgoing`` when this document is the subject."""

    id: int
    type: str
    direction: Literal["outgoing", "incoming"]
    status: Literal["confirmed", "suggested"]
    document: str = Field(description="The version of this URL the relation is attached to.")
    other: DocumentBrief
    note: str | None
    evidence: dict[str, Any]
    made_by: str
    made_at: str
    reviewed_by: str | None = None
    reviewed_at: str | None = None


class DocumentRelations(BaseModel):
    """The live relations of a document and of every other version of its URL."""

    document: str
    url: str
    relations: list[DocumentRelation]


class StoryEntry(BaseModel):
    document: DocumentBrief
    role: Literal[ORDER]  # primary, coverage, copy, update, correction, retraction, translation
    date: str = Field(description="Publication date, else capture date (YYYY-MM-DD).")
    relations: list[str] = Field(description="What this document is the subject of.")


class StoryRelation(BaseModel):
    id: int
    source: str
    type: str
    target: str
    status: str
    evidence: dict[str, Any]
    made_by: str
    made_at: str


class StoryView(BaseModel):
    """Everything related to a document, as a timeline: primary source first, then
    coverage, copies, updates, corrections, retractions, translations, each by date."""

    start: str
    start_url: str
    entries: list[StoryEntry]
    relations: list[StoryRelation]


class DiffOp(BaseModel):
    kind: Literal["equal", "insert", "delete", "replace"]
    old: str
    new: str


class DocumentDiff(BaseModel):
    """What changed in the text from ``old`` to ``new`` (two documents, usually two
    versions of one URL)."""

    old: DocumentBrief
    new: DocumentBrief
    by: Literal["word", "char"]
    similarity: float
    title_change: TitleChange = None
    ops: list[DiffOp]


# -- watches and changes ---------------------------------------------------------------


class WatchRequest(BaseModel):
    """A page to capture again at an interval (the first capture is due at once)."""

    url: str = Field(min_length=1, max_length=4096, examples=["https://example.org/article"])
    every: str = Field(
        "1d", max_length=20, description="How often: 30m, 6h, 1d, 1w (at least a minute)."
    )
    collection: str = Field("default", max_length=200)
    note: str | None = Field(None, max_length=10_000, description="Stored with each capture.")


class WatchView(BaseModel):
    id: int
    url: str
    collection: str
    every: int = Field(description="Seconds between two captures.")
    note: str | None
    created: UTCDateTime
    next_due: UTCDateTime
    last_run: UTCDateTime | None
    last_kind: str | None = Field(
        None, description="What the last capture found: first, unchanged, changed, removed..."
    )
    last_document_id: str | None


class PageChangeView(BaseModel):
    """What one capture of a watched page found, with its evidence."""

    id: int
    watch_id: int | None
    url: str
    detected: UTCDateTime
    kind: Literal["first", "unchanged", "changed", "removed", "unreachable"]
    reason: str | None
    status: int | None
    final_url: str | None
    capture_id: str | None
    document_id: str | None
    previous_id: str | None
    similarity: float | None
    title_change: TitleChange = None
    evidence: dict[str, Any]
    diff: str | None = Field(None, description="The side-by-side diff page, for people.")


# -- crawls and follows ------------------------------------------------------------------


class CrawlRequest(BaseModel):
    """A crawl: discover pages from the seeds (links, sitemaps, feeds) and capture those
    in scope, breadth-first. It runs in the background as a job."""

    seeds: Annotated[list[str], BeforeValidator(_one_or_many)] = Field(
        min_length=1, max_length=100, examples=[["https://example.org/reports/"]]
    )
    scope: Literal["page", "prefix", "host", "domain"] = Field(
        "prefix",
        description="page: the seeds only; prefix: under the seed's directory; host; "
        "domain (with subdomains).",
    )
    depth: int = Field(2, ge=0, le=100, description="Links followed from a seed.")
    max_pages: int | None = Field(None, ge=1, le=10_000_000, description="Stop after this many.")
    include: list[str] = Field([], max_length=50, description="Also capture URLs matching these.")
    exclude: list[str] = Field([], max_length=50, description="Never capture URLs matching these.")
    collection: str = Field("default", max_length=200)
    note: str | None = Field(None, max_length=10_000)
    ignore_robots: StrictBool = Field(
        False, description="Capture what robots.txt disallows (recorded in the WARC metadata)."
    )
    sitemaps: StrictBool = Field(True, description="Read the seeds' sitemaps.")
    feeds: StrictBool = Field(True, description="Read the feeds pages link to.")
    skip_archived: StrictBool = Field(False, description="Skip pages already in the archive.")
    browser: StrictBool = Field(
        False,
        description="Load pages in headless Chromium (their resources, a screenshot, the "
        "rendered DOM); robots.txt, sitemaps and feeds stay plain HTTP.",
    )


class CrawlCounts(BaseModel):
    queued: int = Field(description="Waiting, or being captured.")
    captured: int = Field(description="Pages stored.")
    fetched_other: int = Field(description="robots.txt, sitemaps and feeds stored.")
    skipped_scope: int
    skipped: int = Field(description="Every other skip: robots.txt, traps, filters, depth.")
    failed: int
    reasons: dict[str, int] = Field(description="Skip and failure reasons.")


class CrawledPage(BaseModel):
    url: str
    status: int | None
    final_url: str | None
    captured: UTCDateTime | None
    document_id: str | None = Field(None, description="The document ingested from it.")


class CrawlJobView(BaseModel):
    """A crawl job: its seeds, state, counts and the latest pages it captured."""

    id: str
    kind: Literal["crawl"] = "crawl"
    state: Literal["running", "interrupted", "done", "cancelled"]
    seeds: list[str]
    collection: str
    follow_id: int | None = Field(None, description="The follow this crawl is a run of.")
    created: UTCDateTime
    started: UTCDateTime | None
    finished: UTCDateTime | None
    counts: CrawlCounts
    pages: list[CrawledPage] = Field(
        [], description="The latest pages captured, newest first (in the job's own view)."
    )
    cancel: str = Field(description="POST here (or DELETE the job) to cancel it.")


class FollowRequest(BaseModel):
    """A feed (RSS, Atom, JSON Feed) or a site's front page to look at every interval;
    each run captures the entries not archived yet."""

    url: str = Field(min_length=1, max_length=4096, examples=["https://example.org/feed.xml"])
    every: str = Field("1h", max_length=20, description="How often: 30m, 1h, 1d (at least 1m).")
    collection: str = Field("default", max_length=200)
    sitemaps: StrictBool | None = Field(
        None, description="Read the site's sitemaps too (default: for sites, not for feeds)."
    )
    ignore_robots: StrictBool = False
    note: str | None = Field(None, max_length=10_000)
    browser: StrictBool = Field(False, description="Load its pages in headless Chromium.")


class FollowView(BaseModel):
    id: int
    url: str
    collection: str
    every: int = Field(description="Seconds between two runs.")
    sitemaps: bool
    ignore_robots: bool
    note: str | None
    created: UTCDateTime
    last_run: UTCDateTime | None
    next_run: UTCDateTime
    last_crawl: str | None = Field(None, description="The job of the last run.")
    last_captured: int | None = Field(None, description="New pages the last run captured.")
    browser: bool = Field(False, description="Its pages are loaded in headless Chromium.")


class FollowDetail(FollowView):
    """A followed source with what its runs brought in."""

    runs: list[CrawlJobView] = Field(description="Its runs (crawl jobs), newest first.")
    pages: list[CrawledPage] = Field(description="The latest pages its runs captured.")
