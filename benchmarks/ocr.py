"""OCR: character error rate by script and pages per minute per core, beside bare Tesseract.

Draws the test set of ``tests/ocrset.py`` (English, Simplified and Traditional
Chinese paragraphs from ``../shared/corpus`` at 300 and 150 dpi, clean and
"scanned") into PNG files, then reads every page, in one run and interleaved
page by page (the machine is shared: neighbouring measurements see the same load):

(v) Vestige's extraction of a submitted image (``ingest.extract.extract``: Pillow,
    the sample pass choosing the model, the reading pass, text assembly);
(t) bare ``tesseract PAGE stdout -l eng+chi_sim+chi_tra``: Tesseract's CLI with the
    same languages, as someone not knowing each page's script would run it;
(o) bare ``tesseract`` with the right model for each page's script (an oracle,
    the best one run of Tesseract can do).

Both run Tesseract single-threaded (``OMP_THREAD_LIMIT=1``), so CPU time is per
core. Pages per minute per core = pages / CPU minutes of the process and its
Tesseract children. Prints CER by script for each, pages/min/core, and the speed
ratios v/t (goal >= 0.9) and v/o.

    python benchmarks/ocr.py                # 12 short pages (3-5 lines), 2 rounds
    python benchmarks/ocr.py --rounds 1
    python benchmarks/ocr.py --full-pages --rounds 1   # 12 pages of 20-40 lines
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
os.environ["OMP_THREAD_LIMIT"] = "1"  # one core per Tesseract run, for both sides

import ocrset  # noqa: E402

from ingest.extract import extract  # noqa: E402
from ingest.extraction import Payload  # noqa: E402
from ingest.ocr import OcrOptions  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
MODELS = {"Latn": "eng", "Hans": "chi_sim", "Hant": "chi_tra"}


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the Tesseract runs)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def _bare(path: Path, languages: str) -> str:
    return subprocess.run(
        ["tesseract", str(path), "stdout", "-l", languages],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="times each page is read")
    parser.add_argument(
        "--full-pages",
        action="store_true",
        help="about a page of text per image (the model is then chosen on a quarter of it)",
    )
    args = parser.parse_args()
    options = OcrOptions()
    pages = []
    with tempfile.TemporaryDirectory(prefix="vestige-ocr-") as directory:
        for sample in ocrset.samples(CORPUS, full_pages=args.full_pages):
            for dpi in (300, 150):
                for scanned in (False, True):
                    path = Path(directory) / f"{sample.name}-{dpi}-{int(scanned)}.png"
                    path.write_bytes(ocrset.png(ocrset.render(sample, dpi, scanned=scanned)))
                    pages.append((sample, dpi, scanned, path))
        cpu: dict[str, float] = defaultdict(float)
        wall: dict[str, float] = defaultdict(float)
        errors: dict[tuple[str, str], list[float]] = defaultdict(list)
        chosen: dict[str, int] = defaultdict(int)
        phases = {
            "v": lambda sample, path: _vestige(path, options, chosen, sample),
            "t": lambda sample, path: _bare(path, options.languages),
            "o": lambda sample, path: _bare(path, MODELS[sample.script]),
        }
        for round_number in range(args.rounds):
            for number, (sample, _dpi, _scanned, path) in enumerate(pages):
                # Rotate the order so no phase always runs first (caches, load changes).
                names = list(phases)
                shift = (number + round_number) % len(names)
                for name in names[shift:] + names[:shift]:
                    start_cpu, start_wall = _cpu(), time.perf_counter()
                    text = phases[name](sample, path)
                    cpu[name] += _cpu() - start_cpu
                    wall[name] += time.perf_counter() - start_wall
                    if round_number == 0:
                        errors[name, sample.script].append(ocrset.cer(sample.text, text))
    read = len(pages) * args.rounds
    rate = {name: read / (cpu[name] / 60) for name in phases}
    labels = {"v": "vestige", "t": "tesseract (all models)", "o": "tesseract (right model)"}
    print(f"{len(pages)} pages x {args.rounds} rounds; OMP_THREAD_LIMIT=1\n")
    print(f"{'':26}{'Latn':>8}{'Hans':>8}{'Hant':>8}{'all':>8}{'pages/min/core':>16}{'wall s':>9}")
    result: dict[str, object] = {}
    for name in phases:
        by_script = {script: statistics.mean(errors[name, script]) for script in MODELS}
        overall = statistics.mean(rate for script in MODELS for rate in errors[name, script])
        print(
            f"{labels[name]:26}"
            + "".join(f"{by_script[script]:>8.3f}" for script in MODELS)
            + f"{overall:>8.3f}{rate[name]:>16.1f}{wall[name]:>9.1f}"
        )
        result[labels[name]] = {
            "cer": by_script | {"all": overall},
            "pages_per_minute_per_core": rate[name],
        }
    ratio_t, ratio_o = rate["v"] / rate["t"], rate["v"] / rate["o"]
    print(f"\nspeed v/t = {ratio_t:.2f} (goal >= 0.9)   v/o = {ratio_o:.2f}")
    print(f"models vestige chose (correct when equal to the script's): {dict(chosen)}")
    result["ratio_v_t"], result["ratio_v_o"] = ratio_t, ratio_o
    print(json.dumps(result))


def _vestige(path: Path, options: OcrOptions, chosen: dict[str, int], sample: ocrset.Sample) -> str:
    payload = Payload(
        "urn:sha256:x", path.read_bytes(), "image/png", {"filename": path.name, "trigger": "import"}
    )
    extraction = extract(payload, options)
    for detail in (extraction.ocr or {}).get("page_details", []):
        chosen[f"{sample.script}->{detail['model']}"] += 1
    return extraction.text


if __name__ == "__main__":
    main()
