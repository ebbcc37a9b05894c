"""Which language and writing system a text is in.

The script comes from the Unicode names of the letters (exact, instant); the language from
langdetect's character n-gram profiles (55 languages, shipped in the package). Steps use it
to warn when a text is in a language the English-only models handle poorly.
"""

from __future__ import annotations

import threading
import unicodedata
from collections import Counter
from typing import Any

__all__ = ["MIN_LETTERS", "detect_language", "script_of", "script_shares"]

# Below this many letters n-gram statistics are guesses: "OK 12" is not a language.
MIN_LETTERS = 20
# Ideographic and syllabic scripts carry a word or a syllable per character.
MIN_IDEOGRAPHS = 8
_IDEOGRAPHIC = {"Han", "Hiragana/Katakana", "Hangul"}
# A sample this long decides; langdetect itself reads at most 10,000 characters.
MAX_CHARS = 10_000
# Japanese mixes kanji (Han) with kana; Chinese has no kana at all.
_KANA_SHARE_FOR_JAPANESE = 0.15

# First word of a letter's Unicode name -> script name, where the two differ.
_SCRIPT_BY_NAME_PREFIX = {
    "CJK": "Han",
    "HIRAGANA": "Hiragana/Katakana",
    "KATAKANA": "Hiragana/Katakana",
}

_factory_lock = threading.Lock()
_factory: Any = None


def script_of(char: str) -> str | None:
    """The script of one letter ("Latin", "Cyrillic", "Han", ...) or None for non-letters."""
    if not char.isalpha():
        return None
    name = unicodedata.name(char, "")
    if not name:
        return None
    words = name.split()
    first = words[0]
    if first in ("HALFWIDTH", "FULLWIDTH") and len(words) > 1:
        first = words[1]  # HALFWIDTH KATAKANA LETTER A, FULLWIDTH LATIN CAPITAL LETTER A
    return _SCRIPT_BY_NAME_PREFIX.get(first) or first.title()


def script_shares(text: str) -> tuple[dict[str, float], int]:
    """Share of the letters in each script (largest first) and the number of letters."""
    counts = Counter(script for script in map(script_of, text) if script)
    total = sum(counts.values())
    if not total:
        return {}, 0
    return {script: n / total for script, n in counts.most_common()}, total


def detect_language(text: str) -> dict:
    """Guess the language and script of ``text``.

    Returns ``{"language": ISO 639-1 code or None, "script": name or None,
    "confidence": 0..1}``; the language is None for texts too short to tell.
    """
    sample = (text or "")[:MAX_CHARS]
    shares, letters = script_shares(sample)
    script = next(iter(shares), None)
    if script == "Han" and shares.get("Hiragana/Katakana", 0.0) >= _KANA_SHARE_FOR_JAPANESE:
        script = "Hiragana/Katakana"
    minimum = MIN_IDEOGRAPHS if script in _IDEOGRAPHIC else MIN_LETTERS
    if script is None or letters < minimum:
        return {"language": None, "script": script, "confidence": 0.0}
    language, probability = _langdetect(sample)
    return {"language": language, "script": script, "confidence": round(probability, 4)}


def _langdetect(text: str) -> tuple[str | None, float]:
    from langdetect.lang_detect_exception import LangDetectException

    detector = _get_factory().create()
    # Three random trials instead of seven: the answer is the same on every text the tests
    # and the evaluation sets hold, at less than half the cost (it ran on every document).
    detector.n_trial = 3
    detector.set_max_text_length(2000)
    detector.append(text)
    try:
        best = detector.get_probabilities()[0]
    except (LangDetectException, IndexError):
        return None, 0.0
    # langdetect says zh-cn / zh-tw; ISO 639-1 has only "zh".
    return best.lang.split("-")[0], float(best.prob)


def _get_factory() -> Any:
    """langdetect's profiles, loaded once per process (about 0.5 s)."""
    global _factory
    with _factory_lock:
        if _factory is None:
            from langdetect import DetectorFactory
            from langdetect.detector_factory import PROFILES_DIRECTORY

            factory = DetectorFactory()
            factory.load_profile(PROFILES_DIRECTORY)
            # langdetect samples n-grams at random: a fixed seed gives the same answer twice.
            DetectorFactory.seed = 0
            _factory = factory
        return _factory
