"""Running an export: to a file (resumable, renamed into place at the end) or as a stream.

A file export writes ``PATH.partial`` (multi-part formats a ``PATH.partial.d``
folder first) and, after every batch, ``PATH.partial.state``: the last exported
key, the size of each part, the counts so far and the writer's own state. An
interrupted export run again with ``resume=True`` truncates each part to the
size recorded (dropping a half-written batch) and continues after that key, so
it ends with the same bytes as an uninterrupted one. Only a finished export is
renamed to ``PATH``; then the datasheet is written next to it.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from cryptography.hazmat.primitives.asymmetric import ec

from api.export.datasheet import Counts, Datasheet, sha256_file
from api.export.formats import DATA, Csv, JsonLines, Parquet, Writer, WriterOptions
from api.export.selection import DocumentSource, ExportError, Selection
from api.export.wacz import Bundle, Wacz
from api.export.warc import Warc
from archive.repository import Repository, software_version

# Every format, by name: the one place that lists them.
WRITERS: dict[str, type[Writer]] = {
    kind.name: kind for kind in (JsonLines, Csv, Parquet, Warc, Wacz, Bundle)
}
FORMATS = tuple(WRITERS)
# What an export's download is, by the writers of those formats.
MEDIA_TYPES = tuple(dict.fromkeys(kind.media_type for kind in WRITERS.values()))
Progress = Callable[[int], None]  # documents just written
Notice = Callable[[str], None]


def check_text_max_chars(name: str, text_max_chars: int | None) -> None:
    """Cutting text is for CSV (JSON Lines and Parquet keep it whole), by a positive count."""
    kind = WRITERS.get(name)
    if text_max_chars is not None and (kind is None or not kind.cuts_text or text_max_chars < 1):
        raise ExportError("--text-max-chars takes a positive number, and applies to csv only")


def make_writer(
    name: str,
    fields: list[str],
    repository: Repository,
    *,
    bom: bool = False,
    text_max_chars: int | None = None,
) -> Writer:
    """The writer for a format name; :class:`ExportError` for an unknown one."""
    check_text_max_chars(name, text_max_chars)
    return writer_kind(name).create(fields, WriterOptions(repository, bom, text_max_chars))


def writer_kind(name: str) -> type[Writer]:
    """The writer class of a format name; :class:`ExportError` for an unknown one."""
    kind = WRITERS.get(name)
    if kind is None:
        raise ExportError(f"unknown format {name!r}: choose one of {', '.join(FORMATS)}")
    return kind


@dataclass
class ExportSummary:
    """What a finished export wrote."""

    path: Path
    documents: int
    bytes: int
    sha256: str
    readme: Path
    manifest: Path
    resumed_from: int = 0  # documents already written before a resume


def datasheet_paths(output: Path) -> tuple[Path, Path]:
    """The datasheet beside ``output``: ``OUTPUT.README.md`` and ``OUTPUT.manifest.json``.

    Named after the whole file name, so exports of one selection to several
    formats in one folder keep a datasheet each.
    """
    return output.with_name(f"{output.name}.README.md"), output.with_name(
        f"{output.name}.manifest.json"
    )


class _Parts:
    """The open part files of a partial export."""

    def __init__(self, paths: dict[str, Path]) -> None:
        self.paths = paths
        self.files: dict[str, BinaryIO] = {}

    def open(self, sizes: dict[str, int] | None) -> None:
        for name, path in self.paths.items():
            if sizes is None:
                self.files[name] = open(path, "wb")  # noqa: SIM115 - closed in close()
                continue
            fh = open(path, "r+b")  # noqa: SIM115
            if fh.seek(0, os.SEEK_END) < sizes[name]:
                fh.close()
                raise ExportError(
                    f"cannot resume: {path} is shorter than its saved state; export again"
                )
            fh.truncate(sizes[name])  # drop what the interrupted batch half wrote
            fh.seek(sizes[name])
            self.files[name] = fh

    def write(self, name: str, chunk: bytes) -> None:
        self.files[name].write(chunk)

    def sizes(self) -> dict[str, int]:
        for fh in self.files.values():
            fh.flush()
        return {name: fh.tell() for name, fh in self.files.items()}

    def close(self) -> None:
        for fh in self.files.values():
            fh.close()
        self.files = {}

    def abandon(self) -> None:
        """Close after a failure; the state file, not these buffers, says what is complete."""
        for fh in self.files.values():
            with suppress(OSError):  # e.g. the disk is still full
                fh.close()
        self.files = {}


def run_export(
    repository: Repository,
    source: DocumentSource,
    format: str,
    output: Path,
    *,
    fields: list[str],
    bom: bool = False,
    text_max_chars: int | None = None,
    resume: bool = False,
    exported_at: datetime | None = None,
    signing_key: ec.EllipticCurvePrivateKey | None = None,
    total: Callable[[int], None] | None = None,
    progress: Progress | None = None,
    notice: Notice | None = None,
) -> ExportSummary:
    """Export ``source`` to ``output`` in ``format``; see the module docstring.

    ``total`` is told how many documents will be exported, ``progress`` how many
    were just written (after their batch's state is saved), ``notice`` anything
    the user should know. An exception (even ``KeyboardInterrupt``) keeps the
    partial export for ``resume``.
    """
    writer = make_writer(format, fields, repository, bom=bom, text_max_chars=text_max_chars)
    output = output.expanduser().absolute()
    if output.is_dir():
        raise ExportError(f"{output} is a folder: give a file name to export to")
    if not output.parent.is_dir():
        raise ExportError(f"cannot write {output}: folder {output.parent} does not exist")
    partial = output.with_name(output.name + ".partial")
    state_path = output.with_name(output.name + ".partial.state")
    workdir = output.with_name(output.name + ".partial.d")
    multipart = writer.parts != (DATA,)
    parts = _Parts(
        {name: workdir / name for name in writer.parts} if multipart else {DATA: partial}
    )
    identity = {
        "format": format,
        "selection": source.selection.describe(),
        "fields": fields,
        "bom": bom,
        "text_max_chars": text_max_chars,
    }
    state = _load_state(state_path, identity, writer, resume, notice)
    if state is None:
        state_path.unlink(missing_ok=True)  # a stale state must not be resumed later
    counts = Counts.from_json(state["counts"]) if state else Counts()
    written = state["documents"] if state else 0
    resumed_from = written
    if state:
        exported_at = datetime.fromisoformat(state["exported_at"])
    exported_at = (exported_at or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    if not state:
        count = source.count()
        if count == 0:
            raise ExportError(f"nothing to export: no documents match {source.selection.summary()}")
        if total is not None:
            total(count)
    elif total is not None:
        total(source.count())
        if progress is not None:
            progress(written)
    try:
        if multipart:
            workdir.mkdir(exist_ok=True)
        parts.open(state["sizes"] if state else None)
        after = None
        if state:
            writer.restore(state["writer"])
            url, captured, doc_id = state["key"]
            after = (url, datetime.fromisoformat(captured), doc_id)
        else:
            for name, chunk in writer.start():
                parts.write(name, chunk)
        for batch in source.batches(after):
            for name, chunk in writer.write(batch):
                parts.write(name, chunk)
            for document in batch:
                counts.add(document)
            written += len(batch)
            last = batch[-1].key
            if writer.resumable:
                _save_state(
                    state_path,
                    identity
                    | {
                        "exported_at": exported_at.isoformat(),
                        "key": [last[0], last[1].isoformat(), last[2]],
                        "documents": written,
                        "sizes": parts.sizes(),
                        "counts": counts.to_json(),
                        "writer": writer.state(),
                    },
                )
            if progress is not None:
                progress(len(batch))
        for name, chunk in writer.finish():
            parts.write(name, chunk)
        parts.close()
        datasheet = Datasheet(
            selection=source.selection,
            format=format,
            fields=fields,
            exported_at=exported_at,
            software=software_version(),
            documents=written,
            counts=counts,
            text_max_chars=text_max_chars,
        )
        if multipart:
            with open(partial, "wb") as packed:
                writer.assemble(parts.paths, packed, datasheet, signing_key)
        with open(partial, "rb+") as done:
            os.fsync(done.fileno())
        os.replace(partial, output)
    except OSError as exc:
        parts.abandon()
        raise _os_error(exc, output, partial if writer.resumable else None) from exc
    except BaseException:
        parts.abandon()
        raise
    state_path.unlink(missing_ok=True)
    shutil.rmtree(workdir, ignore_errors=True)
    digest, size = sha256_file(output)
    datasheet.files = {output.name: (digest, size)}
    readme, manifest = datasheet_paths(output)
    try:
        datasheet.write(readme, manifest)
    except OSError as exc:
        raise _os_error(exc, readme, None) from exc
    return ExportSummary(output, written, size, digest, readme, manifest, resumed_from)


def _os_error(exc: OSError, path: Path, partial: Path | None) -> ExportError:
    keep = "; the partial export is kept, free space and run again with --resume" if partial else ""
    if exc.errno == errno.ENOSPC:
        return ExportError(f"disk full while writing {path}{keep}")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return ExportError(f"cannot write {path}: permission denied")
    return ExportError(f"cannot write {path}: {exc.strerror or exc}")


def _load_state(
    path: Path, identity: dict[str, Any], writer: Writer, resume: bool, notice: Notice | None
) -> dict[str, Any] | None:
    if not resume:
        return None
    if not writer.resumable:
        if notice is not None:
            notice(f"{writer.name} exports cannot be resumed; starting again")
        return None
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if notice is not None:
            notice("nothing to resume; starting a new export")
        return None
    except ValueError as exc:
        raise ExportError(f"cannot resume: {path} is damaged ({exc}); export again") from exc
    differs = [name for name, value in identity.items() if state.get(name) != value]
    if differs:
        raise ExportError(
            f"cannot resume: the interrupted export had a different {', '.join(differs)}; "
            "give the same options, or export again without --resume"
        )
    return state


def _save_state(path: Path, state: dict[str, Any]) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(state, ensure_ascii=False), encoding="utf-8")
    os.replace(temporary, path)


def stream_export(source: DocumentSource, writer: Writer) -> Iterator[bytes]:
    """The bytes of a one-part export, batch by batch, with no file in between."""
    assert writer.parts == (DATA,)
    for _, chunk in writer.start():
        yield chunk
    for batch in source.batches():
        for _, chunk in writer.write(batch):
            yield chunk
    for _, chunk in writer.finish():
        yield chunk


__all__ = [
    "FORMATS",
    "WRITERS",
    "ExportError",
    "ExportSummary",
    "Selection",
    "datasheet_paths",
    "make_writer",
    "run_export",
    "stream_export",
    "writer_kind",
]
