"""Field finders shared by the presets: document date, totals, invoice number, tax,
currency. Each returns the best :class:`Candidate` (or None); its score is the field's
confidence before the OCR reading's own confidence is taken into account."""

from __future__ import annotations

import re
from collections import Counter
from decimal import Decimal

from automations.engine.fields import labels as lb
from automations.engine.fields import normalize as nz
from automations.engine.fields.document import Document, Line
from automations.engine.fields.model import FieldResult
from automations.engine.fields.search import (
    POSITION_WEIGHT,
    Candidate,
    Found,
    LabelHit,
    best,
    find_date_values,
    find_id_values,
    find_labels,
    find_money_values,
    result_from,
    values_after,
)

__all__ = [
    "currency_result",
    "find_date",
    "find_due_date",
    "find_invoice_number",
    "find_labelled_money",
    "find_total",
]


def _hits_without(hits: list[LabelHit], others: list[LabelHit]) -> list[LabelHit]:
    """Drop hits that overlap a hit of another, more specific label set."""
    return [
        h
        for h in hits
        if not any(o.line is h.line and o.start < h.end + 2 and o.end > h.start - 2 for o in others)
    ]


# ------------------------------------------------------------------------------ dates

_TIME = re.compile(r"\s{0,3}(?:\d{1,2}:\d{2}|\d{1,2}:\d{2}:\d{2})")


def find_date(doc: Document, *, number_hits: list[LabelHit] | None = None) -> Candidate | None:
    """The document's date: labelled ("Invoice Date", "Date:"), else on the invoice
    number's line ("Facture n° 12 du 2 juillet 2015"), else the first date that is not
    a due/order/delivery date."""
    other = find_labels(doc, lb.OTHER_DATE)
    hits = _hits_without(find_labels(doc, lb.INVOICE_DATE), other)
    candidates: list[Candidate] = []
    for hit in hits:
        values = values_after(doc, hit, find_date_values, stop=_stop_other(other, hit))
        if not values:
            continue
        line, found, where = values[0]
        score = 0.93 * hit.weight * POSITION_WEIGHT[where]
        candidates.append(_cand(found, line, score, f"label:{hit.name.strip()}", where))
    for hit in number_hits or []:
        if hit.weight < 1.0:
            continue
        for found in find_date_values(hit.line.text[hit.end :]):
            shifted = Found(found.start + hit.end, found.end + hit.end, found.value, found.data)
            candidates.append(_cand(shifted, hit.line, 0.85, "invoice-number line", "same_line"))
            break
    all_dates: list[tuple[Line, Found]] = []
    for line in doc.lines:
        for found in find_date_values(line.text):
            all_dates.append((line, found))
    blocked = {h.line.row for h in other}
    free = [(ln, f) for ln, f in all_dates if ln.row not in blocked]
    counts = Counter(f.value for _, f in all_dates)
    for rank, (line, found) in enumerate(free[:3]):
        score = (0.62 if len({f.value for _, f in free}) == 1 else 0.5) - 0.1 * rank
        candidates.append(_cand(found, line, score, "first date", "unlabelled"))
    for cand in candidates:
        if _TIME.match(cand.line.text[cand.end :]):
            cand.score += 0.15  # a date with a time is the moment of the sale
        if counts[cand.value] > 1:
            cand.score += 0.04  # the same date printed twice (header and footer)
        if cand.data is not None and cand.data.ambiguous and not cand.data.named_month:
            cand.score -= 0.04
    agreeing = Counter(c.value for c in candidates if "label" in c.cues[0])
    for cand in candidates:
        if agreeing[cand.value] > 1:
            cand.score += 0.03
    return best(candidates)


def _stop_other(other: list[LabelHit], hit: LabelHit) -> re.Pattern[str] | None:
    """Stop a same-line search at the next due/order date label on that line."""
    later = [o for o in other if o.line is hit.line and o.start >= hit.end]
    if not later:
        return None
    return re.compile(re.escape(hit.line.text[later[0].start : later[0].end]))


def find_due_date(doc: Document) -> Candidate | None:
    candidates = []
    for hit in find_labels(doc, lb.DUE_DATE):
        values = values_after(doc, hit, find_date_values)
        if values:
            line, found, where = values[0]
            score = 0.9 * hit.weight * POSITION_WEIGHT[where]
            candidates.append(_cand(found, line, score, f"label:{hit.name.strip()}", where))
    return best(candidates)


def _cand(found: Found, line: Line, score: float, cue: str, where: str) -> Candidate:
    return Candidate(
        value=found.value,
        line=line,
        start=found.start,
        end=found.end,
        score=score,
        cues=[cue, where],
        data=found.data,
        currency=found.currency,
    )


# ----------------------------------------------------------------------------- money


def _money_finder(text: str) -> list[Found]:
    return find_money_values(text, integers=False)


def _money_or_integer(text: str) -> list[Found]:
    """Amounts; integers too when a currency stands next to them ("Rs 1939")."""
    return [f for f in find_money_values(text, integers=True) if f.currency or "." in f.value]


