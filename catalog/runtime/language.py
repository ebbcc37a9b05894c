"""Which language and writing system a text is in.

The script comes from the Unicode names of the letters (exact, instant); the language from
langdetect's character n-gram profiles (55 languages, shipped in the package). Steps use it
to warn when a text is in a language the English-only models handle poorly.
"""

from __future__ import annotations

import functools
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


@functools.lru_cache(maxsize=8192)
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
    if text.isascii():  # most business text: every letter is Latin, no lookup needed
        letters = sum(map(str.isalpha, text))
        return ({"Latin": 1.0} if letters else {}), letters
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
    """langdetect's naive Bayes over its n-gram profiles, computed in one pass.

    langdetect itself multiplies the probabilities of n-grams drawn at random, in several
    trials, until one language passes 0.99999: about 5 ms for a one-line text, more than the
    embedding of that text. Here every n-gram of the text counts once, in log space, with the
    same smoothing; the answer is deterministic and takes a fraction of a millisecond.
    """
    import numpy as np

    factory = _get_factory()
    detector = factory.create()
    detector.set_max_text_length(2000)
    detector.append(text)
    detector.cleaning_text()
    counts = ngrams(detector.text, factory.word_lang_prob_map)
    if not counts:
        return None, 0.0
    rows = [factory.word_lang_prob_map[gram] for gram in counts]
    scores = np.fromiter(counts.values(), dtype=np.float32) @ _log_table[rows]
    scores = np.exp(scores - scores.max())
    scores /= scores.sum()
    best = int(scores.argmax())
    # langdetect says zh-cn / zh-tw; ISO 639-1 has only "zh".
    return detector.langlist[best].split("-")[0], float(scores[best])


def ngrams(text: str, known: Any) -> Counter:
    """The n-grams (1 to 3 characters) of ``text`` that the profiles know, counted: exactly
    langdetect's Detector._extract_ngrams and NGram.add_char, with each character's
    normalisation looked up once instead of per occurrence."""
    counts: Counter = Counter()
    normalize = _normalize
    grams, capital = " ", False
    for ch in text:
        ch = normalize(ch)
        last = grams[-1]
        if last == " ":
            grams, capital = " ", False
            if ch == " ":
                continue
        elif len(grams) >= 3:
            grams = grams[1:]
        grams += ch
        if ch.isupper():
            if last.isupper():
                capital = True
        else:
            capital = False
        if capital:
            continue
        for n in (1, 2, 3):
            if len(grams) < n:
                break
            gram = grams[-n:]
            if gram != " " and gram in known:
                counts[gram] += 1
    return counts


@functools.lru_cache(maxsize=8192)
def _normalize(ch: str) -> str:
    from langdetect.utils.ngram import NGram

    return NGram.normalize(ch)


_log_table: Any = None  # n-gram row -> log(smoothed probability) per language, float32


def _get_factory() -> Any:
    """langdetect's profiles, loaded once per process (about 0.5 s)."""
    global _factory
    with _factory_lock:
        if _factory is None:
            import numpy as np
            from langdetect import DetectorFactory
            from langdetect.detector import Detector
            from langdetect.detector_factory import PROFILES_DIRECTORY

            global _log_table
            factory = DetectorFactory()
            factory.load_profile(PROFILES_DIRECTORY)
            # One float32 table (87,598 n-grams x 55 languages, 19 MB) instead of a Python
            # list per n-gram; the map keeps the keys the detector looks up, now to rows.
            grams = factory.word_lang_prob_map
            weight = Detector.ALPHA_DEFAULT / Detector.BASE_FREQ
            _log_table = np.log(weight + np.array(list(grams.values()), dtype=np.float32))
            factory.word_lang_prob_map = {gram: row for row, gram in enumerate(grams)}
            # langdetect samples n-grams at random: a fixed seed gives the same answer twice.
            DetectorFactory.seed = 0
            _factory = factory
        return _factory
