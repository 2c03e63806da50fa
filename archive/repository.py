"""The archive on disk: the WARC store and its catalog, opened together."""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version

from sqlalchemy import select

from archive.catalog import Catalog, Record
from archive.config import Settings
from archive.records import catalog_row
from archive.store import Location, RepairReport, WarcStore


def software_version() -> str:
    try:
        return f"Vestige/{version('vestige')}"
    except PackageNotFoundError:
        return "Vestige/dev"


class Repository:
    """WARC files plus catalog. Opening it repairs files a crashed writer left open."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.home.mkdir(parents=True, exist_ok=True)
        self.catalog = Catalog(settings.catalog_url)
        self.store = WarcStore(
            settings.warc_dir, max_size=settings.warc_max_size, software=software_version()
        )
        self.repairs = self.store.recover()
        self._catalogue_repaired(self.repairs)

    def _catalogue_repaired(self, reports: Iterable[RepairReport]) -> None:
        """Add catalog rows for records that reached the disk but not the catalog.

        Such records were never acknowledged, but they are complete and
        verified, so keeping them loses nothing and makes ``verify`` clean.
        """
        for report in reports:
            collection = report.warc_file.split("/", 1)[0]
            with self.catalog.session() as session:
                known = set(
                    session.scalars(
                        select(Record.offset).where(Record.warc_file == report.warc_file)
                    )
                )
                for location in report.records:
                    if location.offset in known or location.offset == 0:
                        continue  # offset 0 is the file's warcinfo
                    for record in self.store.read_record(location):
                        session.add(catalog_row(record, location, collection))

    def location(self, row: Record) -> Location:
        return Location(row.warc_file, row.offset, row.length)

    def close(self) -> None:
        self.store.close()
        self.catalog.dispose()
