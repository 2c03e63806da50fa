"""Vestige's one configuration object, read from ``VESTIGE_*`` environment variables."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MiB = 1024 * 1024


class Settings(BaseSettings):
    """Every setting Vestige reads. Each field is the variable ``VESTIGE_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="VESTIGE_", extra="ignore")

    home: Path = Field(Path("vestige-data"), description="Where WARCs, catalog and index live.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL of the catalog; default: SQLite in VESTIGE_HOME."
    )
    warc_max_size: int = Field(1024 * MiB, description="Roll WARC files at this size (bytes).")
    warc_store: str | None = Field(
        None,
        description="Keep closed WARC files in this S3-compatible bucket (s3://bucket/prefix; "
        "needs the s3 extra and AWS_* credentials); unset keeps them in VESTIGE_HOME/warcs.",
    )
    capture_allow_private: bool = Field(
        False, description="Allow captures of loopback, private and link-local addresses."
    )
    user_agent: str = Field(
        "Vestige/0.1 (+https://github.com/vestige-archive/vestige; web archive)",
        description="User-Agent header sent with captures.",
    )
    max_body_size: int = Field(50 * MiB, description="Largest response body a capture stores.")
    fetch_timeout: float = Field(30.0, description="Seconds to wait for a server (connect, read).")
    max_redirects: int = Field(10, description="Redirect hops followed by a capture.")
    browser_path: Path = Field(
        Path("/usr/bin/chromium"),
        description="Chromium run by browser captures (Debian's `chromium` package).",
    )
    browser_timeout: float = Field(
        30.0,
        gt=0,
        description="Seconds a browser capture waits for the page's network to be idle "
        "(and again after scrolling); the whole page gets at most twice that plus 15 s.",
    )
    browser_max_resources: int = Field(
        500, ge=1, description="Most sub-resources a browser capture stores for one page."
    )
    browser_max_total_size: int = Field(
        200 * MiB, description="Most bytes of sub-resources a browser capture stores for one page."
    )
    browser_memory: int = Field(
        4096,
        ge=64,
        description="MiB Chromium's processes may use together (PSS); past it the largest "
        "renderer is killed and its capture fails.",
    )
    browser_pages: int = Field(
        50, ge=1, description="Pages one Chromium loads before it is restarted (memory)."
    )
    search_url: str | None = Field(
        None, description="Elasticsearch/OpenSearch URL; unset means the embedded engine."
    )
    search_index: str = Field(
        "vestige", description="Alias (and index name prefix) used on Elasticsearch/OpenSearch."
    )
    translation_weight: float = Field(
        0.4,
        gt=0,
        le=1,
        description="Cross-language search: weight of the translated part of a query (the "
        "original words weigh 1).",
    )
    translation_limit: int = Field(
        3, ge=1, le=10, description="Cross-language search: translations searched per term."
    )
    public_read: bool = Field(True, description="Allow reading the API without a token.")
    capture_workers: int = Field(
        2, ge=1, description="Worker threads running the service's capture jobs."
    )
    serve_workers: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        description="Service processes `vestige serve` runs on its port (default: one per core).",
    )
    capture_queue_size: int = Field(
        1000, ge=1, description="Most URLs waiting in the service's capture queue."
    )
    max_upload_size: int = Field(50 * MiB, description="Largest request body the service accepts.")
    ingest_max_size: int = Field(
        20 * MiB, description="Largest payload ingest extracts text from; larger ones fail."
    )
    ingest_timeout: float = Field(
        60.0,
        description="Seconds ingest may spend on one document (on each page OCR reads) "
        "before it fails.",
    )
    ocr: bool = Field(
        True, description="Read scanned PDF pages and images with Tesseract OCR at ingest (0: off)."
    )
    ocr_languages: str = Field(
        "eng+chi_sim+chi_tra",
        description="Tesseract models OCR chooses from for each page (the script decides).",
    )
    ocr_max_pages: int = Field(
        100, ge=1, description="Most pages OCR reads in one document; a longer scan is too large."
    )
    ocr_max_pixels: int = Field(
        90_000_000, ge=1, description="Most pixels in one image or rendered page OCR reads."
    )
    public_url: str = Field(
        "http://127.0.0.1:8000",
        description="Base URL of this archive's service, for archived-copy links in exports.",
    )
    replay_url: str | None = Field(
        None,
        description="Base URL of the pywb collection run by `vestige replay-server` "
        "(e.g. http://127.0.0.1:8080/vestige); document pages link to it when set.",
    )
    crawl_delay: float = Field(
        1.0, ge=0, description="Seconds a crawl waits between two requests to one host."
    )
    webhook_url: str | None = Field(
        None, description="URL that gets a JSON POST for each change or removal a watch finds."
    )
    scheduler: bool = Field(
        True,
        description="Run due watches and follows in the background of `vestige serve` "
        "(turn off when another process, such as `vestige watch run` from cron, does).",
    )
    scheduler_interval: float = Field(
        60.0, gt=0, description="Seconds between two looks of the service's scheduler for due work."
    )

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        # Resolve once so a later chdir cannot move the archive.
        return value.expanduser().resolve()

    @property
    def warc_dir(self) -> Path:
        return self.home / "warcs"

    @property
    def catalog_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'catalog.sqlite'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()
