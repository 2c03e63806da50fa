"""Language, language mix and script of a document's text.

langdetect alone calls Traditional Chinese ``ko`` and short Chinese mixed with
English ``en`` (Mimino666/langdetect#51), so the script is counted first:
Han, Hangul and Kana characters decide Chinese, Korean and Japanese, and
langdetect only judges the rest of the text (the alphabetic part). Chinese is
``Hans`` or ``Hant`` by which characters OpenCC's conversions would change.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

from langdetect import DetectorFactory, LangDetectException
from langdetect.detector_factory import PROFILES_DIRECTORY
from opencc import OpenCC

# Bounded sample: enough for a stable answer, fast on huge pages.
SAMPLE_CHARS = 3000
# langdetect is the slow part; this much alphabetic text is plenty for it.
_LANGDETECT_CHARS = 600
_LANGDETECT_TRIALS = 4
# Seeded: langdetect's answers are random otherwise.
DetectorFactory.seed = 0
_SCRIPT_SAMPLE = 500
# langdetect is unreliable on less alphabetic text than this.
_MIN_LETTERS = 20
# How many Han characters weigh as much as one alphabetic word when a page
# mixes both. Chinese words are one or two characters; counting each character
# as a word keeps a Chinese sentence quoting an English phrase Chinese.
_HAN_PER_WORD = 1.0

_SCRIPTS = {
    "LATIN": "Latn",
    "CYRILLIC": "Cyrl",
    "GREEK": "Grek",
    "ARABIC": "Arab",
    "HEBREW": "Hebr",
    "DEVANAGARI": "Deva",
    "THAI": "Thai",
    "HANGUL": "Kore",
    "HIRAGANA": "Jpan",
    "KATAKANA": "Jpan",
    "CJK": "Hani",
    "MYANMAR": "Mymr",
    "KHMER": "Khmr",
    "LAO": "Laoo",
    "GEORGIAN": "Geor",
    "ARMENIAN": "Armn",
    "SINHALA": "Sinh",
    "ETHIOPIC": "Ethi",
    "TIBETAN": "Tibt",
}
# Scripts written for one language langdetect does not know: the script decides.
_SCRIPT_LANGUAGES = {
    "Mymr": "my",
    "Khmr": "km",
    "Laoo": "lo",
    "Geor": "ka",
    "Armn": "hy",
    "Sinh": "si",
    "Ethi": "am",
    "Tibt": "bo",
}


@dataclass
class LanguageResult:
    """Primary language (ISO 639-1), the share of each language, and the script (ISO 15924)."""

    language: str | None = None
    languages: dict[str, float] = field(default_factory=dict)
    script: str | None = None


@lru_cache(maxsize=2)
def _converter(config: str) -> OpenCC:
    return OpenCC(config)


def to_simplified(text: str) -> str:
    """Traditional characters folded to Simplified (OpenCC ``t2s``)."""
    return _converter("t2s").convert(text)


def sample(text: str, size: int = SAMPLE_CHARS) -> str:
    """At most ``size`` characters: the start, middle and end of a long text."""
    if len(text) <= size:
        return text
    third = size // 3
    middle = len(text) // 2
    return text[:third] + "\n" + text[middle : middle + third] + "\n" + text[-third:]


def chinese_script(han: str) -> str:
    """``Hant`` if more of these Han characters are Traditional-only than Simplified-only."""
    traditional = sum(a != b for a, b in zip(han, to_simplified(han), strict=False))
    simplified = sum(a != b for a, b in zip(han, _converter("s2t").convert(han), strict=False))
    return "Hant" if traditional > simplified else "Hans"


_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_HANGUL = re.compile(r"[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_EAST_ASIAN = re.compile(
    r"[\u3040-\u30ff\u3130-\u318f\u1100-\u11ff\uac00-\ud7af"
    r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]+"
)
_WORD = re.compile(r"[^\W\d_]+")


def detect(text: str) -> LanguageResult:
    """The language(s) and script of ``text`` (deterministic: langdetect is seeded)."""
    part = sample(text)
    han = "".join(_HAN.findall(part))
    hangul, kana = len(_HANGUL.findall(part)), len(_KANA.findall(part))
    # The text with East Asian characters blanked out: what langdetect judges.
    alphabetic = " ".join(_EAST_ASIAN.sub(" ", part).split())
    words = _WORD.findall(alphabetic)
    weights: dict[str, float] = {}
    if kana and kana * 10 >= len(han) + kana:
        weights["ja"] = (len(han) + kana) / _HAN_PER_WORD
    elif han:
        weights["zh"] = len(han) / _HAN_PER_WORD
    if hangul:
        weights["ko"] = hangul / _HAN_PER_WORD
    alphabet_script = _dominant_script(words)
    if alphabet_script in _SCRIPT_LANGUAGES:
        weights[_SCRIPT_LANGUAGES[alphabet_script]] = float(len(words))
    elif sum(map(len, words)) >= _MIN_LETTERS:
        for language, probability in _langdetect(alphabetic[:_LANGDETECT_CHARS]).items():
            weights[language] = weights.get(language, 0.0) + len(words) * probability
    total = sum(weights.values())
    if not total:
        return LanguageResult(script=alphabet_script)
    languages = {
        language: round(weight / total, 3)
        for language, weight in sorted(weights.items(), key=lambda item: -item[1])
        if weight / total >= 0.01
    }
    language = next(iter(languages))
    if language == "zh":
        script = chinese_script(han)
    elif language == "ja":
        script = "Jpan"
    elif language == "ko":
        script = "Kore"
    else:
        script = alphabet_script
    return LanguageResult(language, languages, script)


@lru_cache(maxsize=1)
def _detectors() -> DetectorFactory:
    factory = DetectorFactory()
    factory.load_profile(PROFILES_DIRECTORY)
    return factory


def _langdetect(text: str) -> dict[str, float]:
    detector = _detectors().create()
    # Fewer random trials than langdetect's 7: on a bounded alphabetic sample
    # they agree, and this is the costliest step of language detection.
    detector.n_trial = _LANGDETECT_TRIALS
    detector.append(text)
    try:
        found = detector.get_probabilities()
    except LangDetectException:
        return {}
    result: dict[str, float] = {}
    for guess in found:
        # Han characters were removed, so a Chinese or Korean guess here is noise
        # from a few leftover symbols; alphabetic text is what is being judged.
        if guess.lang in ("zh-cn", "zh-tw", "ko", "ja"):
            continue
        result[guess.lang] = result.get(guess.lang, 0.0) + guess.prob
    return result


def _dominant_script(words: list[str]) -> str | None:
    """The script most of these words' letters are written in (from a bounded sample)."""
    counts: dict[str, int] = {}
    for char in "".join(words)[:_SCRIPT_SAMPLE]:
        script = _SCRIPTS.get(unicodedata.name(char, "").split(" ", 1)[0])
        if script:
            counts[script] = counts.get(script, 0) + 1
    return max(counts, key=counts.__getitem__) if counts else None
