"""Hostile files: every one must get a clear error within 5 s and 500 MB.

Generates a set of hostile WARC, ARC and WACZ files (gzip bombs, lines
without an end, endless headers, lying lengths, torn and corrupt gzip, empty
files, hostile WACZ packages) and imports each in its own process, after a
small good WARC in the same command: ``vestige import --no-ingest good.warc.gz
HOSTILE``. Prints per file the exit code, seconds, peak memory (max RSS of that
process), whether the good file's records were kept, the length of the longest
error line and its start; then runs ``vestige verify``. Goal: every file
answered (non-zero exit, an ``error:`` line of at most 300 characters) within
5 s and 500 MB, the good records kept, verify clean.

    python benchmarks/hostile.py               # the full set
    python benchmarks/hostile.py --only bomb   # only files whose name contains "bomb"
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Runs the CLI in a new process and reports, on stderr's last line, the seconds
# the command took after Python and Vestige were loaded, and the peak memory.
HARNESS = """
import resource, sys, time
from api.cli import main
loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
started = time.perf_counter()
code = 0
try:
    main()
except SystemExit as exit:
    code = exit.code if isinstance(exit.code, int) else 1
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"HARNESS {time.perf_counter() - started:.3f} {loaded:.0f} {peak:.0f}", file=sys.stderr)
sys.exit(code)
"""
MiB = 1024 * 1024
GOAL_SECONDS, GOAL_MB, GOAL_CHARS = 5.0, 500, 300
WACZ_PACKAGE = json.dumps({"profile": "data-package", "resources": []}).encode()


def record(
    url: str,
    body: bytes = b"",
    *,
    status_line: bytes = b"HTTP/1.1 200 OK",
    length: bytes | None = None,
    extra: bytes = b"",
) -> bytes:
    """One WARC response record (``length``, if given, may lie about the block)."""
    http = status_line + b"\r\nContent-Type: text/plain\r\n\r\n" + body
    head = (
        b"WARC/1.0\r\nWARC-Type: response\r\n"
        b"WARC-Record-ID: <urn:uuid:%s>\r\n"
        b"WARC-Date: 2024-01-02T03:04:05Z\r\nWARC-Target-URI: %s\r\n"
        b"Content-Type: application/http; msgtype=response\r\n%s"
        b"Content-Length: %s\r\n\r\n"
    ) % (
        str(uuid.uuid5(uuid.NAMESPACE_URL, url)).encode(),
        url.encode(),
        extra,
        length or str(len(http)).encode(),
    )
    return head + http + b"\r\n\r\n"


def gzip_stream(chunks: Iterator[bytes]) -> bytes:
    """One gzip member of ``chunks`` (compressed as they come: GiBs in little memory)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = bytearray()
    for chunk in chunks:
        out += packer.compress(chunk)
    return bytes(out + packer.flush())


