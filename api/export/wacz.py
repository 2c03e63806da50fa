"""WACZ 1.1.1 packages: the captures, their index and page list; bundles add the dataset.

A WACZ is a ZIP holding ``archive/data.warc.gz`` (the records, copied as the WARC
export copies them), ``indexes/index.cdxj`` (sorted CDXJ of the copied records),
``pages/pages.jsonl`` (one page per document), ``datapackage.json`` (every file
with its SHA-256 and size) and ``datapackage-digest.json`` (the hash of
``datapackage.json``, and with ``--sign`` an anonymous ECDSA P-256 signature of
that hash, as the WACZ signing specification describes).

A bundle is a WACZ that also carries the text dataset (``dataset/documents.jsonl``
and ``dataset/documents.parquet``) and its datasheet (``dataset/README.md``,
``dataset/manifest.json``): what was archived, what was extracted, and the
provenance linking them, in one file.

The parts are written into a work folder as the export runs (so an interrupted
export resumes), then packed; the CDXJ is sorted on disk in bounded memory.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from api.export.datasheet import Datasheet, sha256_file
from api.export.formats import Chunk, JsonLines, Writer, WriterOptions, jsonl_to_parquet
from api.export.selection import BATCH, ExportDocument
from api.export.warc import Warc
from archive.catalog import Record
from archive.cdxj import cdxj_line
from archive.repository import Repository

WACZ_VERSION = "1.1.1"
SIGNATURE_VERSION = "0.1.0"  # WACZ Signing and Verification, anonymous signature
WARC_NAME = "data.warc.gz"
ARCHIVE, INDEX, PAGES, DOCUMENTS = "archive", "index", "pages", "documents"
_PATHS = {
    ARCHIVE: f"archive/{WARC_NAME}",
    INDEX: "indexes/index.cdxj",
    PAGES: "pages/pages.jsonl",
    DOCUMENTS: "dataset/documents.jsonl",
}
_SORT_CHUNK = 10_000  # CDXJ lines sorted in memory at a time (bounds memory)


class Wacz(Writer):
    """A replayable WACZ of the selected captures."""

    name = "wacz"
    extension = ".wacz"
    media_type = "application/wacz"
    parts: tuple[str, ...] = (ARCHIVE, INDEX, PAGES)
    signable = True

    def __init__(self, fields: list[str], repository: Repository) -> None:
        super().__init__(fields)
        self.warc = Warc(fields, repository)

    @classmethod
    def create(cls, fields: list[str], options: WriterOptions) -> Writer:
        return cls(fields, options.repository)

    def state(self) -> dict[str, Any]:
        return self.warc.state()

    def restore(self, state: dict[str, Any]) -> None:
        self.warc.restore(state)

    def start(self) -> Iterator[Chunk]:
        header = {"format": "json-pages-1.0", "id": "pages", "title": "All Pages"}
        yield PAGES, (json.dumps(header) + "\n").encode()

    def write(self, batch: list[ExportDocument]) -> Iterator[Chunk]:
        for _, chunk in self.warc.write(batch):
            yield ARCHIVE, chunk
        lines = [
            cdxj_line(_exported(copied.row, copied.offset, copied.length)) + "\n"
            for copied in self.warc.copied
        ]
        yield INDEX, "".join(lines).encode()
        pages = [
            json.dumps(
                {
                    "id": document.id,
                    "url": document.final_url,
                    "ts": document.captured.isoformat() + "Z",
                    "title": document.title or document.final_url,
                },
                ensure_ascii=False,
            )
            + "\n"
            for document in batch
        ]
        yield PAGES, "".join(pages).encode()

    def extra_files(
        self, parts: dict[str, Path], workdir: Path, datasheet: Datasheet
    ) -> dict[str, Path]:
        """Further files to pack (the bundle's dataset), by path inside the package."""
        return {}

    def assemble(
        self,
        parts: dict[str, Path],
        out: BinaryIO,
        datasheet: Datasheet,
        signing_key: ec.EllipticCurvePrivateKey | None = None,
    ) -> None:
        """Pack the parts (and extra files) into a WACZ written to ``out``, signed with
        ``signing_key`` if given."""
        workdir = parts[ARCHIVE].parent
        index = workdir / "index.sorted.cdxj"
        with open(index, "wb") as sorted_out:
            for line in sorted_lines(parts[INDEX], workdir):
                sorted_out.write(line)
        files = {_PATHS[ARCHIVE]: parts[ARCHIVE], _PATHS[INDEX]: index, _PATHS[PAGES]: parts[PAGES]}
        extra = self.extra_files(parts, workdir, datasheet)
        files |= extra
        created = datasheet.exported_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        resources = []
        for path, source in files.items():
            digest, size = sha256_file(source)
            name = path.rsplit("/", 1)[1].lower()
            resource = {"name": name, "path": path, "hash": f"sha256:{digest}", "bytes": size}
            if path in extra:
                # Plain files to data package tools: checked by hash, not parsed as tables.
                resource["type"] = "file"
            resources.append(resource)
        package = {
            "profile": "data-package",
            "resources": resources,
            "wacz_version": WACZ_VERSION,
            "software": datasheet.software,
            "created": created,
            "title": f"Vestige export: {datasheet.selection.summary()}",
        }
        package_bytes = (json.dumps(package, ensure_ascii=False, indent=2) + "\n").encode()
        package_hash = "sha256:" + hashlib.sha256(package_bytes).hexdigest()
        digest_file: dict[str, Any] = {"path": "datapackage.json", "hash": package_hash}
        if signing_key is not None:
            digest_file["signedData"] = sign_hash(
                package_hash, created, datasheet.software, signing_key
            )
        moment = datasheet.exported_at.timetuple()[:6]
        with zipfile.ZipFile(out, "w", allowZip64=True) as package_zip:
            for path, source in files.items():
                # WARCs are stored uncompressed (they are gzip already) so replay can seek.
                method = zipfile.ZIP_STORED if path.startswith("archive/") else zipfile.ZIP_DEFLATED
                info = _info(path, moment, method)
                target = package_zip.open(info, "w", force_zip64=True)
                with open(source, "rb") as src, target:
                    shutil.copyfileobj(src, target, 1 << 20)
            package_zip.writestr(_info("datapackage.json", moment), package_bytes)
            digest_bytes = json.dumps(digest_file, indent=2) + "\n"
            package_zip.writestr(_info("datapackage-digest.json", moment), digest_bytes)


class Bundle(Wacz):
    """A WACZ that also holds the text dataset (JSONL and Parquet) and its datasheet."""

    name = "bundle"
    parts = (ARCHIVE, INDEX, PAGES, DOCUMENTS)

    def __init__(self, fields: list[str], repository: Repository) -> None:
        super().__init__(fields, repository)
        self.jsonl = JsonLines(fields)

    def write(self, batch: list[ExportDocument]) -> Iterator[Chunk]:
        yield from super().write(batch)
        for _, chunk in self.jsonl.write(batch):
            yield DOCUMENTS, chunk

    def extra_files(
        self, parts: dict[str, Path], workdir: Path, datasheet: Datasheet
    ) -> dict[str, Path]:
        parquet = workdir / "documents.parquet"
        with open(parts[DOCUMENTS], "rb") as lines, open(parquet, "wb") as out:
            for chunk in jsonl_to_parquet(lines, self.fields, BATCH):
                out.write(chunk)
        dataset = {
            _PATHS[DOCUMENTS]: parts[DOCUMENTS],
            "dataset/documents.parquet": parquet,
        }
        datasheet.files = {path: sha256_file(source) for path, source in dataset.items()}
        readme, manifest = workdir / "README.md", workdir / "manifest.json"
        datasheet.write(readme, manifest)
        return dataset | {"dataset/README.md": readme, "dataset/manifest.json": manifest}


def _info(path: str, moment: tuple, method: int = zipfile.ZIP_DEFLATED) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(path, moment)
    info.compress_type = method
    info.external_attr = 0o644 << 16
    return info


def _exported(row: Record, offset: int, length: int) -> Record:
    """A copy of ``row`` describing where it lies in the exported WARC."""
    return Record(
        record_id=row.record_id,
        record_type=row.record_type,
        url=row.url,
        surt=row.surt,
        timestamp=row.timestamp,
        status=row.status,
        mime=row.mime,
        payload_digest=row.payload_digest,
        warc_file=WARC_NAME,
        offset=offset,
        length=length,
    )


def sorted_lines(path: Path, workdir: Path) -> Iterator[bytes]:
    """The lines of ``path`` in byte order, sorted in runs on disk (bounded memory)."""
    with ExitStack() as stack, open(path, "rb") as source:
        runs: list[BinaryIO] = []
        while True:
            chunk = [line for _, line in zip(range(_SORT_CHUNK), source, strict=False)]
            if not chunk:
                break
            chunk.sort()
            run = stack.enter_context(tempfile.TemporaryFile(dir=workdir))
            run.writelines(chunk)
            run.seek(0)
            runs.append(run)
        yield from heapq.merge(*runs)


# -- signing ---------------------------------------------------------------------------


def load_or_create_key(path: Path) -> tuple[ec.EllipticCurvePrivateKey, bool]:
    """The ECDSA P-256 key in ``path`` (PEM), created (mode 0600) if missing; whether new."""
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ValueError(f"{path} is not an ECDSA P-256 private key")
        return key, False
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return key, True


def public_key_b64(key: ec.EllipticCurvePublicKey) -> str:
    """Base64 of the DER SubjectPublicKeyInfo, as ``publicKey`` in signed WACZs."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode("ascii")


def fingerprint(public_key_b64_text: str) -> str:
    """SHA-256 of the DER public key, hex, for people to compare keys."""
    return hashlib.sha256(base64.b64decode(public_key_b64_text)).hexdigest()


def sign_hash(
    package_hash: str, created: str, software: str, key: ec.EllipticCurvePrivateKey
) -> dict[str, str]:
    """The anonymous ``signedData``: an ECDSA P-256/SHA-256 signature of the hash string."""
    signature = key.sign(package_hash.encode("ascii"), ec.ECDSA(hashes.SHA256()))
    return {
        "hash": package_hash,
        "created": created,
        "software": software,
        "version": SIGNATURE_VERSION,
        "signature": base64.b64encode(signature).decode("ascii"),
        "publicKey": public_key_b64(key.public_key()),
    }


# -- verifying -------------------------------------------------------------------------


@dataclass
class Verification:
    """What ``verify-export`` found: problems (empty when valid) and the signature."""

    files: int = 0
    problems: list[str] = field(default_factory=list)
    signed: bool = False
    public_key: str | None = None  # base64 DER, when signed

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_package(path: Path, expected_key: str | None = None) -> Verification:
    """Check a WACZ or bundle: every file's SHA-256 and size, the package digest, the signature.

    ``expected_key`` (base64 DER, or a PEM public key's text) makes a valid
    signature by any other key a problem.
    """
    result = Verification()
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        result.problems.append(f"not a readable ZIP package: {exc}")
        return result
    with archive:
        names = set(archive.namelist())
        for required in ("datapackage.json", "datapackage-digest.json"):
            if required not in names:
                result.problems.append(f"{required} is missing")
        if result.problems:
            return result
        package_bytes = archive.read("datapackage.json")
        try:
            package = json.loads(package_bytes)
            digest = json.loads(archive.read("datapackage-digest.json"))
        except ValueError as exc:
            result.problems.append(f"unreadable package description: {exc}")
            return result
        actual = "sha256:" + hashlib.sha256(package_bytes).hexdigest()
        if digest.get("hash") != actual:
            result.problems.append("datapackage.json does not match datapackage-digest.json")
        listed = set()
        for resource in package.get("resources", []):
            member = resource.get("path", "")
            listed.add(member)
            if member not in names:
                result.problems.append(f"{member}: listed but missing")
                continue
            hasher, size = hashlib.sha256(), 0
            with archive.open(member) as fh:
                while chunk := fh.read(1 << 20):
                    hasher.update(chunk)
                    size += len(chunk)
            result.files += 1
            if resource.get("hash") != f"sha256:{hasher.hexdigest()}":
                result.problems.append(f"{member}: SHA-256 differs from datapackage.json")
            if resource.get("bytes") != size:
                result.problems.append(f"{member}: size differs from datapackage.json")
        for member in sorted(names - listed - {"datapackage.json", "datapackage-digest.json"}):
            if not member.endswith("/"):
                result.problems.append(f"{member}: not listed in datapackage.json")
        signed = digest.get("signedData")
        if signed:
            result.signed = True
            result.problems += _check_signature(signed, actual, package, expected_key)
            result.public_key = signed.get("publicKey")
        elif expected_key:
            result.problems.append("the package is not signed")
    return result


def _check_signature(
    signed: dict[str, Any], actual: str, package: dict[str, Any], expected_key: str | None
) -> list[str]:
    if signed.get("hash") != actual:
        return ["the signed hash is not the hash of datapackage.json"]
    if signed.get("created") != package.get("created"):
        return ["the signature's creation time differs from the package's"]
    try:
        der = base64.b64decode(signed["publicKey"], validate=True)
        public_key = serialization.load_der_public_key(der)
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            return ["the signing key is not an ECDSA key"]
        public_key.verify(
            base64.b64decode(signed["signature"], validate=True),
            signed["hash"].encode("ascii"),
            ec.ECDSA(hashes.SHA256()),
        )
    except InvalidSignature:
        return ["the signature does not match (the package was changed after signing)"]
    except (KeyError, ValueError, TypeError) as exc:
        return [f"unreadable signature: {exc}"]
    if expected_key:
        expected = _normalise_key(expected_key)
        if expected != signed["publicKey"]:
            return ["signed by a different key than the one expected"]
    return []


def _normalise_key(text: str) -> str:
    """Base64 DER of a public key given as PEM text or as base64 DER."""
    if "BEGIN PUBLIC KEY" in text:
        key = serialization.load_pem_public_key(text.encode("ascii"))
        assert isinstance(key, ec.EllipticCurvePublicKey)
        return public_key_b64(key)
    return text.strip()
