"""Text analysis shared by the engines: Simplified folding, script runs, Chinese words, stems.

English text is analysed by the engines themselves (tantivy's analyzer registered here, the
``english`` analyzer in Elasticsearch/OpenSearch); Chinese is folded to Simplified with
OpenCC and matched two ways: whole words from rjieba for ranking, and single characters
(as a phrase) so a word is never unfindable where segmentation disagrees.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import opencc
import rjieba
import tantivy

# CJK Unified Ideographs and extensions, plus compatibility ideographs.
_HAN_CLASS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_HAN = re.compile(f"[{_HAN_CLASS}]")
_RUNS = re.compile(f"[{_HAN_CLASS}]+|[^{_HAN_CLASS}]+")
_WORD = re.compile(f"[^\\W_{_HAN_CLASS}]+")
# Han characters side by side, whitespace between them allowed (as the character field sees them).
_HAN_RUN = re.compile(f"[{_HAN_CLASS}](?:\\s*[{_HAN_CLASS}])*")
BIGRAM_GAP = "|"  # between runs of Han text, so a phrase of bigrams cannot bridge them

# One stop list for both engines' English fields in tantivy (Lucene's English set).
STOP_WORDS = [
    *("a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into"),
    *("is", "it", "no", "not", "of", "on", "or", "such", "that", "the", "their", "then"),
    *("there", "these", "they", "this", "to", "was", "will", "with"),
]
_converter = opencc.OpenCC("t2s")


def has_han(text: str) -> bool:
    """Does the text contain a Han (Chinese) character?"""
    return _HAN.search(text) is not None


def fold(text: str) -> str:
    """Traditional Chinese folded to Simplified (other text unchanged)."""
    return _converter.convert(text) if has_han(text) else text


def runs(text: str) -> list[tuple[bool, str]]:
    """Split text into runs of Han and of other characters: ``[(is_han, run), ...]``."""
    return [(bool(_HAN.match(m.group())), m.group()) for m in _RUNS.finditer(text)]


def chinese_words(text: str) -> list[str]:
    """rjieba's word segmentation of (Simplified) text, keeping words with Han characters."""
    return [word for word in rjieba.cut(text) if has_han(word)]


def han_bigrams(text: str) -> list[str]:
    """Overlapping pairs of Han characters (``中国人`` -> ``中国 国人``), run by run.

    A Chinese string of two or more characters is the phrase of its bigrams: a lookup of
    rarer terms than its characters, whose positions would have to be checked in every
    document holding them all. Runs are separated by :data:`BIGRAM_GAP`.
    """
    found: list[str] = []
    for match in _HAN_RUN.finditer(text):
        run = "".join(match.group().split())
        if len(run) > 1:
            if found:
                found.append(BIGRAM_GAP)
            found += map(str.__add__, run, run[1:])
    return found


@lru_cache(maxsize=1)
def readings_table() -> dict[str, str]:
    """Han character -> its toneless pinyin (the most common reading)."""
    # pypinyin's table of characters, first (most common) reading first; its phrase
    # tables (tens of MB) are never imported.
    from pypinyin.pinyin_dict import pinyin_dict

    return {chr(code): toneless(value.split(",")[0]) for code, value in pinyin_dict.items()}


def toneless(pinyin: str) -> str:
    """Pinyin without tone marks or tone numbers, lowercased, ``ü`` as ``u`` (as names spell it)."""
    decomposed = unicodedata.normalize("NFD", pinyin.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c) and not c.isdigit())


@lru_cache(maxsize=1)
def syllables() -> frozenset[str]:
    """Every toneless pinyin syllable with a vowel (for reading a Latin word as pinyin)."""
    return frozenset(s for s in readings_table().values() if set(s) & set("aeiouv"))


def pinyin_tokens(text: str) -> list[str]:
    """The toneless pinyin of each Han character (``乔高`` -> ``qiao gao``), run by run.

    Indexed for Chinese documents, so a name no dictionary knows is found from its pinyin;
    runs are separated by :data:`BIGRAM_GAP`, so a phrase of syllables cannot bridge them.
    """
    readings = readings_table()
    found: list[str] = []
    for match in _HAN_RUN.finditer(text):
        if found:
            found.append(BIGRAM_GAP)
        found += [readings.get(char, char) for char in match.group() if not char.isspace()]
    return found


def english_analyzer(stop_words: bool = True) -> tantivy.TextAnalyzer:
    """Tantivy's analyzer for English text: letters/digits (not Han), lowercased, stemmed."""
    builder = (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.regex(r"[\p{L}\p{N}--\p{Han}]+"))
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
    )
    if stop_words:
        builder = builder.filter(tantivy.Filter.custom_stopword(STOP_WORDS))
    return builder.filter(tantivy.Filter.stemmer("english")).build()


def han_analyzer() -> tantivy.TextAnalyzer:
    """One token per Han character; other text stays as tokens so phrases cannot bridge it."""
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.regex(r"\p{Han}|[^\p{Han}\s]+"))
        .filter(tantivy.Filter.lowercase())
        .build()
    )


@lru_cache(maxsize=1)
def _stemmer() -> tantivy.TextAnalyzer:
    return english_analyzer(stop_words=False)


@lru_cache(maxsize=1)
def _english() -> tantivy.TextAnalyzer:
    return english_analyzer()


def english_terms(text: str) -> list[str]:
    """The indexed English terms of ``text`` (stop words removed, stemmed)."""
    return _english().analyze(text)


def stems(words: list[str]) -> list[str]:
    """The stem of each word, one for one (for highlighting)."""
    stemmer = _stemmer()
    joined = stemmer.analyze(" ".join(words))
    if len(joined) == len(words):
        return joined
    # A word the engine splits differently: fall back to one call per word.
    return [(stemmer.analyze(word) or [word.lower()])[0] for word in words]


def word_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the non-Han words in ``text``."""
    return [m.span() for m in _WORD.finditer(text)]


def english_positions(text: str) -> list[tuple[int, str]]:
    """``(position, term)`` for each indexed term, positions counting removed stop words.

    Phrase queries need these offsets: "rule of law" matches terms rule@0 and law@2.
    """
    analyzer = _english()
    return [
        (position, term)
        for position, (start, end) in enumerate(word_spans(text))
        for term in analyzer.analyze(text[start:end])
    ]