def repeat(block: bytes, total: int) -> Iterator[bytes]:
    """``block`` repeated to ``total`` bytes, one MiB at a time."""
    piece = block * (MiB // len(block))
    for _ in range(total // len(piece)):
        yield piece


def wacz(path: Path, members: dict[str, bytes | Callable[[], Iterator[bytes]]]) -> None:
    """A WACZ (zip) with ``members``; a callable member is streamed in, deflated."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as package:
        for name, content in members.items():
            if isinstance(content, bytes):
                package.writestr(name, content)
                continue
            with package.open(name, "w", force_zip64=True) as member:
                for chunk in content():
                    member.write(chunk)


def hostile_files(folder: Path) -> list[Path]:
    """Write the hostile set into ``folder``; return the paths."""
    rng = random.Random(20)
    zeros_1g = gzip_stream(repeat(b"\0", 1024 * MiB))
    made: dict[str, bytes] = {
        # 1 MB of gzip expanding to 1 GiB of zeros, not a WARC
        "gzip-bomb-zeros.warc.gz": zeros_1g,
        "gzip-bomb-newlines.warc.gz": gzip_stream(repeat(b"\n", 1024 * MiB)),
        "gzip-bomb-spaces.warc.gz": gzip_stream(repeat(b" ", 1024 * MiB)),
        "gzip-bomb-nested.warc.gz": gzip.compress(zeros_1g),
        # a record header that never ends
        "endless-header-lines.warc.gz": gzip_stream(
            iter([b"WARC/1.0\r\n", *repeat(b"X-Padding: aaaaaaaa\r\n", 1024 * MiB)])
        ),
        "endless-header-value.warc.gz": gzip_stream(
            iter([b"WARC/1.0\r\nWARC-Type: ", *repeat(b"a", 512 * MiB)])
        ),
        # an HTTP head inside a record that never ends (the record is well-formed)
        "endless-http-head.warc.gz": gzip.compress(
            record("http://hostile.example/head", status_line=b"HTTP/1.1 200 " + b"O" * 64 * MiB)
        ),
        "random-bytes.warc.gz": rng.randbytes(64 * 1024),
        "random-bytes.warc": rng.randbytes(64 * 1024),
        "terminal-escapes.warc": b"\x1b[2J\x1b]0;owned\x07" + rng.randbytes(300) + b"\n",
        "zeros.warc": bytes(32 * MiB),
        "empty.warc": b"",
        "empty.warc.gz": b"",
        "empty-gzip-member.warc.gz": gzip.compress(b""),
        "many-empty-members.warc.gz": gzip.compress(b"") * 50_000,
        "length-lies-huge.warc": record("http://hostile.example/huge", b"x", length=b"9" * 15),
        "length-not-a-number.warc": record("http://hostile.example/nan", b"x", length=b"-7e9"),
        "torn.warc.gz": gzip.compress(record("http://hostile.example/torn", rng.randbytes(9000)))[
            :-2000
        ],
        "corrupt-gzip.warc.gz": corrupt(gzip.compress(record("http://h.example/c", bytes(9000)))),
        "bad-digest.warc": record(
            "http://hostile.example/digest",
            b"body",
            extra=b"WARC-Block-Digest: sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n",
        ),
        "arc-endless-line.arc.gz": gzip_stream(
            iter([b"filedesc://x.arc 0.0.0.0 20240102030405 text/plain ", *repeat(b"9", 256 * MiB)])
        ),
        "random-bytes.wacz": rng.randbytes(4096),
    }
    for name, data in made.items():
        (folder / name).write_bytes(data)
    wacz(
        folder / "wacz-zeros-member.wacz",
        {"datapackage.json": WACZ_PACKAGE, "archive/data.warc": lambda: repeat(b"\0", 200 * MiB)},
    )
    wacz(
        folder / "wacz-gzip-bomb.wacz",
        {"datapackage.json": WACZ_PACKAGE, "archive/data.warc.gz": zeros_1g},
    )
    wacz(
        folder / "wacz-datapackage-bomb.wacz",
        {"datapackage.json": lambda: repeat(b" ", 1024 * MiB)},
    )
    wacz(
        folder / "wacz-unsafe-names.wacz",
        {
            "datapackage.json": WACZ_PACKAGE,
            "archive/../../escape.warc": record("http://hostile.example/escape", b"x"),
            "/archive/absolute.warc": record("http://hostile.example/absolute", b"x"),
        },
    )
    wacz(folder / "wacz-no-datapackage.wacz", {"archive/data.warc": b"WARC/1.0\r\n"})
    return sorted(folder.iterdir())


def corrupt(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes(b ^ 0x5A for b in data[middle : middle + 64]) + data[middle + 64 :]


@dataclass
class Run:
    """One ``vestige`` command in its own process."""

    code: int
    seconds: float  # the command, after Python and Vestige were loaded
    total_seconds: float  # the process, start to exit
    loaded_mb: float  # max RSS once loaded
    peak_mb: float  # max RSS of the process
    stdout: str
    stderr: str


def run(args: list[str], env: dict[str, str]) -> Run:
    """Run ``vestige ARGS`` in a new process."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", HARNESS, *args], capture_output=True, env=env, cwd=ROOT
    )
    total = time.perf_counter() - started
    stderr = done.stderr.decode(errors="replace")
    stderr, _, figures = stderr.rstrip("\n").rpartition("\n")
    _, seconds, loaded, peak = figures.split()
    stdout = done.stdout.decode(errors="replace")
    return Run(done.returncode, float(seconds), total, float(loaded), float(peak), stdout, stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="only files whose name contains this")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        work_dir = Path(work)
        hostile = work_dir / "hostile"
        hostile.mkdir()
        started = time.perf_counter()
        paths = [p for p in hostile_files(hostile) if args.only in p.name]
        print(f"generated {len(paths)} hostile files in {time.perf_counter() - started:.1f} s")
        env = {**os.environ, "VESTIGE_HOME": str(work_dir / "home"), "PYTHONPATH": str(ROOT)}
        columns = ("file", "bytes", "exit", "s", "total s", "MB", "+MB", "kept", "chars")
        print("{:<28} {:>10} {:>4} {:>5} {:>7} {:>4} {:>4} {:>4} {:>5}  error".format(*columns))
        failures = []
        for number, path in enumerate(paths):
            good = work_dir / f"good-{number}.warc.gz"
            good.write_bytes(gzip.compress(record(f"http://good.example/{number}", b"good")))
            done = run(["import", "--no-ingest", str(good), str(path)], env)
            errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
            longest = max((len(line.removeprefix("error: ")) for line in errors), default=0)
            # exit 2: refused before anything of the command was stored (by design)
            kept = f"{good}: 1 records imported" in done.stdout
            kept_text = "yes" if kept else ("n/a" if done.code == 2 else "NO")
            ok = (
                done.code != 0
                and errors
                and longest <= GOAL_CHARS
                and done.seconds <= GOAL_SECONDS
                and done.peak_mb <= GOAL_MB
                and kept_text != "NO"
            )
            if not ok:
                failures.append(path.name)
            first = errors[0].replace(str(path), "FILE")[7:77] if errors else done.stderr[-70:]
            print(
                f"{path.name:<28} {path.stat().st_size:>10,} {done.code:>4} {done.seconds:>5.2f} "
                f"{done.total_seconds:>7.1f} {done.peak_mb:>4.0f} "
                f"{done.peak_mb - done.loaded_mb:>4.0f} {kept_text:>4} {longest:>5}  "
                f"{first}{'' if ok else '  <-- FAIL'}"
            )
        verified = run(["verify"], env)
        print(f"vestige verify: exit {verified.code}: {verified.stdout.strip().splitlines()[-1]}")
        print(
            f"{len(paths) - len(failures)} of {len(paths)} hostile files answered within "
            f"{GOAL_SECONDS:g} s and {GOAL_MB} MB, good records kept"
            + (f"; FAILED: {', '.join(failures)}" if failures else "")
        )
        print("(s: the command after Python and Vestige loaded; total s: the whole process)")
        if failures or verified.code != 0:
            sys.exit(1)


if __name__ == "__main__":
    main()
