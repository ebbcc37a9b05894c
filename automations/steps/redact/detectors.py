"""What counts as an e-mail address, a phone number, an IBAN or a card number, and where
they are in a text.

Detectors are strict on purpose: an IBAN must pass its mod-97 check and a card number the
Luhn check, and a phone number needs a phone's shape (international prefix, trunk 0, or
the North American 3-3-4 grouping), so dates, amounts and order numbers stay readable.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from automations.steps.redact.patterns import Patterns, custom_spans

BUILTIN_KINDS = ("email", "phone", "iban", "card")
ALL_KINDS = (*BUILTIN_KINDS, "custom")
# Overlaps go to the longer match; on equal length to the earlier kind here.
PRIORITY = {"email": 0, "iban": 1, "card": 2, "phone": 3, "custom": 4}


@dataclass(frozen=True)
class Match:
    kind: str  # email, phone, iban, card, custom
    start: int
    end: int
    label: str  # the kind, or a custom pattern's name

    @property
    def length(self) -> int:
        return self.end - self.start


EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![\w@])",
    re.ASCII,
)
IBAN_RUN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}(?![A-Za-z0-9])")
CARD_RUN = re.compile(r"(?<![0-9.,-])[0-9](?:[ -]?[0-9]){12,18}(?![0-9]|[.,][0-9])")
# A run of phone-like characters (bounded, so matching stays linear); which part of it is
# a phone is decided in Python, token by token.
PHONE_RUN = re.compile(
    r"(?<![\w+.,/-])[+(]?[0-9][0-9 ()./-]{5,40}[0-9](?![\w/]|[.,][0-9])", re.ASCII
)
DATE = re.compile(r"(?<![0-9])[0-9]{1,4}[./-][0-9]{1,2}[./-][0-9]{1,4}(?![0-9])")
AMOUNT = re.compile(r"\+?[0-9]{1,3}(?:[ .,'][0-9]{3})*[.,][0-9]{1,2}")
NORTH_AMERICAN = re.compile(r"\(?[2-9][0-9]{2}\)?[ .-]?[0-9]{3}[ .-][0-9]{4}")

# Lengths of IBANs by country (the SWIFT registry); other countries: 15 to 34.
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip


def iban_is_valid(candidate: str) -> bool:
    """ISO 13616 check: known length for the country and mod 97 == 1."""
    iban = candidate.replace(" ", "").upper()
    if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}", iban):
        return False
    expected = IBAN_LENGTHS.get(iban[:2])
    if expected is not None and len(iban) != expected:
        return False
    digits = "".join(str(int(ch, 36)) for ch in iban[4:] + iban[:4])
    return int(digits) % 97 == 1


def luhn_is_valid(number: str) -> bool:
    """The Luhn checksum of the ASCII digits in ``number`` (other characters are skipped)."""
    digits = [int(d) for d in number if "0" <= d <= "9"]  # ASCII only: "²".isdigit() too
    total = 0
    for i, digit in enumerate(reversed(digits)):
        if i % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return bool(digits) and total % 10 == 0


def card_is_valid(candidate: str) -> bool:
    """13 to 19 digits, a card network's first digit and a valid Luhn checksum."""
    digits = re.sub(r"[^0-9]", "", candidate)
    # Card numbers start with 2-6 (Mastercard 2/5, Amex/Diners/JCB 3, Visa 4, Discover 6);
    # checking it halves the false alarms on long reference numbers.
    return 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn_is_valid(digits)


def phone_is_valid(candidate: str) -> bool:
    """A phone's shape: 7 to 15 digits, and a prefix or grouping no date or amount has."""
    digits = re.sub(r"[^0-9]", "", candidate)
    if not 7 <= len(digits) <= 15 or "  " in candidate:
        return False
    if any(not re.search(r"[0-9]", token) for token in candidate.split()):
        return False  # "0958 / 030": a lone separator lists two numbers
    if candidate.count("(") != candidate.count(")") or candidate.count("(") > 1:
        return False
    if DATE.search(candidate) or AMOUNT.fullmatch(candidate):
        return False
    if candidate.startswith("+"):
        return len(digits) >= 8
    if digits.startswith("00"):  # international prefix, not a zero-padded id
        return len(digits) >= 10 and digits[2] != "0"
    if candidate.startswith("0") or candidate.startswith("(0"):
        return True  # national form with trunk prefix
    return bool(NORTH_AMERICAN.fullmatch(candidate))


def _token_windows(text: str, start: int, end: int, anchored: bool) -> Iterator[tuple[int, int]]:
    """Spans of whole space-separated tokens inside text[start:end], longest first.

    ``anchored`` keeps the window's start at ``start`` (an IBAN cannot start mid-run).
    """
    tokens = [(m.start() + start, m.end() + start) for m in re.finditer(r"\S+", text[start:end])]
    firsts = range(1) if anchored else range(len(tokens))
    windows = [(tokens[i][0], tokens[j][1]) for i in firsts for j in range(i, len(tokens))]
    yield from sorted(windows, key=lambda w: (w[0] - w[1], w[0]))


def _validated_spans(
    text: str,
    runs: Iterable[re.Match[str]],
    is_valid: Callable[[str], bool],
    anchored: bool,
) -> Iterator[tuple[int, int]]:
    """For each candidate run, the longest non-overlapping token windows that validate."""
    for run in runs:
        taken: list[tuple[int, int]] = []
        for s, e in _token_windows(text, run.start(), run.end(), anchored):
            if any(s < te and ts < e for ts, te in taken) or not is_valid(text[s:e]):
                continue
            taken.append((s, e))
            if anchored:
                break
        yield from taken


def _builtin_spans(kind: str, text: str) -> Iterator[tuple[int, int]]:
    """Where the built-in ``kind`` matches in ``text``."""
    if kind == "email":
        for m in EMAIL.finditer(text):
            yield m.span()
    elif kind == "iban":
        yield from _validated_spans(text, IBAN_RUN.finditer(text), iban_is_valid, anchored=True)
    elif kind == "card":
        # Cards split into groups by spaces; a group glued on after the number ("... 1111 2")
        # is cut off by trying shorter windows.
        yield from _validated_spans(text, CARD_RUN.finditer(text), card_is_valid, anchored=True)
    elif kind == "phone":
        yield from _validated_spans(text, PHONE_RUN.finditer(text), phone_is_valid, anchored=False)


def find_matches(
    text: str,
    kinds: Sequence[str] = BUILTIN_KINDS,
    patterns: Patterns = (),
) -> list[Match]:
    """All matches in ``text``, without overlaps (the longer one wins), in text order."""
    found = [
        Match(kind, s, e, kind)
        for kind in kinds
        if kind in BUILTIN_KINDS
        for s, e in _builtin_spans(kind, text)
    ]
    for name, pattern in patterns:
        found.extend(Match("custom", s, e, name) for s, e in custom_spans(name, pattern, text))
    chosen: list[Match] = []
    for match in sorted(found, key=lambda m: (-m.length, PRIORITY[m.kind], m.start)):
        if match.length and not any(match.start < c.end and c.start < match.end for c in chosen):
            chosen.append(match)
    return sorted(chosen, key=lambda m: m.start)
