"""Shared machinery: candidates, labels, and finding a typed value next to a label.

A label is found in a line; its value is looked for, in this order, right of it on the
same line, on the same visual row (OCR), on the next rows (below, nearest horizontally),
and in "column blocks" where a text layer lists several values and then their labels.
Where the value was found is a cue that feeds the confidence.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from automations.engine.fields import normalize as nz
from automations.engine.fields.document import Document, Line
from automations.engine.fields.model import FieldResult

__all__ = [
    "POSITION_WEIGHT",
    "Candidate",
    "Found",
    "LabelHit",
    "best",
    "find_labels",
    "finder_for",
    "label_only",
    "result_from",
    "values_after",
]

# How much a value's place relative to its label says about it being the label's value.
POSITION_WEIGHT = {
    "same_line": 1.0,
    "right": 0.95,
    "below": 0.85,
    "column": 0.75,
    "nearby": 0.55,
}


@dataclass
class Found:
    """A typed value inside a line's text: [start, end) relative to the line."""

    start: int
    end: int
    value: str
    data: Any = None  # the parsed value (date, Decimal, ...)
    currency: str | None = None


@dataclass
class LabelHit:
    line: Line
    start: int
    end: int
    weight: float  # 0..1: how surely this label announces the field
    name: str = ""


@dataclass
class Candidate:
    value: str
    line: Line
    start: int
    end: int
    score: float
    cues: list[str] = field(default_factory=list)
    data: Any = None
    currency: str | None = None


def best(candidates: Iterable[Candidate]) -> Candidate | None:
    # Ties go to the earliest candidate in the document.
    return max(candidates, key=lambda c: (c.score, -c.line.index, -c.start), default=None)


def result_from(
    doc: Document, cand: Candidate | None, confidence: float | None = None
) -> FieldResult:
    if cand is None:
        return FieldResult(value=None, confidence=0.0, evidence=None)
    conf = cand.score if confidence is None else confidence
    ocr = cand.line.confidence(cand.start, cand.end)
    if ocr is not None:
        # An uncertain OCR reading of the value makes the value uncertain too.
        conf *= 0.55 + 0.45 * min(1.0, ocr / 0.95)
    return FieldResult(
        value=cand.value,
        confidence=round(max(0.01, min(conf, 0.99)), 3),
        evidence=doc.evidence(cand.line, cand.start, cand.end),
        currency=cand.currency,
    )


# ------------------------------------------------------------------------------ labels


def find_labels(
    doc: Document,
    patterns: list[tuple[re.Pattern[str], float]],
    exclude: re.Pattern[str] | None = None,
) -> list[LabelHit]:
    """Label hits for ``patterns`` (regex, weight), strongest per position.

    ``exclude`` rejects a hit when it matches the text around it (e.g. "sub" before
    "total"): it is searched in the line from 12 characters before the hit to its end+12.
    """
    hits: list[LabelHit] = []
    for line in doc.lines:
        taken: list[tuple[int, int]] = []
        for pattern, weight in sorted(patterns, key=lambda p: -p[1]):
            for m in pattern.finditer(line.text):
                if any(m.start() < e and m.end() > s for s, e in taken):
                    continue
                if exclude is not None:
                    context = line.text[max(0, m.start() - 12) : m.end() + 12]
                    if exclude.search(context):
                        continue
                taken.append((m.start(), m.end()))
                hits.append(LabelHit(line, m.start(), m.end(), weight, m.group(0)))
    hits.sort(key=lambda h: (h.line.index, h.start))
    return hits


_LABEL_ONLY = re.compile(r"^\s*[^\d:]{2,40}:\s*$")


def label_only(line: Line) -> bool:
    """A line that is only a label ("Due Date:")."""
    return bool(_LABEL_ONLY.match(line.text))


_BARE = re.compile(
    r"^[\s:;.#=\-–—|()\[\]*]*(?:rm|myr|eur|usd|inr|pln|rs\.?|zł|[$€£¥₹])?[\s:;.=)\]*]*$",
    re.IGNORECASE,
)


