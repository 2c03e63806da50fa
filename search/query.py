"""The search query language, parsed into a small typed tree shared by every backend.

Syntax::

    organ transplant          every word must match
    "organ harvesting"        an exact phrase
    -rumour                   must not match
    Falun OR 法轮功            either side matches (binds tighter than the implicit AND)
    lang:zh site:bbc.com collection:reports title:tribunal title:"china tribunal"
    Kilgour zh:乔高            your own translation of the word before it (zh: or en:)
    after:2020-01-01 before:2021  dates: after is inclusive, before is exclusive
    has:retraction role:primary   relations (see search.provenance)

Malformed queries raise :class:`QuerySyntaxError` with a message meant for the user.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from ingest.story import ORDER as ROLES
from search.analysis import has_han
from search.models import HAS, publisher_key

__all__ = [
    "FIELDS",
    "KNOWN_VALUES",
    "All",
    "And",
    "DateRange",
    "Expanded",
    "Filter",
    "Node",
    "Not",
    "Or",
    "QuerySyntaxError",
    "Text",
    "Translation",
    "conjoin",
    "filters",
    "parse",
]


# The only values these fields take (see search.provenance).
KNOWN_VALUES = {"has": HAS, "role": ROLES}


class QuerySyntaxError(ValueError):
    """The query cannot be parsed; the message says why, for the user."""


@dataclass(frozen=True)
class Text:
    """A word, or an exact phrase, that must match.

    ``field`` is None (anywhere) or 'title'; 'zh'/'en' mark a user's own translation of the
    word before it (see search.translate), 'pinyin' a spelling of Han syllables
    (``"lu shu ping"``) that search.translate derives. ``weight`` scales its score: the
    translated part of a query weighs less than the original.
    """

    text: str
    phrase: bool = False
    field: str | None = None
    weight: float = 1.0


@dataclass(frozen=True)
class Filter:
    """An exact-value restriction: ``lang``, ``site``, ``publisher``, ``collection``, ``has``
    or ``role``."""

    field: str
    value: str


@dataclass(frozen=True)
class DateRange:
    """Documents dated on or after ``start`` and before ``end`` (either may be open)."""

    start: date | None = None
    end: date | None = None


@dataclass(frozen=True)
class Not:
    node: Node


@dataclass(frozen=True)
class And:
    nodes: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    """At least ``minimum`` of ``nodes`` match (one, unless search.translate relaxes a
    translation to all terms but one)."""

    nodes: tuple[Node, ...]
    minimum: int = 1


@dataclass(frozen=True)
class All:
    """Every document (the empty query)."""


@dataclass(frozen=True)
class Translation:
    """How one query term was translated (see search.translate): ``alternatives`` are the
    words searched in ``language``, ``pinyin`` the syllable spellings searched as a name;
    ``source`` where they come from: ``cc-cedict``, ``names`` (Vestige's names table),
    ``pinyin`` (spelled out) or ``yours`` (the query's own zh:/en:)."""

    term: str
    language: str
    alternatives: tuple[str, ...] = ()
    pinyin: tuple[str, ...] = ()
    source: str = "cc-cedict"


@dataclass(frozen=True)
class Expanded:
    """A query and its translations: a document matches the original or any translation.

    Engines rank the original as usual (``translated`` carry their lower weight on their
    ``Text`` nodes); ``terms`` say how each term was translated, for explaining hits.
    """

    original: Node
    translated: tuple[Node, ...]
    terms: tuple[Translation, ...] = ()


Node = Text | Filter | DateRange | Not | And | Or | All | Expanded

# field name -> what it restricts; ``title`` searches text, the others are exact filters.
FIELDS = {
    "lang": "language code such as en or zh",
    "site": "domain of the page's URL such as bbc.com (subdomains included)",
    "publisher": 'site name the page gives, e.g. publisher:聯合新聞網 or publisher:"BBC News"',
    "collection": "collection name",
    "title": "words or a quoted phrase in the title",
    "zh": "your own Chinese translation of the word before it (Kilgour zh:乔高)",
    "en": "your own English translation of the word before it (乔高 en:Kilgour)",
    "after": "date YYYY[-MM[-DD]], inclusive",
    "before": "date YYYY[-MM[-DD]], exclusive",
    "has": "what others say about it: " + ", ".join(HAS),
    "role": "what it is in its story: " + ", ".join(ROLES),
}

MAX_LENGTH = 2000  # characters; longer input is not a query a person typed
MAX_TERMS = 64

_FIELD = re.compile(r"([A-Za-z_]+):")
_DATE = re.compile(r"(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?")
_LANG = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]+)*")
_COLLECTION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_SITE = re.compile(r"[^\s/:@]+")

