"""Fields a customer defines: a name, a type and a description.

The label is found by fuzzy matching the words of the name and the description against
the document's words (with the usual abbreviations: "No." for number, "PO" for purchase
order, "Tel" for phone), then the nearest value of the field's type is taken to its
right or below. E-mail, phone and IBAN fields with no label may take the only value of
that type in the document.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass

from automations.engine.fields.document import Document
from automations.engine.fields.model import FieldResult, FieldSpec
from automations.engine.fields.search import (
    POSITION_WEIGHT,
    Candidate,
    Found,
    LabelHit,
    best,
    find_id_values,
    finder_for,
    result_from,
    values_after,
)

__all__ = ["extract_custom"]

SYNONYMS: dict[str, tuple[str, ...]] = {
    "number": ("no", "nr", "num", "#", "n°", "nummer", "numero", "numéro", "numer", "id"),
    "date": ("datum", "data", "fecha", "dated", "tarikh"),
    "phone": ("tel", "telephone", "telefon", "téléphone", "mobile", "hp", "fon", "telefoon"),
    "telephone": ("tel", "phone", "telefon"),
    "email": ("e-mail", "mail", "courriel"),
    "customer": ("client", "kunde", "klant", "cust", "kunden", "klient"),
    "reference": ("ref", "referenz", "référence", "referentie"),
    "account": ("acct", "acc", "konto", "compte", "rekening"),
    "amount": ("amt", "betrag", "montant", "bedrag", "kwota"),
    "quantity": ("qty", "menge", "quantité", "aantal", "ilość"),
    "order": ("bestellung", "commande", "bestelling", "zamówienie", "auftrag"),
    "invoice": ("inv", "rechnung", "facture", "factuur", "faktura"),
    "tax": ("vat", "gst", "tva", "btw", "mwst", "ust"),
    "vat": ("tax", "tva", "btw", "mwst", "ust", "gst"),
    "due": ("fällig", "échéance", "verval"),
}
ABBREVIATIONS: dict[tuple[str, ...], tuple[str, ...]] = {
    ("purchase", "order"): ("po", "p.o", "p.o."),
    ("value", "added", "tax"): ("vat",),
    ("goods", "services", "tax"): ("gst",),
}
STOPWORDS = frozenset("the of a an for to on in at by de du la le der die das van het".split())


@dataclass
class _Variant:
    words: tuple[tuple[str, ...], ...]  # per position: acceptable spellings
    weight: float


def _tokens(text: str) -> list[str]:
    return [t for t in re.split(r"[\s_\-/]+", text.lower().strip()) if t]


def _variants(spec: FieldSpec) -> list[_Variant]:
    phrases: list[tuple[list[str], float]] = []
    name_words = _tokens(spec.name)
    phrases.append((name_words, 1.0))
    desc = [w for w in _tokens(re.sub(r"[^\w\s\-/]", " ", spec.description)) if w not in STOPWORDS]
    if desc:
        phrases.append((desc, 1.0))
        # Descriptions are sentences; their first few words are often the label itself.
        for size in (3, 2):
            if len(desc) > size:
                phrases.append((desc[:size], 0.9))
    out: list[_Variant] = []
    for words, weight in phrases:
        expanded = _expand_abbreviations(words)
        for variant_words, variant_weight in expanded:
            slots = tuple((w, *SYNONYMS.get(w, ())) for w in variant_words)
            out.append(_Variant(slots, weight * variant_weight))
    return out


def _expand_abbreviations(words: list[str]) -> list[tuple[list[str], float]]:
    out = [(words, 1.0)]
    for phrase, shorts in ABBREVIATIONS.items():
        n = len(phrase)
        for i in range(len(words) - n + 1):
            if tuple(words[i : i + n]) == phrase:
                for short in shorts:
                    out.append(([*words[:i], short, *words[i + n :]], 0.95))
    return out


def _word_match(expected: tuple[str, ...], actual: str) -> float:
    actual = actual.lower().strip(".:#°")
    best_score = 0.0
    for option in expected:
        option = option.strip(".:#°") or option
        if actual == option:
            return 1.0
        if len(option) >= 4 and len(actual) >= 3:
            ratio = difflib.SequenceMatcher(None, option, actual).ratio()
            if ratio >= 0.8:
                best_score = max(best_score, ratio)
            # "Rechnungsnummer" contains "nummer"; "PO-No" splits anyway.
            if (
                len(option) >= 5
                and len(actual) > len(option) + 2
                and actual.endswith(option)
                and not actual.startswith("sub")
            ):
                best_score = max(best_score, 0.85)
    return best_score


_WORD_RE = re.compile(r"[^\W_]+(?:[.'][^\W_]+)*\.?|#|n°", re.UNICODE)


def _find_label_hits(doc: Document, spec: FieldSpec) -> list[LabelHit]:
    variants = _variants(spec)
    hits: list[LabelHit] = []
    # A document repeats its words; fuzzy matching each distinct (slot, word) once keeps
    # long documents fast.
    cache: dict[tuple[tuple[str, ...], str], float] = {}

    def match(slot: tuple[str, ...], word: str) -> float:
        key = (slot, word)
        if key not in cache:
            cache[key] = _word_match(slot, word)
        return cache[key]

    compound_cache: dict[tuple[int, str], float] = {}

    def compound(index: int, word: str) -> float:
        """German and Dutch write two-word labels as one word: "Kundennummer"."""
        key = (index, word)
        if key not in compound_cache:
            first, second = variants[index].words
            low = word.lower()
            score = 0.0
            if len(low) >= 6:
                for a in first:
                    for b in second:
                        if len(a) >= 2 and len(b) >= 2 and low[:1] == a[:1]:
                            ratio = difflib.SequenceMatcher(None, a + b, low).ratio()
                            score = max(score, ratio if ratio >= 0.85 else 0.0)
            compound_cache[key] = score
        return compound_cache[key]

    for line in doc.lines:
        words = list(_WORD_RE.finditer(line.text))
        for i in range(len(words)):
            for index, variant in enumerate(variants):
                if len(variant.words) == 2:
                    score = compound(index, words[i].group(0))
                    if score > 0:
                        weight = variant.weight * score * 0.95
                        hits.append(LabelHit(line, words[i].start(), words[i].end(), weight))
                n = len(variant.words)
                if i + n > len(words):
                    continue
                if match(variant.words[0], words[i].group(0)) <= 0:
                    continue
                scores = [match(variant.words[k], words[i + k].group(0)) for k in range(n)]
                if min(scores) <= 0:
                    continue
                # Words of one label sit next to each other.
                gaps = [words[i + k + 1].start() - words[i + k].end() for k in range(n - 1)]
                if any(g > 3 for g in gaps):
                    continue
                weight = variant.weight * (sum(scores) / n)
                hits.append(LabelHit(line, words[i].start(), words[i + n - 1].end(), weight))
    # Keep the strongest hit per line position, longest first on ties.
    hits.sort(key=lambda h: (-h.weight, -(h.end - h.start)))
    kept: list[LabelHit] = []
    for hit in hits:
        if any(k.line is hit.line and k.start < hit.end and hit.start < k.end for k in kept):
            continue
        kept.append(hit)
    return kept


def _finder(spec: FieldSpec) -> Callable[[str], list[Found]]:
    if spec.type != "text":
        return finder_for(spec.type)
    words = set(_tokens(spec.name)) | set(_tokens(spec.description))
    if words & {"number", "no", "id", "code", "ref", "reference"}:
        # "PO number", "customer id": an identifier, not the rest of the line.
        def ids(text: str) -> list[Found]:
            found = find_id_values(text)
            return found[:1] if found else finder_for("text")(text)

        return ids
    return finder_for("text")


def _extract_one(doc: Document, spec: FieldSpec) -> FieldResult:
    finder = _finder(spec)
    candidates: list[Candidate] = []
    for hit in _find_label_hits(doc, spec):
        values = values_after(doc, hit, finder, rows_below=2)
        if not values:
            continue
        line, found, where = values[0]
        score = 0.9 * hit.weight * POSITION_WEIGHT[where]
        candidates.append(
            Candidate(found.value, line, found.start, found.end, score, ["label", where],
                      found.data, found.currency)
        )  # fmt: skip
    chosen = best(candidates)
    if chosen is None and spec.type in ("email", "phone", "iban"):
        everywhere = [(ln, f) for ln in doc.lines for f in finder(ln.text)]
        distinct = {f.value for _, f in everywhere}
        if len(distinct) == 1:
            line, found = everywhere[0]
            chosen = Candidate(found.value, line, found.start, found.end, 0.55, ["only value"])
    return result_from(doc, chosen)


def extract_custom(doc: Document, specs: list[FieldSpec]) -> dict[str, FieldResult]:
    return {spec.name: _extract_one(doc, spec) for spec in specs}