def _labelled_amounts(
    doc: Document,
    hits: list[LabelHit],
    base: float,
) -> list[Candidate]:
    candidates = []
    for hit in hits:
        values = values_after(doc, hit, _money_or_integer, rows_below=1)
        if not values:
            continue
        where = values[0][2]
        if where == "same_line":
            # Several amounts after a total label are columns (net, tax, gross): the
            # last one is the grand total.
            line, found, _ = values[-1]
        else:
            line, found, _ = values[0]
        if found.data is not None and found.data.decimals == 0 and not found.currency:
            continue
        score = base * hit.weight * POSITION_WEIGHT[where]
        candidates.append(_cand(found, line, score, f"label:{hit.name.strip()}", where))
    return candidates


def _payment_amounts(
    doc: Document, after_row: int
) -> tuple[list[Decimal], list[Decimal], int | None]:
    """Amounts on cash/payment lines and on change lines from row ``after_row`` on (item
    lines above the totals may mention a "card"); the row of the first such line."""
    paid: list[Decimal] = []
    change: list[Decimal] = []
    first: int | None = None
    for line in doc.lines:
        if line.row < after_row:
            continue
        text = line.text
        is_change = lb.CHANGE.search(text) and not re.search(r"exchange", text, re.IGNORECASE)
        is_paid = lb.PAYMENT.search(text) and not re.search(
            r"refund|cash\s*bill|cash\s*sales?|cashier|payment\s*(?:mode|method|terms|type)",
            text,
            re.IGNORECASE,
        )
        if not (is_change or is_paid):
            continue
        amounts = [f.data.value for f in _money_finder(text) if f.data is not None]
        if not amounts:
            # OCR may read the amount column apart from its label: same row, to the right.
            for other in doc.right_of(line):
                amounts += [f.data.value for f in _money_finder(other.text) if f.data]
        if not amounts:
            for row in doc.rows_after(line, 1):
                for other in row:
                    amounts += [f.data.value for f in _money_finder(other.text) if f.data]
        if not amounts:
            continue
        if first is None or line.row < first:
            first = line.row
        (change if is_change else paid).append(abs(amounts[-1]))
    return paid, change, first


def find_total(doc: Document, *, receipt: bool) -> Candidate | None:
    """The amount to pay.

    Cues: the label ("GRAND TOTAL", "ROUNDED TOTAL", "Total TTC" beat a plain "Total"),
    where the value sits, whether cash minus change gives the same amount, how often
    the amount is printed, and (receipts) whether it comes before the payment lines;
    a GST summary's "Total" after them is not the total.
    """
    hits = find_labels(doc, lb.TOTAL, exclude=lb.NOT_TOTAL)
    candidates = [c for c in _labelled_amounts(doc, hits, 0.9) if c.data.value > 0]
    first_total = min((h.line.row for h in hits), default=0)
    paid, change, first_payment = _payment_amounts(doc, first_total) if receipt else ([], [], None)
    expected = {p - c for p in paid for c in change if p - c > 0}
    expected |= {p for p in paid if change and min(change) == 0}
    every_amount = Counter(
        f.data.value for line in doc.lines for f in _money_finder(line.text) if f.data
    )
    label_votes = Counter(c.data.value for c in candidates)
    for cand in candidates:
        value = cand.data.value
        if value in expected:
            cand.score += 0.22
            cand.cues.append("cash - change")
        if label_votes[value] > 1:
            cand.score += min(0.12, 0.06 * (label_votes[value] - 1))
            cand.cues.append("several total labels")
        if every_amount[value] > 1:
            cand.score += 0.03
        if receipt and first_payment is not None and cand.line.row > first_payment:
            cand.score *= 0.55
            cand.cues.append("after payment")
        if receipt and paid and value > max(paid) and max(paid) > 0:
            cand.score *= 0.6  # paying less than the total is unusual on a receipt
    if receipt:
        # Later totals supersede earlier ones ("TOTAL 33.92 ... ROUNDED TOTAL 33.90"),
        # above all when a rounding line stands between them.
        roundings = [ln.row for ln in doc.lines if lb.ROUNDING.search(ln.text)]
        ordered = sorted(candidates, key=lambda c: c.line.row)
        for i, cand in enumerate(ordered):
            cand.score += 0.002 * i
            if any(
                o.line.row < r < cand.line.row for o in ordered[:i] for r in roundings
            ) and not any(cand.line.row < r for r in roundings):
                cand.score += 0.25
                cand.cues.append("after rounding")
        if expected and not any(c.data.value in expected for c in candidates):
            # The labelled totals disagree with cash - change; an amount that agrees with
            # it before the payment lines (an unlabelled rounded total) is a candidate.
            limit = first_payment if first_payment is not None else len(doc.lines)
            for cand in candidates:
                cand.score -= 0.08
            for line in [ln for ln in doc.lines if ln.row < limit]:
                for found in _money_finder(line.text):
                    if found.data.value in expected:
                        # Right after a rounding line it is the rounded total.
                        rounded = any(r < line.row for r in roundings)
                        score = 0.86 if rounded else 0.8
                        candidates.append(_cand(found, line, score, "cash - change", "unlabelled"))
    else:
        for cand in candidates:
            cand.score += 0.001 * min(float(cand.data.value), 1e6) / 1e6
    chosen = best(candidates)
    if chosen is not None:
        value = chosen.data.value
        rivals = {
            c.data.value
            for c in candidates
            if c.score > 0.5 and abs(c.data.value - value) > Decimal("0.05")
        }
        if rivals and value not in expected:
            # Another total label says something else and rounding does not explain it.
            chosen.score *= 0.8
            chosen.cues.append("conflicting totals")
        return chosen
    if expected:
        # No readable total label: the paid amount minus the change is still the total.
        for line in doc.lines:
            for found in _money_finder(line.text):
                if found.data.value in expected:
                    return _cand(found, line, 0.45, "cash - change", "unlabelled")
    amounts = [
        (f.data.value, line, f)
        for line in doc.lines
        for f in _money_finder(line.text)
        if f.data and f.data.value > 0 and not lb.PAYMENT.search(line.text)
        and not lb.CHANGE.search(line.text)
    ]  # fmt: skip
    if not amounts:
        return None
    value, line, found = max(amounts, key=lambda t: (t[0], -t[1].index))
    return _cand(found, line, 0.3, "largest amount", "unlabelled")