# The syntax as JSON Schema patterns (ECMA-262 and Python alike), for the API's OpenAPI
# document: every query they match parses. A subset of what :func:`parse` takes: field
# names in lower case, tokens apart by spaces, sites and collections in ASCII.
LANG_PATTERN = r"[a-z]{2,3}(-[a-z0-9]+)*"
SITE_PATTERN = r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+"
COLLECTION_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]*"
DATE_PATTERN = r"[1-9][0-9]{3}(-(0?[1-9]|1[0-2])(-(0?[1-9]|1[0-9]|2[0-8]))?)?"
_PHRASE_PATTERN = r'"[^"]*[^\s"][^"]*"'
_WORD_PATTERN = r'[^\s":O-][^\s":]*|O([^\s":R][^\s":]*)?|OR[^\s":]+'  # not OR, no field:
_TEXT_PATTERN = rf'[^\s"]+|{_PHRASE_PATTERN}'
_VALUE_PATTERNS = {
    "lang": LANG_PATTERN,
    "site": SITE_PATTERN,
    "publisher": _TEXT_PATTERN,
    "collection": COLLECTION_PATTERN,
    "title": _TEXT_PATTERN,
    "after": DATE_PATTERN,
    "before": DATE_PATTERN,
    "has": "|".join(HAS),
    "role": "|".join(ROLES),
}
_TERM_PATTERN = "-?({})".format(
    "|".join(
        [_WORD_PATTERN, _PHRASE_PATTERN]
        + [f"{field}:({value})" for field, value in _VALUE_PATTERNS.items()]
    )
)
# At most 21 terms, with OR or '-': 62 tokens of the 64 a query may have.
QUERY_PATTERN = rf"^\s*(({_TERM_PATTERN})(\s+(OR\s+)?({_TERM_PATTERN})){{0,20}})?\s*$"


@dataclass(frozen=True)
class _Token:
    kind: str  # 'term', 'phrase', 'or', 'not'
    text: str = ""
    field: str | None = None
    position: int = 0


