"""WARC files kept in an S3-compatible bucket (``VESTIGE_WARC_STORE=s3://bucket/prefix``).

The local WARC directory stays where files are written: a file is appended to,
fsynced and closed there exactly as without a bucket. Once closed, it is
verified (every record parses and matches its digests), uploaded, checked
against the bucket (size, and MD5 where the ETag is one), and only then
removed locally. Reads of a file that is no longer local are byte ranges of
the object, so replaying or exporting one record fetches only that record.

Uploads run on one background thread, so a capture that rolls a file over
does not wait for the bucket. A file closed but not uploaded when the process
stopped is still in the local directory, and is uploaded at the next start
(:meth:`RemoteWarcs.upload_pending`). Credentials and endpoint come from the
usual AWS variables (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_ENDPOINT_URL`` for S3-compatible servers).
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from warcio.archiveiterator import ArchiveIterator

log = logging.getLogger(__name__)

# Records are small next to a file: read ahead little past the requested range.
_BLOCK_SIZE = 256 * 1024
_CHUNK = 1 << 20


class UploadError(RuntimeError):
    """A closed WARC file could not be verified or stored in the bucket; it stays local."""


def verify_file(path: Path) -> int:
    """Check that every record of a closed WARC file parses and matches its digests;
    returns the number of records. Raises :class:`UploadError` otherwise."""
    count = 0
    try:
        with path.open("rb") as fh:
            for record in ArchiveIterator(fh, check_digests="raise"):
                # Reading the content is what checks the block and payload digests.
                stream = record.content_stream()
                while stream.read(_CHUNK):
                    pass
                count += 1
    except Exception as exc:
        raise UploadError(f"{path.name} is not an intact WARC file: {exc}") from exc
    return count


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class RemoteWarcs:
    """Closed WARC files under ``s3://bucket/prefix`` (or any fsspec URL)."""

    def __init__(self, url: str, cache: Path) -> None:
        import fsspec  # the `s3` extra: only needed when a bucket is configured

        protocol = url.split("://", 1)[0]
        options = {}
        if protocol == "s3":
            # Only send checksums when an operation needs them: many
            # S3-compatible servers refuse the headers newer SDKs add.
            options["config_kwargs"] = {
                "request_checksum_calculation": "when_required",
                "response_checksum_validation": "when_required",
            }
        self.url = url.rstrip("/")
        self.cache = cache
        self.fs, self.root = fsspec.url_to_fs(self.url, **options)
        self._uploads: queue.SimpleQueue[tuple[Path, str] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._guard = threading.Lock()

    def key(self, warc_file: str) -> str:
        """The object key of a catalogued ``warc_file`` (``collection/name.warc.gz``)."""
        return f"{self.root}/{warc_file}"

    # -- writing -------------------------------------------------------------

    def upload(self, path: Path, warc_file: str) -> None:
        """Verify, upload and check one closed file, then remove the local copy.

        Raises :class:`UploadError` (the local file is kept) when any step fails.
        """
        verify_file(path)
        size = path.stat().st_size
        key = self.key(warc_file)
        try:
            self.fs.put_file(str(path), key)
            self.fs.invalidate_cache(key)
            info = self.fs.info(key)
        except Exception as exc:
            raise UploadError(f"uploading {warc_file} to {self.url} failed: {exc}") from exc
        etag = str(info.get("ETag", "")).strip('"')
        if info.get("size") != size or (etag and "-" not in etag and etag != _md5(path)):
            raise UploadError(f"{warc_file} in {self.url} differs from the local file")
        path.unlink()

    def submit(self, path: Path, warc_file: str) -> None:
        """Upload in the background (see :meth:`upload`); :meth:`close` waits for it."""
        with self._guard:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._upload_loop, name="vestige-warc-upload", daemon=True
                )
                self._thread.start()
        self._uploads.put((path, warc_file))

    def _upload_loop(self) -> None:
        while (item := self._uploads.get()) is not None:
            try:
                self.upload(*item)
            except Exception:
                # Kept locally: reads still find it, the next start retries.
                log.exception("WARC file %s stays local", item[1])

    def upload_pending(self, root: Path) -> None:
        """Queue every closed WARC file still in the local directory ``root``."""
        for path in sorted(root.glob("*/*.warc.gz")):
            self.submit(path, f"{path.parent.name}/{path.name}")

    def close(self) -> None:
        """Wait for the queued uploads."""
        with self._guard:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._uploads.put(None)
            thread.join()

    # -- reading -------------------------------------------------------------

    def open(self, warc_file: str) -> BinaryIO:
        """The object as a seekable file; reads fetch byte ranges."""
        try:
            return self.fs.open(self.key(warc_file), "rb", block_size=_BLOCK_SIZE)
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"WARC file not found: {warc_file}") from exc

    def exists(self, warc_file: str) -> bool:
        return self.fs.exists(self.key(warc_file))

    def size(self, warc_file: str) -> int:
        return int(self.fs.size(self.key(warc_file)))

    def files(self, collection: str | None = None) -> Iterator[str]:
        """Names (``collection/name.warc.gz``) of the files in the bucket."""
        pattern = f"{self.root}/{collection or '*'}/*.warc.gz"
        self.fs.invalidate_cache()
        for key in self.fs.glob(pattern):
            collection_dir, name = key.rsplit("/", 2)[-2:]
            yield f"{collection_dir}/{name}"

    def download(self, warc_file: str) -> Path:
        """A whole local copy of the file, kept in the cache directory (for readers
        that need a path: ingest's workers, verify)."""
        target = self.cache / warc_file
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f"{target.name}.{os.getpid()}.part")
            self.fs.get_file(self.key(warc_file), str(partial))
            os.replace(partial, target)
        return target
