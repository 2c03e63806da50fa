"""The archive on disk: the WARC store and its catalog, opened together."""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from sqlalchemy import Table, select

from archive.catalog import Catalog, Record
from archive.config import Settings
from archive.records import catalog_row
from archive.remote import RemoteWarcs
from archive.store import Location, RepairReport, WarcStore


def software_version() -> str:
    try:
        return f"Vestige/{version('vestige')}"
    except PackageNotFoundError:
        return "Vestige/dev"


class Repository:
    """WARC files plus catalog. Opening it repairs files a crashed writer left open.

    ``tables`` is the catalog's schema (``api.schema.TABLES`` for the whole program).
    """

    def __init__(self, settings: Settings, tables: Sequence[Table] | None = None) -> None:
        self.settings = settings
        settings.home.mkdir(parents=True, exist_ok=True)
        self.catalog = Catalog(settings.catalog_url, tables)
        remote = None
        if settings.warc_store:
            remote = RemoteWarcs(settings.warc_store, cache=settings.home / "warc-cache")
        self.store = WarcStore(
            settings.warc_dir,
            max_size=settings.warc_max_size,
            software=software_version(),
            remote=remote,
        )
        self.repairs = self.recover()

    def recover(self) -> list[RepairReport]:
        """Repair, catalogue and close the WARC files a crashed writer left open."""
        return self.store.recover(self._catalogue_repaired)

    def _catalogue_repaired(self, report: RepairReport) -> None:
        """Add catalog rows for records that reached the disk but not the catalog.

        Such records were never acknowledged, but they are complete and
        verified, so keeping them loses nothing and makes ``verify`` clean.
        Called before the repaired file is closed: a crash here leaves it
        ``.open`` for the next start.
        """
        collection = report.warc_file.split("/", 1)[0]
        with self.catalog.session() as session:
            known = set(
                session.scalars(select(Record.offset).where(Record.warc_file == report.warc_file))
            )
            rows = [
                catalog_row(record, location, collection)
                for location in report.records
                if location.offset not in known
                for record in self.store.read_record(location)
                if record.rec_type != "warcinfo"  # the store's own, never catalogued
            ]
            # A record id catalogued elsewhere is a second copy (two imports of
            # one file racing); its row stays with the first.
            ids = set(
                session.scalars(
                    select(Record.record_id).where(
                        Record.record_id.in_([row.record_id for row in rows])
                    )
                )
            )
            for row in rows:
                if row.record_id not in ids:
                    ids.add(row.record_id)
                    session.add(row)

    def location(self, row: Record) -> Location:
        return Location(row.warc_file, row.offset, row.length)

    def close(self) -> None:
        self.store.close()
        self.catalog.dispose()