def _tokens(query: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(query)
    while i < n:
        char = query[i]
        if char.isspace():
            i += 1
            continue
        start = i
        negated = char == "-" and i + 1 < n and not query[i + 1].isspace()
        if char == "-" and not negated:
            raise QuerySyntaxError(f"'-' at position {i + 1} must be followed by a word or phrase")
        if negated:
            tokens.append(_Token("not", position=i))
            i += 1
        field = None
        match = _FIELD.match(query, i)
        if match and query[i] != '"':
            field = match.group(1).lower()
            if field not in FIELDS:
                known = ", ".join(sorted(FIELDS))
                raise QuerySyntaxError(
                    f"unknown field {match.group(1)!r} (known: {known}); "
                    'put the text in "quotes" to search for it literally'
                )
            i = match.end()
            if i >= n or query[i].isspace():
                raise QuerySyntaxError(f"{field}: needs a value")
        if i < n and query[i] == '"':
            close = query.find('"', i + 1)
            if close < 0:
                raise QuerySyntaxError(f"unbalanced quote at position {i + 1}")
            text = query[i + 1 : close].strip()
            if not text:
                raise QuerySyntaxError(f"empty phrase at position {i + 1}")
            tokens.append(_Token("phrase", " ".join(text.split()), field, start))
            i = close + 1
            continue
        end = i
        while end < n and not query[end].isspace():
            if query[end] == '"':
                raise QuerySyntaxError(f"unbalanced quote at position {end + 1}")
            end += 1
        word = query[i:end]
        i = end
        if word == "OR" and field is None and not negated:
            tokens.append(_Token("or", position=start))
        else:
            tokens.append(_Token("term", word, field, start))
    return tokens


# Full-width ASCII (U+FF01-U+FF5E) as ASCII, and Chinese quotation marks quote like '"'.
# Not NFKC: it also turns some marks into a space and a combining mark (U+00A8), which
# would split a term the API's pattern admits as one.
_KEYBOARD = str.maketrans(
    {code: chr(code - 0xFEE0) for code in range(0xFF01, 0xFF5F)}
    | dict.fromkeys(map(ord, "\u201c\u201d\u300c\u300d\u300e\u300f\uff02"), '"')
)


def normalise(query: str) -> str:
    """Full-width letters, digits and punctuation (``\uff4c\uff41\uff4e\uff47``) as ASCII,
    and Chinese quotation marks as ``"``, so a query typed with a Chinese keyboard parses."""
    return query.translate(_KEYBOARD)


def _parse_date(field: str, value: str) -> date:
    match = _DATE.fullmatch(value)
    if not match:
        raise QuerySyntaxError(f"{field}:{value} is not a date (use YYYY, YYYY-MM or YYYY-MM-DD)")
    year, month, day = int(match.group(1)), int(match.group(2) or 1), int(match.group(3) or 1)
    try:
        start = date(year, month, day)
    except ValueError as exc:
        raise QuerySyntaxError(f"{field}:{value} is not a valid date ({exc})") from None
    # A partial date means its first day: after:2020 is from 2020-01-01, before:2020 ends 2019.
    return start


def _leaf(token: _Token) -> Node:
    field, value = token.field, token.text
    if field in ("zh", "en") and has_han(value) != (field == "zh"):
        script = "Chinese characters" if field == "zh" else "Latin letters"
        raise QuerySyntaxError(f"{field}:{token.text} should be written in {script}")
    if field is None or field in ("title", "zh", "en"):
        return Text(value, phrase=token.kind == "phrase", field=field)
    if field in ("after", "before"):
        day = _parse_date(field, value)
        return DateRange(start=day) if field == "after" else DateRange(end=day)
    if field == "lang":
        value = value.lower()
        if not _LANG.fullmatch(value):
            raise QuerySyntaxError(f"lang:{token.text} is not a language code such as en or zh")
    elif field == "site":
        value = value.lower()
        if value.startswith("www.") and "." in value[4:].strip("."):
            value = value[4:]  # www.bbc.com is bbc.com, but www.com stays itself
        if not _SITE.fullmatch(value) or "." not in value.strip("."):
            raise QuerySyntaxError(f"site:{token.text} is not a domain such as bbc.com")
    elif field == "publisher":
        value = publisher_key(value)
        if not value:
            raise QuerySyntaxError('publisher: needs a site name, e.g. publisher:"BBC News"')
    elif field == "collection" and not _COLLECTION.fullmatch(value):
        raise QuerySyntaxError(f"collection:{token.text} is not a collection name")
    elif field in KNOWN_VALUES:
        value = value.lower()
        known = KNOWN_VALUES[field]
        if value not in known:
            raise QuerySyntaxError(f"{field}:{token.text} is not one of {', '.join(known)}")
    return Filter(field, value)


def parse(query: str) -> Node:
    """Parse a query string into a tree; raise :class:`QuerySyntaxError` if it is malformed.

    The empty query means every document (useful with filters or a date sort).
    """
    if len(query) > MAX_LENGTH:
        raise QuerySyntaxError(f"query too long ({len(query)} characters, at most {MAX_LENGTH})")
    tokens = _tokens(normalise(query))
    if len(tokens) > MAX_TERMS:
        raise QuerySyntaxError(f"too many terms ({len(tokens)}, at most {MAX_TERMS})")
    clauses: list[list[Node]] = []  # a list of OR groups, ANDed together
    pending_or = False  # an OR was read and its right-hand side is still to come
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.kind == "or":
            if not clauses or pending_or:
                raise QuerySyntaxError(
                    f"OR at position {token.position + 1} needs a word or phrase on each side"
                )
            pending_or = True
            i += 1
            continue
        negate = token.kind == "not"
        if negate:
            i += 1
            token = tokens[i]
        node: Node = _leaf(token)
        if negate:
            node = Not(node)
        if pending_or:
            clauses[-1].append(node)
            pending_or = False
        else:
            clauses.append([node])
        i += 1
    if pending_or:
        raise QuerySyntaxError("OR at the end of the query needs a word or phrase after it")
    nodes = [group[0] if len(group) == 1 else Or(tuple(group)) for group in clauses]
    return _simplify(nodes)


def _simplify(nodes: list[Node]) -> Node:
    # Fold all date bounds into one range so backends see a single interval.
    start: date | None = None
    end: date | None = None
    rest: list[Node] = []
    for node in nodes:
        if isinstance(node, DateRange):
            if node.start is not None:
                start = node.start if start is None else max(start, node.start)
            if node.end is not None:
                end = node.end if end is None else min(end, node.end)
        else:
            rest.append(node)
    if start is not None or end is not None:
        rest.append(DateRange(start, end))
    if not rest:
        return All()
    return rest[0] if len(rest) == 1 else And(tuple(rest))


def conjoin(*nodes: Node) -> Node:
    """AND several trees together (e.g. a parsed query and command-line filters)."""
    flat: list[Node] = []
    for node in nodes:
        if isinstance(node, And):
            flat.extend(node.nodes)
        elif not isinstance(node, All):
            flat.append(node)
    return _simplify(flat)


def filters(
    *,
    language: str | None = None,
    site: str | None = None,
    collection: str | None = None,
    after: str | None = None,
    before: str | None = None,
    has: str | None = None,
    role: str | None = None,
) -> Node:
    """The tree for command-line/API filter options, validated like the query syntax."""
    parts = [
        f"{name}:{value}"
        for name, value in (
            ("lang", language),
            ("site", site),
            ("collection", collection),
            ("after", after),
            ("before", before),
            ("has", has),
            ("role", role),
        )
        if value
    ]
    nodes = []
    for part in parts:
        if any(c.isspace() or c == '"' for c in part):
            raise QuerySyntaxError(f"{part!r} is not a valid filter value")
        nodes.append(parse(part))
    return conjoin(*nodes)
