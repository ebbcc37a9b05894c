"""How a rule's two sides compare: the operators, numbers read from text ("1,234.50",
"€ 12,50"), equality and containment without case, and a value as a log line shows it."""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any

from automations.engine.fields.normalize import parse_money

OPS: dict[str, str] = {
    "is": "is",
    "is_not": "is not",
    "contains": "contains",
    "at_least": "is at least",
    "at_most": "is at most",
    "above": "is above",
    "below": "is below",
    "is_empty": "is empty",
    "is_not_empty": "is not empty",
}
NUMERIC_OPS = frozenset({"at_least", "at_most", "above", "below"})
NO_VALUE_OPS = frozenset({"is_empty", "is_not_empty"})
# Text longer than this is never read as a number (no amount is that long).
MAX_NUMBER_CHARS = 64

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
# A whole value that is an amount: an optional sign and currency, the number, an optional
# currency ("1,234.50", "-3", "EUR 12,50", "12.50 €", "$8.20").
_AMOUNT = re.compile(
    r"^[+-]?\s*(?:[A-Za-z]{1,3}\$?|[^\w\s.,+-]{1,2})?\s*[+-]?\d[\d.,\s'\u00a0\u202f]*"
    r"(?:\s*(?:[A-Za-z]{1,3}|[^\w\s.,+-]{1,2}))?$"
)


def to_number(value: Any) -> float | None:
    """A number, from a number or from text like "1,234.50" or "EUR 12,50"; else None
    (booleans, empty text, "Invoice 42")."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | Decimal):
        return _finite(value)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or len(text) > MAX_NUMBER_CHARS or not _AMOUNT.match(text):
        return None
    parsed = parse_money(text)
    return None if parsed is None else _finite(parsed)


def _finite(value: int | float | Decimal) -> float | None:
    try:
        number = float(value)
    except (OverflowError, ValueError):  # an int past 1e308
        return None
    return number if math.isfinite(number) else None


def is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | dict):
        return not value
    return False


def equals(actual: Any, expected: Any) -> bool:
    if isinstance(actual, bool) or isinstance(expected, bool):
        return _as_bool(actual) is not None and _as_bool(actual) == _as_bool(expected)
    left, right = to_number(actual), to_number(expected)
    if left is not None and right is not None:
        return left == right
    return _text(actual) == _text(expected)


def contains(actual: Any, expected: Any) -> bool:
    if actual is None:
        return False
    if isinstance(actual, list):
        return any(equals(item, expected) for item in actual)
    if isinstance(actual, dict):
        return _text(expected) in {_text(key) for key in actual}
    return _text(expected) in _text(actual)


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().casefold() in _TRUE:
        return True
    if isinstance(value, str) and value.strip().casefold() in _FALSE:
        return False
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    return None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return " ".join(value.split()).casefold()
    if isinstance(value, dict | list):
        return _dumps(value, sort_keys=True).casefold()
    return _str(value).casefold()


def _str(value: Any) -> str:
    """str(), which refuses ints of more than 4300 digits (ValueError)."""
    try:
        return str(value)
    except ValueError:
        return "a number too long to show"


def _dumps(value: Any, **options: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, default=_str, **options)
    except (ValueError, TypeError, RecursionError):
        return _str(type(value).__name__)


def show(value: Any, limit: int = 60) -> str:
    """A value as a log line shows it: 'text' quoted, numbers plain, empty for nothing."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return "empty"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return _str(value)
    text = value if isinstance(value, str) else _dumps(value)
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"'{text}'" if isinstance(value, str) else text