def bare_tail(text: str) -> bool:
    """Whether the text after a label is empty but for punctuation and a currency."""
    return bool(_BARE.match(text))


def _column_partner(doc: Document, line: Line) -> Line | None:
    """In a text layer, values are sometimes listed before their labels:
    "Jan 1, 2022 / Net 30 days / $127.50 / Date: / Payment Terms: / Balance Due:".
    Pair the i-th label of such a run with the i-th of the lines just before it."""
    if line.segments or not label_only(line):
        return None
    lines = doc.lines
    i = line.index
    first = i
    while first > 0 and label_only(lines[first - 1]) and lines[first - 1].page == line.page:
        first -= 1
    last = i
    while (
        last + 1 < len(lines) and label_only(lines[last + 1]) and lines[last + 1].page == line.page
    ):
        last += 1
    count = last - first + 1
    if count < 2 or first - count < 0:
        return None
    values = lines[first - count : first]
    if any(label_only(v) or v.page != line.page for v in values):
        return None
    return values[i - first]


def values_after(
    doc: Document,
    hit: LabelHit,
    finder: Callable[[str], list[Found]],
    *,
    rows_below: int = 2,
    nearby: int = 0,
    stop: re.Pattern[str] | None = None,
    other_finder: Callable[[str], list[Found]] | None = None,
) -> list[tuple[Line, Found, str]]:
    """Values for a label: (line, found, position) in order of preference.

    ``stop`` ends the same-line search at another label (so "Date: ... Due: 5/1" does
    not give the due date to "Date"). ``other_finder`` (default ``finder``) is used on
    lines other than the label's own, where a value must stand more on its own.
    """
    other_finder = other_finder or finder
    out: list[tuple[Line, Found, str]] = []
    line = hit.line
    tail_end = len(line.text)
    if stop is not None:
        m = stop.search(line.text, hit.end)
        if m:
            tail_end = m.start()
    for found in finder(line.text[hit.end : tail_end]):
        out.append(
            (line, Found(found.start + hit.end, found.end + hit.end, found.value, found.data,
                         found.currency), "same_line")
        )  # fmt: skip
    if out:
        return out
    if not bare_tail(line.text[hit.end :]):
        # Something else follows the label on its line ("TOTAL INCLUDES 6% GST"): the
        # label is part of a sentence, and what is below belongs to something else.
        return out
    for other in doc.right_of(line):
        for found in other_finder(other.text):
            out.append((other, found, "right"))
        if out:
            return out
    label_x = (line.x_of(hit.start) + line.x_of(hit.end)) / 2
    for row in doc.rows_after(line, rows_below):
        row_found: list[tuple[float, Line, Found]] = []
        for other in row:
            for found in other_finder(other.text):
                x = (other.x_of(found.start) + other.x_of(found.end)) / 2
                row_found.append((abs(x - label_x), other, found))
        if row_found:
            row_found.sort(key=lambda t: t[0])
            return [(o, f, "below") for _, o, f in row_found]
        if any(label_only(o) for o in row):
            break
    partner = _column_partner(doc, line)
    if partner is not None:
        for found in other_finder(partner.text):
            out.append((partner, found, "column"))
        if out:
            return out
    if nearby:
        lo = max(0, line.index - nearby)
        hi = min(len(doc.lines), line.index + nearby + 1)
        scored = []
        for other in doc.lines[lo:hi]:
            if other is line or other.page != line.page:
                continue
            for found in other_finder(other.text):
                scored.append((abs(other.index - line.index), other, found))
        scored.sort(key=lambda t: t[0])
        out.extend((o, f, "nearby") for _, o, f in scored)
    return out


# ---------------------------------------------------------------------------- finders


def find_date_values(text: str) -> list[Found]:
    return [
        Found(d.start, d.end, d.value.isoformat(), d, None)
        for d in nz.find_dates(text)
        if 1990 <= d.value.year <= 2099
    ]