def find_labelled_money(
    doc: Document,
    patterns: lb.Labels,
    exclude: re.Pattern[str] | None = None,
    *,
    allow_zero: bool = True,
) -> Candidate | None:
    hits = find_labels(doc, patterns, exclude=exclude)
    candidates = _labelled_amounts(doc, hits, 0.85)
    if not allow_zero:
        candidates = [c for c in candidates if c.data.value != 0]
    return best(candidates)


def currency_result(doc: Document, total: Candidate | None) -> FieldResult:
    """ISO 4217 code: the one written next to the total, else the one the document uses."""
    if total is not None and total.currency:
        cand = Candidate(total.currency, total.line, total.start, total.end, 0.92)
        return result_from(doc, cand)
    code, seen = nz.detect_currency(doc.text)
    if code is None:
        return FieldResult(value=None, confidence=0.0, evidence=None)
    for line in doc.lines:
        for amount in nz.find_amounts(line.text):
            if amount.currency == code:
                cand = Candidate(code, line, amount.start, amount.end, 0.6 + min(seen, 6) * 0.05)
                return result_from(doc, cand)
    # Written in a label ("TOTAL (RM)") or in words ("US Dollars").
    tokens = [code]
    tokens += [s for s, c in nz.CURRENCY_SYMBOLS.items() if c == code]
    tokens += [w for w, c in nz.CURRENCY_WORDS.items() if c == code]
    alternatives = "|".join(re.escape(t) for t in sorted(tokens, key=len, reverse=True))
    pattern = re.compile(rf"(?<![A-Za-z])(?:{alternatives})(?![A-Za-z])", re.IGNORECASE)
    for line in doc.lines:
        m = pattern.search(line.text)
        if m:
            return result_from(doc, Candidate(code, line, m.start(), m.end(), 0.6))
    return FieldResult(value=code, confidence=0.5, evidence=None)


# -------------------------------------------------------------------- invoice number

_WORD = re.compile(r"[^\W\d_]{2,}")


def _id_only(text: str) -> list[Found]:
    """Identifiers on a line that holds little else (a value line under a label)."""
    found = find_id_values(text)
    if not found:
        return []
    rest = text
    for f in reversed(found):
        rest = rest[: f.start] + rest[f.end :]
    if _WORD.search(rest.replace("#", "")):
        return []
    return found


def _leading_id(text: str) -> list[Found]:
    """An identifier that starts a line with at most a label after it ("30064443 Kundennr."):
    text layers sometimes print a label's value lines away from it."""
    found = find_id_values(text)
    if not found or text[: found[0].start].strip(" #:") or len(_WORD.findall(text)) > 2:
        return []
    return found[:1]


def find_invoice_number(doc: Document) -> tuple[Candidate | None, list[LabelHit]]:
    hits = find_labels(doc, lb.INVOICE_NUMBER)
    candidates = []
    for hit in hits:
        values = values_after(doc, hit, find_id_values, other_finder=_id_only)
        if not values and hit.weight >= 0.85:
            values = values_after(doc, hit, lambda _: [], other_finder=_leading_id, nearby=8)
        for rank, (line, found, where) in enumerate(values[:6]):
            if where != "nearby" and rank > 0:
                break  # the nearest value is the label's; the others belong to others
            score = 0.92 * hit.weight * POSITION_WEIGHT[where]
            if where == "nearby":
                # Away from its label, a long identifier is more likely the invoice
                # number than a short customer or page number.
                distance = abs(line.index - hit.line.index)
                score += 0.02 * min(len(found.value), 10) - 0.02 * distance
            candidates.append(_cand(found, line, score, f"label:{hit.name.strip()}", where))
    votes = Counter(c.value for c in candidates if c.score > 0.5)
    for cand in candidates:
        if votes[cand.value] > 1:
            cand.score += 0.05
    return best(candidates), hits
