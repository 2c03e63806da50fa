"""Metadata accuracy (title, author, date, site) on the corpus pages with ground truth.

Compares Vestige's extraction (``ingest.extract``) with trafilatura alone
(``bare_extraction(with_metadata=True)``, its title, author, date and sitename) on
the pages of ``../shared/corpus`` whose ground truth gives metadata:

- ``zh/taiwanese-news``: title, author, publisher, publication time (spec assertions);
- ``zh/cwced``: author and date (human-annotated; ``UNKNOWN``: the page gives none,
  right when none is extracted);
- ``*/newspaper4k``: title, authors, publication date (tool references);
- ``*/readability``: title, byline, site name, publication time (tool references).

A field counts as right when the value matches the truth after normalising spaces and
case: a title equal to the truth, any extracted author equal to (or containing, or
contained in) a true one, a date with the same day, a site equal to the truth. Only
pages whose truth gives the field count for it. Prints, per group and overall, the
share right for each field and tool, and with ``--wrong`` the misses.

    python benchmarks/metadata.py
    python benchmarks/metadata.py --group taiwanese-news --wrong
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
sys.path.insert(0, str(ROOT))

import trafilatura  # noqa: E402

from ingest.extract import extract  # noqa: E402
from ingest.extraction import Payload  # noqa: E402

FIELDS = ("title", "author", "date", "site")
# CWCED's ground truth for a page that gives no author or date: right when none is found.
NONE_KNOWN = "UNKNOWN"


@dataclass
class Truth:
    """A ground-truth page: where it is, its URL, and the metadata known for it."""

    group: str
    path: Path
    url: str
    values: dict[str, list[str]] = field(default_factory=dict)  # field -> accepted values


def _listed(value: object) -> list[str]:
    if isinstance(value, list):
        return [str(item) for item in value if item]
    return [str(value)] if value else []


def truths() -> Iterator[Truth]:
    """Every corpus page whose ground truth gives at least one metadata field."""
    manifest = (CORPUS / "manifest.jsonl").read_text(encoding="utf-8")
    pages = [json.loads(line) for line in manifest.splitlines()]
    by_path = {page["path"]: page for page in pages}
    taiwan = json.loads((CORPUS / "zh/taiwanese-news/ground-truth.json").read_text("utf-8"))
    for page in pages:
        path = page["path"]
        if page.get("kind") == "ground_truth" and path.startswith("zh/cwced/"):
            original = by_path.get(page["for"], {})
            name = {"text-author": "author", "text-date": "date"}.get(page.get("format", ""))
            text = (CORPUS / path).read_text("utf-8").strip()
            if name and text:
                yield Truth(
                    "cwced", CORPUS / page["for"], original.get("url") or "", {name: [text]}
                )
            continue
        if page.get("kind") != "page" or not page.get("has_ground_truth"):
            continue
        values: dict[str, list[str]] = {}
        group = path.split("/")[1]
        if group == "taiwanese-news":
            known = taiwan.get(Path(path).name, {})
            values = {
                "title": _listed(known.get("title")),
                "author": _listed(known.get("author")),
                "site": _listed(known.get("publisher")),
                "date": _listed(known.get("published_at")),
            }
        for truth in page.get("ground_truth", []):
            if truth["format"] == "json-metadata":
                known = json.loads((CORPUS / truth["path"]).read_text("utf-8"))
                values = {
                    "title": _listed(known.get("title")),
                    "author": _listed(known.get("authors")),
                    "date": _listed(known.get("publish_date")),
                }
        expected = CORPUS / Path(path).parent / "expected-metadata.json"
        if group == "readability" and expected.is_file():
            known = json.loads(expected.read_text("utf-8"))
            values = {
                "title": _listed(known.get("title")),
                "author": _listed(known.get("byline")),
                "site": _listed(known.get("siteName")),
                "date": _listed(known.get("publishedTime")),
            }
        values = {name: found for name, found in values.items() if found}
        if values:
            yield Truth(
                f"{path.split('/')[0]}/{group}", CORPUS / path, page.get("url") or "", values
            )


def _norm(text: str) -> str:
    return " ".join(text.split()).lower()


def _day(text: str) -> str | None:
    match = re.search(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})", text)
    return f"{match[1]}-{int(match[2]):02d}-{int(match[3]):02d}" if match else None


def right(name: str, found: list[str], truth: list[str]) -> bool:
    """Whether the extracted values of a field match its ground truth."""
    if truth == [NONE_KNOWN]:  # CWCED: the page gives no author (or date)
        return not [value for value in found if value]
    if name == "date":
        days = {_day(value) for value in truth} - {None}
        return any(_day(value) in days for value in found)
    wanted = [_norm(value) for value in truth]
    got = [_norm(value) for value in found if value]
    if name == "author":
        return any(g == w or (len(g) > 1 and (g in w or w in g)) for g in got for w in wanted)
    return any(g in wanted for g in got)


def vestige(truth: Truth, html: bytes) -> dict[str, list[str]]:
    result = extract(Payload(url=truth.url or "http://example.com/", body=html,
                             content_type="text/html", metadata={}))  # fmt: skip
    return {
        "title": _listed(result.title),
        "author": list(result.authors),
        "date": _listed(result.published),
        "site": _listed(result.site),
    }


def trafilatura_alone(truth: Truth, html: bytes) -> dict[str, list[str]]:
    found = trafilatura.bare_extraction(
        html, url=truth.url or None, with_metadata=True, include_comments=True
    )
    meta = {} if found is None else found.as_dict()
    authors = [part.strip() for part in re.split(r";", meta.get("author") or "") if part.strip()]
    return {
        "title": _listed(meta.get("title")),
        "author": authors,
        "date": _listed(meta.get("date")),
        "site": _listed(meta.get("sitename")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--group", help="Only this group (e.g. taiwanese-news).")
    parser.add_argument("--wrong", action="store_true", help="Print Vestige's misses.")
    args = parser.parse_args()
    # (group, field, tool) -> [right, total]
    scores: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    for truth in truths():
        if args.group and not truth.group.endswith(args.group):
            continue
        html = truth.path.read_bytes()
        results = {}
        for tool, run in (("vestige", vestige), ("trafilatura", trafilatura_alone)):
            try:
                results[tool] = run(truth, html)
            except Exception as exc:  # a page one tool cannot read counts as wrong
                results[tool] = {name: [f"error: {exc}"] for name in FIELDS}
        for name, expected in truth.values.items():
            for tool, found in results.items():
                ok = right(name, found[name], expected)
                for group in (truth.group, "all"):
                    scores[(group, name, tool)][0] += ok
                    scores[(group, name, tool)][1] += 1
                if args.wrong and tool == "vestige" and not ok:
                    print(f"  {truth.path.relative_to(CORPUS)} {name}: {found[name]} != {expected}")
    groups = sorted({group for group, _, _ in scores}, key=lambda g: (g == "all", g))
    print(f"{'group':<26}{'field':<8}{'n':>4}  {'vestige':>8}  {'trafilatura':>11}")
    for group in groups:
        for name in FIELDS:
            if (group, name, "vestige") not in scores:
                continue
            ours, total = scores[(group, name, "vestige")]
            theirs, _ = scores[(group, name, "trafilatura")]
            print(f"{group:<26}{name:<8}{total:>4}  {ours / total:>8.0%}  {theirs / total:>11.0%}")


if __name__ == "__main__":
    main()
