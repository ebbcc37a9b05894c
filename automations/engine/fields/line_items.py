"""Line items: the rows of an invoice table between its header and its totals.

A row is a line that ends in an amount; the numbers before it are read as quantity and
unit price (checked by quantity x unit price = amount where possible), the text before
the numbers is the description. A row with no text of its own takes the description
lines just above it ("[17589684] Beeswax XL / Acme beeswax / 1.00 kg 42.00 ... 42.00").
"""

from __future__ import annotations

import re
from decimal import Decimal

from automations.engine.fields import labels as lb
from automations.engine.fields import normalize as nz
from automations.engine.fields.document import Document, Line

__all__ = ["extract_line_items"]

HEADER_WORDS = re.compile(
    r"\b(?:description|desc|item|items|product|article|artikel|qty|quantity|price|"
    r"unit\s*price|rate|amount|amt|total|menge|beschreibung|bezeichnung|preis|betrag|"
    r"einzelpreis|aantal|prijs|bedrag|omschrijving|d[ée]signation|quantit[ée]|prix|"
    r"montant|nombre|p\.u\.?|ilo[śs][ćc]|cena|warto[śs][ćc]|nazwa|u/p|uom)\b",
    re.IGNORECASE,
)
STOP = re.compile(
    r"(?:^|\W)(?:" + lb.TOTAL_STRONG + "|" + lb.TOTAL_PLAIN + r")(?:\W|$)|"
    r"\b(?:tax|vat|tva|btw|mwst|gst)\b\s*\d|\bcash\b|\bchange\b|\bpayment\b",
    re.IGNORECASE,
)
SUBTOTAL = re.compile(r"sub\s*-?\s*tota|subtotaal|zwischensumme", re.IGNORECASE)
_TRAILING_NUMBER = re.compile(
    r"(?:\s+|^)(?:[€$£¥₹]|rm|rs\.?|eur|usd|pln|zł)?\s?-?\d[\d.,]*\s?(?:[€$£]|%|x)?"
    r"(?:\s*(?:kg|g|l|pcs|pc|units?|stk|st|h|m|x))?\s*$",
    re.IGNORECASE,
)


def _is_header(line: Line) -> bool:
    words = {m.group(0).lower() for m in HEADER_WORDS.finditer(line.text)}
    return len(words) >= 2 and not re.search(r"\d[.,]\d{2}", line.text)


def _split_row(text: str) -> tuple[str, list[nz.AmountMatch]] | None:
    """(description, numbers) when ``text`` ends in an amount."""
    rest = text.rstrip(" *#|")
    tail_start = len(rest)
    while True:
        m = _TRAILING_NUMBER.search(rest[:tail_start])
        if not m or m.end() != len(rest[:tail_start].rstrip()):
            break
        if re.fullmatch(r"\s*\d{4,}\s*", m.group(0)) and tail_start < len(rest):
            break  # "Exchange 2010", "Juillet 2015": part of the description
        tail_start = m.start()
    tail = rest[tail_start:]
    amounts = [a for a in nz.find_amounts(tail) if not a.raw.endswith("%")]
    amounts = [a for a in amounts if not re.match(r"\s?%", tail[a.end - tail_start :] or "")]
    if not amounts or amounts[-1].decimals != 2:
        return None
    percent_spans = [m.span() for m in re.finditer(r"-?\d[\d.,]*\s?%", tail)]
    kept = [a for a in amounts if not any(s <= a.start < e for s, e in percent_spans)]
    description = rest[:tail_start].strip(" -:|\t")
    return description, kept


def _assign(
    numbers: list[nz.AmountMatch],
) -> tuple[Decimal | None, Decimal | None, Decimal]:
    """(quantity, unit price, amount) from the numbers of a row, amount last.

    Quantity x unit price = amount decides when it can; otherwise a whole number is the
    quantity and an amount with decimals or a currency the unit price."""
    amount = numbers[-1].value
    before = numbers[:-1]

    def countable(n: nz.AmountMatch) -> bool:
        return n.value > 0 and n.value == n.value.to_integral_value() and not n.currency

    pairs = [
        (q, p)
        for i, q in enumerate(before)
        for j, p in enumerate(before)
        if i != j and q.value > 0 and abs(q.value * p.value - amount) <= Decimal("0.011")
    ]
    if pairs:
        q, p = max(pairs, key=lambda qp: (countable(qp[0]), qp[1].decimals == 2))
        return q.value, p.value, amount
    qty = next((n for n in before if countable(n)), None)
    start = before.index(qty) + 1 if qty is not None else 0
    priced = [n for n in before if n is not qty and (n.decimals == 2 or n.currency)]
    price = next((n for n in before[start:] if n in priced), priced[0] if priced else None)
    return (
        qty.value if qty is not None else None,
        price.value if price is not None else None,
        amount,
    )


def _fmt(value: Decimal | None, money: bool) -> str | None:
    if value is None:
        return None
    if money:
        return nz.format_money(value)
    return nz.normalize_number(str(value))


def extract_line_items(doc: Document) -> list[dict]:
    items: list[dict] = []
    in_table = False
    pending: list[str] = []
    for line in doc.lines:
        if _is_header(line):
            in_table, pending = True, []
            continue
        if not in_table:
            continue
        if SUBTOTAL.search(line.text):
            pending = []
            continue
        if STOP.search(line.text):
            in_table = False
            continue
        row = _split_row(line.text)
        if row is None:
            if line.text.strip():
                pending.append(line.text.strip())
                pending = pending[-2:]
            continue
        description, amounts = row
        qty, price, amount = _assign(amounts)
        if not description and pending and len(amounts) >= 2:
            description = " ".join(pending)
        pending = []
        if not description:
            continue
        items.append(
            {
                "description": re.sub(r"\s+", " ", description),
                "quantity": _fmt(qty, money=False),
                "unit_price": _fmt(price, money=True),
                "amount": _fmt(amount, money=True),
            }
        )
    return items
