"""Relevance rules shared by every backend, so results rank alike whatever the engine."""

from __future__ import annotations

from search.analysis import has_han
from search.query import And, Node, Text

TITLE_BOOST = 3.0  # a match in the title weighs this much more than one in the body
WORD_BOOST = 2.0  # whole Chinese words, and query words found side by side


def proximity_phrase(node: Node) -> Text | None:
    """The plain words of a query as one phrase, to rank documents that have them together.

    ``human rights china`` also boosts documents containing "human rights china" verbatim,
    so an exact phrase outranks the same words scattered.
    """
    if not isinstance(node, And):
        return None
    words = [
        child.text
        for child in node.nodes
        if isinstance(child, Text)
        and not child.phrase
        and child.field is None
        and not has_han(child.text)
    ]
    return Text(" ".join(words), phrase=True) if len(words) >= 2 else None
