"""Every table of the catalog, listed in one place.

Each stage declares its own tables (on :class:`archive.catalog.Base`); this module,
above them all, names the whole schema. The programs hand it on explicitly: the
command line and the service open the archive with :data:`TABLES`, so that a new
catalog gets every table, and ``vestige migrate --new`` compares the migrations
with :data:`METADATA`. The archive stage never imports the later stages for this.

A new table goes here (and into a migration: ``vestige migrate --new MESSAGE``).
"""

from __future__ import annotations

from sqlalchemy import MetaData, Table

from api.models import ApiToken, Job, JobItem
from archive.catalog import Base, Record
from archive.frontier import Crawl, CrawlURL, Follow
from ingest.models import ChangeSequence, Document, IngestOutcome
from ingest.relations import Relation
from ingest.watch import PageChange, Watch

MODELS = (
    Record,
    Crawl,
    CrawlURL,
    Follow,
    Document,
    IngestOutcome,
    ChangeSequence,
    Relation,
    Watch,
    PageChange,
    ApiToken,
    Job,
    JobItem,
)
TABLES: tuple[Table, ...] = tuple(model.__table__ for model in MODELS)
# The metadata the tables live on (the migrations' target).
METADATA: MetaData = Base.metadata