def find_money_values(text: str, *, integers: bool = False) -> list[Found]:
    """Amounts, masking dates; integers only with a currency unless ``integers``."""
    dates = [(d.start, d.end) for d in nz.find_dates(text)]
    out = []
    for a in nz.find_amounts(text):
        if any(a.start < e and a.end > s for s, e in dates):
            continue
        if a.decimals not in (2,) and not a.currency and not (integers and a.decimals == 0):
            continue
        if a.decimals == 0 and len(str(abs(int(a.value)))) > 7:
            continue  # a long run of digits is an id, not money
        out.append(Found(a.start, a.end, nz.format_money(a.value), a, a.currency))
    return out


def find_number_values(text: str) -> list[Found]:
    dates = [(d.start, d.end) for d in nz.find_dates(text)]
    out = []
    for a in nz.find_amounts(text):
        if any(a.start < e and a.end > s for s, e in dates):
            continue
        value = nz.normalize_number(a.raw if not a.currency else str(a.value))
        if value is not None:
            out.append(Found(a.start, a.end, value, a.value, a.currency))
    return out


def find_email_values(text: str) -> list[Found]:
    return [Found(m.start, m.end, m.value) for m in nz.find_emails(text)]


def find_phone_values(text: str) -> list[Found]:
    return [Found(m.start, m.end, m.value) for m in nz.find_phones(text)]


def find_iban_values(text: str) -> list[Found]:
    return [Found(m.start, m.end, m.value) for m in nz.find_ibans(text)]


_SEPARATORS = " \t:;-–—#=|.,"


def find_text_value(text: str) -> list[Found]:
    """The rest of the line, without leading separators ("Reference: ABC 12" -> "ABC 12")."""
    start = 0
    while start < len(text) and text[start] in _SEPARATORS:
        start += 1
    end = len(text.rstrip(" \t:;|"))
    if end - start < 1 or not re.search(r"\w", text[start:end]):
        return []
    return [Found(start, end, re.sub(r"\s+", " ", text[start:end]))]


_ID_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9/_\-.]*[A-Za-z0-9]|[A-Za-z0-9]")
_ID_PREFIX = re.compile(r"^(?:\s|[:;#.°º=|]|n°|no\b\.?|nr\b\.?|num\b\.?)*", re.IGNORECASE)


def find_id_values(text: str) -> list[Found]:
    """Identifier-like tokens: they hold a digit, or are a short code joined to one
    ("F 1234K20/1234/12"); dates and amounts are not identifiers."""
    dates = [(d.start, d.end) for d in nz.find_dates(text)]
    prefix = _ID_PREFIX.match(text)
    offset = prefix.end() if prefix else 0
    out = []
    tokens = list(_ID_TOKEN.finditer(text, offset))
    for i, m in enumerate(tokens):
        token = m.group(0).rstrip(".-")
        start, end = m.start(), m.start() + len(token)
        if any(start < e and end > s for s, e in dates):
            continue
        if not re.search(r"\d", token):
            nxt = tokens[i + 1] if i + 1 < len(tokens) else None
            if (
                nxt is not None
                and len(token) <= 3
                and token.isupper()
                and nxt.start() - end <= 1
                and nxt.group(0)[0].isdigit()
            ):
                end = nxt.end()
                token = text[start:end]
            else:
                continue
        if re.fullmatch(r"\d{1,2}", token) or re.fullmatch(r"\d+[.,]\d{2}", token):
            continue
        out.append(Found(start, end, token))
    return out


FINDERS: dict[str, Callable[[str], list[Found]]] = {
    "date": find_date_values,
    "money": find_money_values,
    "number": find_number_values,
    "email": find_email_values,
    "phone": find_phone_values,
    "iban": find_iban_values,
    "text": find_text_value,
}


def finder_for(kind: str) -> Callable[[str], list[Found]]:
    return FINDERS[kind]
