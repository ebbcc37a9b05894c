"""Find and normalise typed values in text: dates, money, numbers, e-mail, phone, IBAN.

Every ``find_*`` function returns matches with character offsets into the text it was
given, so callers can point at the evidence. Parsing is deliberately tolerant of the
noise real documents carry (OCR commas for dots, month names in several languages,
currency symbols glued to numbers).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

__all__ = [
    "MONTHS",
    "AmountMatch",
    "DateMatch",
    "Match",
    "detect_currency",
    "find_amounts",
    "find_dates",
    "find_emails",
    "find_ibans",
    "find_phones",
    "format_money",
    "iban_is_valid",
    "normalize_email",
    "normalize_iban",
    "normalize_number",
    "normalize_phone",
    "parse_date",
    "parse_money",
]

MIN_YEAR = 1970
MAX_YEAR = 2100


@dataclass(frozen=True)
class Match:
    start: int
    end: int
    raw: str
    value: str


@dataclass(frozen=True)
class DateMatch:
    start: int
    end: int
    raw: str
    value: dt.date
    named_month: bool  # "25 Dec 2018": the order of day and month is not in doubt
    ambiguous: bool  # "05/03/2018": read day-first, but month-first would be valid too


@dataclass(frozen=True)
class AmountMatch:
    start: int
    end: int
    raw: str
    value: Decimal
    decimals: int  # digits after the decimal separator (0 for "1939")
    currency: str | None  # ISO code of a symbol or code written next to the number


# ---------------------------------------------------------------------------------- dates

_MONTH_NAMES: dict[int, tuple[str, ...]] = {
    1: ("january", "jan", "janvier", "janv", "januar", "jänner", "januari", "stycznia",
        "styczeń", "styczen", "enero", "gennaio"),
    2: ("february", "feb", "févr", "fevr", "février", "fevrier", "februar", "februari",
        "lutego", "luty", "febrero", "febbraio"),
    3: ("march", "mar", "mars", "märz", "maerz", "mär", "maart", "mrt", "marca", "marzec",
        "mac", "marzo"),
    4: ("april", "apr", "avril", "avr", "kwietnia", "kwiecień", "abril", "aprile"),
    5: ("may", "mai", "mei", "maja", "maj", "mayo", "maggio"),
    6: ("june", "jun", "juin", "juni", "czerwca", "czerwiec", "junio", "giugno"),
    7: ("july", "jul", "juillet", "juil", "juli", "julai", "lipca", "lipiec", "julio",
        "luglio"),
    8: ("august", "aug", "août", "aout", "augustus", "ogos", "sierpnia", "sierpień",
        "agosto"),
    9: ("september", "sep", "sept", "septembre", "września", "wrzesien", "wrzesień",
        "septiembre", "settembre"),
    10: ("october", "oct", "octobre", "oktober", "okt", "października", "pazdziernika",
         "październik", "octubre", "ottobre"),
    11: ("november", "nov", "novembre", "listopada", "listopad", "noviembre"),
    12: ("december", "dec", "décembre", "decembre", "déc", "dezember", "dez", "disember",
         "dis", "grudnia", "grudzień", "diciembre", "dicembre"),
}  # fmt: skip
MONTHS: dict[str, int] = {name: number for number, names in _MONTH_NAMES.items() for name in names}
_MONTH_RE = "|".join(sorted((re.escape(m) for m in MONTHS), key=len, reverse=True))

# Numeric dates. The year may run straight into a time ("25/12/20188:13:39PM" from an OCR
# engine that drops spaces), so a 4-digit year followed by "H:MM" is accepted.
_YEAR = (
    r"(?P<y>(?:19|20)\d{2}(?=\d{1,2}:\d\d)|(?:19|20)\d{2}(?!\d)|\d{2}(?=\d{1,2}:\d\d)"
    r"|\d{2}(?!\d))"
)
_NUMERIC_DATE = re.compile(
    r"(?<![\d.,/])(?:"
    r"(?P<Y>(?:19|20)\d{2})(?P<s0>[-./])(?P<M>\d{1,2})(?P=s0)(?P<D>\d{1,2})(?!\d)"
    r"|(?P<a>\d{1,2})(?P<s>[-./])(?P<b>\d{1,2})(?P=s)"
    + _YEAR
    + r"|(?P<a2>\d{1,2}) ?(?P<s2>[./]) ?(?P<b2>\d{1,2}) ?(?P=s2) ?(?P<y2>(?:19|20)\d{2})(?!\d))"
)
# "25 Dec 2018", "25-DEC-18", "7. Mai 2014", "1er juillet 2015", "25DEC2018"
_DAY_MONTH_YEAR = re.compile(
    r"(?<![\w])(?P<d>\d{1,2})(?:st|nd|rd|th|er|e)?\.?[\s\-/]{0,3}"
    rf"(?P<m>{_MONTH_RE})\.?,?[\s\-/]{{0,3}}"
    r"(?P<y>(?:19|20)\d{2}(?=\d{1,2}:\d\d)|\d{4}(?!\d)|\d{2}(?!\d))",
    re.IGNORECASE,
)
# "August 3, 2014", "Aug 3 , 2014", "Jan 1, 2022", "December 25th 2018"
_MONTH_DAY_YEAR = re.compile(
    rf"(?<![\w])(?P<m>{_MONTH_RE})\.?\s{{0,3}}(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\s{{0,2}},?"
    r"\s{0,3}(?P<y>\d{4})(?!\d)",
    re.IGNORECASE,
)


def _year(raw: str) -> int:
    year = int(raw)
    if len(raw) == 2:
        year += 2000 if year < 70 else 1900
    return year


def _make_date(year: int, month: int, day: int) -> dt.date | None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        return None
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _month_boundary_ok(text: str, end: int) -> bool:
    """A month name must not be the start of a longer word ("Mar" in "Marketing")."""
    return end >= len(text) or not text[end].isalpha()


def find_dates(text: str, *, day_first: bool = True) -> list[DateMatch]:
    """Every date in ``text``, in order, without overlaps."""
    found: list[DateMatch] = []
    taken: list[tuple[int, int]] = []

    def free(start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e in taken)

    for pattern in (_DAY_MONTH_YEAR, _MONTH_DAY_YEAR):
        for m in pattern.finditer(text):
            month_name = m.group("m").lower()
            if month_name not in MONTHS:
                continue
            date = _make_date(_year(m.group("y")), MONTHS[month_name], int(m.group("d")))
            if date is None or not free(m.start(), m.end()):
                continue
            found.append(DateMatch(m.start(), m.end(), m.group(0), date, True, False))
            taken.append((m.start(), m.end()))
    for m in _NUMERIC_DATE.finditer(text):
        if not free(m.start(), m.end()):
            continue
        if m.group("Y"):
            date = _make_date(int(m.group("Y")), int(m.group("M")), int(m.group("D")))
            ambiguous = False
        else:
            spaced = m.group("a2") is not None
            raw_a, raw_b = (
                (m.group("a2"), m.group("b2")) if spaced else (m.group("a"), m.group("b"))
            )
            raw_year = m.group("y2") if spaced else m.group("y")
            if len(raw_year) == 2 and (
                (len(raw_a) == 1 and len(raw_b) == 1)
                or (m.start() > 0 and text[m.start() - 1].isalpha())
                or re.match(r"[-/]\d", text[m.end() :])
            ):
                continue  # "3-7-15", "HC03-7-15", "04-06-5/40": product codes, not dates
            a, b, year = int(raw_a), int(raw_b), _year(raw_year)
            first, second = (a, b) if day_first else (b, a)
            date = _make_date(year, second, first)
            other = _make_date(year, first, second)
            if date is None:
                date, other = other, None
            ambiguous = other is not None and a != b
            # Two-digit numbers separated by dots are often versions or times, not dates.
            if date is not None and m.group("s") == "." and len(raw_year) == 2:
                ambiguous = True
        if date is None:
            continue
        found.append(DateMatch(m.start(), m.end(), m.group(0), date, False, ambiguous))
        taken.append((m.start(), m.end()))
    found.sort(key=lambda d: d.start)
    return found


def parse_date(text: str, *, day_first: bool = True) -> dt.date | None:
    """The first date in ``text`` (e.g. "25/12/2018", "25 DEC 2018", "7. Mai 2014");
    a string that is only eight digits is read as YYYYMMDD."""
    compact = re.fullmatch(r"\s*((?:19|20)\d\d)(\d\d)(\d\d)\s*", text)
    if compact:
        return _make_date(*(int(g) for g in compact.groups()))
    matches = find_dates(text, day_first=day_first)
    return matches[0].value if matches else None


# ---------------------------------------------------------------------------------- money

# Symbols and codes that may stand next to an amount, longest first when matching.
CURRENCY_SYMBOLS: dict[str, str] = {
    "€": "EUR",
    "£": "GBP",
    "¥": "JPY",
    "₹": "INR",
    "₩": "KRW",
    "₽": "RUB",
    "฿": "THB",
    "₱": "PHP",
    "₫": "VND",
    "₺": "TRY",
    "us$": "USD",
    "usd$": "USD",
    "s$": "SGD",
    "a$": "AUD",
    "c$": "CAD",
    "hk$": "HKD",
    "nz$": "NZD",
    "r$": "BRL",
    "$": "USD",
    "rm": "MYR",
    "rs": "INR",
    "rs.": "INR",
    "inr": "INR",
    "zł": "PLN",
    "zl": "PLN",
    "kč": "CZK",
    "fr.": "CHF",
    "chf": "CHF",
    "kr": "SEK",
}
CURRENCY_CODES = frozenset(
    "EUR USD GBP JPY CNY INR MYR SGD AUD CAD CHF PLN CZK HUF SEK NOK DKK RON BGN HRK IDR "
    "THB PHP VND HKD NZD ZAR BRL MXN TRY RUB KRW AED SAR ILS".split()
)
CURRENCY_WORDS: dict[str, str] = {
    "euro": "EUR",
    "euros": "EUR",
    "us dollars": "USD",
    "dollars": "USD",
    "ringgit": "MYR",
    "rupees": "INR",
    "złotych": "PLN",
}

_CUR_TOKEN = (
    r"(?:us\$|usd\$|hk\$|nz\$|s\$|a\$|c\$|r\$|[€£¥₹₩₽฿₱₫₺$]|rm|rs\.?|zł|zl|kč|fr\.|"
    + "|".join(sorted(CURRENCY_CODES))
    + r")"
)
# Spaces group thousands only before a decimal comma ("1 200,00 €"): in "Total 1 278.61"
# the 1 is a quantity column.
_NUMBER = (
    r"(?P<num>\d{1,3}(?:[ \u00a0\u202f]\d{3})+,\d{2}(?!\d)"
    r"|\d{1,3}(?:(?P<g>[,.\u00a0\u202f'’])\d{3})(?:(?P=g)\d{3})*(?:[.,]\d{1,2})?"
    r"|\d+(?:[.,]\d{1,3}|[.,] \d{2}(?![\d.,]))?)"
)
_AMOUNT = re.compile(
    rf"(?:(?<![a-z])(?P<pre>{_CUR_TOKEN})\s?|(?<![\w.,:]))(?P<sign>-\s?)?{_NUMBER}"
    r"(?![\d])(?![.,:]\d)(?!\s?%)"
    rf"(?:\s?(?P<post>{_CUR_TOKEN})(?![a-z0-9])(?!\s?-?\d))?(?P<credit>-(?!\w))?",
    re.IGNORECASE,
)


def _currency_of(token: str | None) -> str | None:
    if not token:
        return None
    low = token.lower()
    if low in CURRENCY_SYMBOLS:
        return CURRENCY_SYMBOLS[low]
    if token.upper() in CURRENCY_CODES:
        return token.upper()
    return None


def _number_value(raw: str) -> tuple[Decimal, int] | None:
    """Decimal value of a number written with any usual grouping/decimal separators."""
    s = raw.strip().replace("\u00a0", " ").replace("\u202f", " ").replace("’", "'")
    s = re.sub(r"(?<=\d)[ '](?=\d{3}\b)", "", s)
    s = re.sub(r"(?<=\d[.,]) (?=\d)", "", s)  # OCR: "73. 00"
    if not re.fullmatch(r"\d[\d.,]*", s):
        return None
    last_dot, last_comma = s.rfind("."), s.rfind(",")
    decimal_sep: str | None
    if last_dot >= 0 and last_comma >= 0:
        decimal_sep = "." if last_dot > last_comma else ","
    elif last_dot >= 0 or last_comma >= 0:
        sep = "." if last_dot >= 0 else ","
        tail = s.rsplit(sep, 1)[1]
        head = s.split(sep, 1)[0]
        if s.count(sep) > 1:
            decimal_sep = sep if len(tail) != 3 else None
        elif len(tail) == 3 and head not in ("0", ""):
            decimal_sep = None  # "1,234" / "1.234": a thousands separator
        else:
            decimal_sep = sep
    else:
        decimal_sep = None
    if decimal_sep is None:
        integer, fraction = re.sub(r"[.,]", "", s), ""
    else:
        integer, fraction = s.rsplit(decimal_sep, 1)
        integer = re.sub(r"[.,]", "", integer)
    try:
        value = Decimal(f"{integer or 0}.{fraction}" if fraction else (integer or "0"))
    except InvalidOperation:
        return None
    return value, len(fraction)


def parse_money(text: str) -> Decimal | None:
    """Amount in ``text``: "1.234,50", "1,234.50", "RM 9.00", "€3.50", "$8.20", "-9,32"."""
    s = text.strip()
    negative = s.startswith("-") or s.endswith("-") or (s.startswith("(") and s.endswith(")"))
    digits = re.search(r"\d[\d.,\s\u00a0\u202f'’]*", s)
    if digits is None:
        return None
    parsed = _number_value(digits.group(0).strip())
    if parsed is None:
        return None
    return -parsed[0] if negative else parsed[0]


def format_money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def find_amounts(text: str) -> list[AmountMatch]:
    """Every number in ``text`` read as an amount, with an adjacent currency if any."""
    out = []
    for m in _AMOUNT.finditer(text):
        parsed = _number_value(m.group("num"))
        if parsed is None:
            continue
        value, decimals = parsed
        if m.group("sign") or m.group("credit"):
            value = -value
        currency = _currency_of(m.group("pre")) or _currency_of(m.group("post"))
        start, end = m.start(), m.end()
        if not currency:
            start, end = m.start("sign") if m.group("sign") else m.start("num"), m.end("num")
        out.append(AmountMatch(start, end, text[start:end], value, decimals, currency))
    return out


def detect_currency(text: str) -> tuple[str | None, int]:
    """The currency a document uses most: (ISO code or None, how many times it was seen)."""
    counts: dict[str, int] = {}
    for amount in find_amounts(text):
        if amount.currency:
            counts[amount.currency] = counts.get(amount.currency, 0) + 2
    for m in re.finditer(r"(?<![A-Za-z])([A-Z]{3})(?![A-Za-z])", text):
        if m.group(1) in CURRENCY_CODES:
            counts[m.group(1)] = counts.get(m.group(1), 0) + 1
    # "TOTAL (RM)", "Prix (€)": a currency written in a label rather than by an amount.
    for m in re.finditer(r"(?<![A-Za-z])(RM|Rs\.?|zł|[€£¥₹])(?![A-Za-z])", text):
        code = _currency_of(m.group(1))
        if code:
            counts[code] = counts.get(code, 0) + 1
    low = text.lower()
    for word, code in CURRENCY_WORDS.items():
        n = len(re.findall(rf"\b{re.escape(word)}\b", low))
        if n:
            counts[code] = counts.get(code, 0) + n
    if not counts:
        return None, 0
    code = max(counts, key=lambda c: counts[c])
    return code, counts[code]


def normalize_number(text: str) -> str | None:
    """Plain decimal: "1.234,5" -> "1234.5", "12" -> "12", "-3,00" -> "-3"."""
    value = parse_money(text)
    if value is None:
        return None
    normalized = value.normalize()
    exponent = normalized.as_tuple().exponent
    if isinstance(exponent, int) and exponent > 0:
        normalized = normalized.quantize(Decimal(1))
    return format(normalized, "f")


# ------------------------------------------------------------------- e-mail, phone, IBAN

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}(?![\w])", re.IGNORECASE)
_PHONE = re.compile(r"(?<![\w+])(?:\+|00)?\(?\d[\d\s().\-/]{5,}\d(?![\w])")
_IBAN_START = re.compile(r"(?<![A-Z0-9])([A-Z]{2}\d{2})(?=[ ]?[A-Z0-9])")

IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
    "BH": 22, "BR": 29, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18,
    "DO": 28, "EE": 20, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22,
    "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23,
    "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LI": 21, "LT": 20,
    "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31,
    "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29,
    "RO": 24, "RS": 22, "SA": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TN": 24,
    "TR": 26, "UA": 29, "VG": 24, "XK": 20,
}  # fmt: skip


def normalize_email(text: str) -> str | None:
    m = _EMAIL.search(text)
    return m.group(0).lower() if m else None


def find_emails(text: str) -> list[Match]:
    return [
        Match(m.start(), m.end(), m.group(0), m.group(0).lower()) for m in _EMAIL.finditer(text)
    ]


def normalize_phone(text: str) -> str | None:
    """Digits of a phone number, keeping a leading + ("+60 7-350 7405" -> "+6073507405")."""
    s = text.strip()
    digits = re.sub(r"\D", "", s)
    if not 7 <= len(digits) <= 15:
        return None
    if s.startswith("+"):
        return "+" + digits
    if s.startswith("00") and len(digits) > 10:
        return "+" + digits[2:]
    return digits


def find_phones(text: str) -> list[Match]:
    """Phone numbers: they start with +, 00, 0 or "(", or are written in groups; a bare
    run of digits is more often an order or account number."""
    out = []
    taken = [(d.start, d.end) for d in find_dates(text)]
    taken += [(m.start, m.end) for m in find_ibans(text)]
    for m in _PHONE.finditer(text):
        raw = m.group(0).rstrip(" -/.(")
        if any(m.start() < e and m.start() + len(raw) > s for s, e in taken):
            continue
        if re.fullmatch(r"\d+[.,]\d{2}", raw) or re.search(r"\d[.,]\d{2}$", raw):
            continue  # an amount
        if not (raw[0] in "+0(" or len(re.findall(r"[\s\-/.]", raw)) >= 2):
            continue
        value = normalize_phone(raw)
        if value:
            out.append(Match(m.start(), m.start() + len(raw), raw, value))
    return out


def normalize_iban(text: str) -> str:
    return re.sub(r"\s", "", text).upper()


def iban_is_valid(text: str) -> bool:
    iban = normalize_iban(text)
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{8,30}", iban):
        return False
    expected = IBAN_LENGTHS.get(iban[:2])
    if expected is not None and len(iban) != expected:
        return False
    rearranged = iban[4:] + iban[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def find_ibans(text: str, *, valid_only: bool = True) -> list[Match]:
    """IBANs in ``text``; written in groups ("FR76 1010 7...") or in one piece.

    Groups are taken while they may still belong to the IBAN, then the longest prefix
    that passes the mod-97 check wins (so a following word such as "BIC" is left out).
    """
    out = []
    upper = text.upper()
    pos = 0
    for m in _IBAN_START.finditer(upper):
        if m.start() < pos:
            continue
        # Tokens after the country+check digits: letters/digits separated by single spaces.
        ends = []
        i = m.end()
        while i < len(upper) and len(normalize_iban(upper[m.start() : i])) < 34:
            if upper[i].isalnum() and upper[i].isascii():
                i += 1
                if i == len(upper) or not (upper[i].isalnum() and upper[i].isascii()):
                    ends.append(i)
            elif upper[i] == " " and i + 1 < len(upper) and upper[i + 1].isalnum():
                i += 1
            else:
                break
        for end in reversed(ends):
            raw = text[m.start() : end]
            if iban_is_valid(raw) or (not valid_only and end == ends[-1]):
                out.append(Match(m.start(), end, raw, normalize_iban(raw)))
                pos = end
                break
    return out
