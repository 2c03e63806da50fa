"""Text differences between two versions of a page.

English is compared word by word; Chinese (written without spaces) word by
word as rjieba segments it, or character by character, which shows a changed
number or name inside a word exactly.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from difflib import SequenceMatcher
from typing import Any, Literal

import rjieba

Unit = Literal["word", "char"]
# Comparing very long texts token by token is quadratic; the start is enough
# to show what changed.
MAX_TOKENS = 20_000
_WORDS = re.compile(r"\w+|\s+|[^\w\s]", re.UNICODE)
_FRAGMENT_CHARS = 200


@dataclass
class Op:
    """One step of a diff: ``equal``, ``insert``, ``delete`` or ``replace``."""

    kind: str
    old: str
    new: str


def segment(text: str, language: str | None, unit: Unit = "word") -> list[str]:
    """Split ``text`` into the tokens a diff compares (whitespace kept, so the
    tokens join back into the text)."""
    if unit == "char":
        return list(text)
    if language == "zh":
        return rjieba.cut(text)
    return _WORDS.findall(text)


def diff(old: str, new: str, language: str | None, unit: Unit = "word") -> list[Op]:
    """The steps turning ``old`` into ``new``."""
    left = segment(old, language, unit)[:MAX_TOKENS]
    right = segment(new, language, unit)[:MAX_TOKENS]
    matcher = SequenceMatcher(None, left, right, autojunk=False)
    return [
        Op(kind, "".join(left[i1:i2]), "".join(right[j1:j2]))
        for kind, i1, i2, j1, j2 in matcher.get_opcodes()
    ]


def summary(ops: list[Op], fragments: int = 5) -> dict[str, Any]:
    """What a change did, for the change log: characters removed and added, and
    the first changed fragments."""
    changed = [op for op in ops if op.kind != "equal"]
    return {
        "removed_chars": sum(len(op.old) for op in changed),
        "added_chars": sum(len(op.new) for op in changed),
        "fragments": [
            {k: v[:_FRAGMENT_CHARS] for k, v in asdict(op).items()} for op in changed[:fragments]
        ],
    }


def inline(ops: list[Op]) -> str:
    """The new text with removals as ``[-old-]`` and additions as ``{+new+}``."""
    parts = []
    for op in ops:
        if op.kind == "equal":
            parts.append(op.new)
            continue
        if op.old.strip():
            parts.append(f"[-{op.old}-]")
        if op.new.strip():
            parts.append(f"{{+{op.new}+}}")
    return "".join(parts)
