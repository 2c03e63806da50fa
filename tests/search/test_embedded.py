"""The embedded engine's own upkeep: what the shared behaviour tests cannot see."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from search.embedded import EmbeddedBackend
from search.models import IndexDocument
from search.query import parse

COMMITS = 40


def _segments(root: Path) -> int:
    generation = (root / "CURRENT").read_text().strip()
    return len(json.loads((root / generation / "meta.json").read_text())["segments"])


def test_segments_of_many_small_commits_are_merged(tmp_path):
    # The service indexes each capture on its own: one commit, one new segment each time.
    # Unmerged, they would pile up and every search would walk all of them.
    root = tmp_path / "index"
    for number in range(1, COMMITS + 1):
        backend = EmbeddedBackend(root)
        backend.index(
            [
                IndexDocument(
                    id=f"capture{number}",
                    url=f"https://example.org/{number}",
                    collection="default",
                    captured=datetime(2024, 1, 1),
                    language="en",
                    script="Latn",
                    text=f"Witness statement number {number}.",
                    seq=number,
                )
            ]
        )
        backend.commit(checkpoint=number)
        backend.close()
    assert _segments(root) < 8
    backend = EmbeddedBackend(root)
    try:
        assert backend.search(parse("witness")).total == COMMITS
        assert backend.checkpoint() == COMMITS
    finally:
        backend.close()
