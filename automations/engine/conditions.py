"""Conditions on a step: ``when`` (run only if its rules hold) and how they are checked.

A condition is ``{"match": "all" | "any", "rules": [{"ref", "op", "value"}]}``. ``ref``
names an earlier step's output (automations.engine.refs). Numeric operators read both
sides as numbers ("1,234.50" is 1234.5, "€ 12,50" is 12.5); a side that is not a number
makes the rule false, and the reason says so. Text compares without case and surrounding
spaces; a number written as text equals the same number ("93.50" is 93.5).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from automations.engine.fields.normalize import parse_money
from automations.engine.refs import is_reference, resolve, step_of

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
MATCHES = ("all", "any")
MAX_RULES = 20
MAX_VALUE_CHARS = 500
# A value to compare with is at most this large (past 2**53 floats lose whole numbers), and
# text longer than MAX_NUMBER_CHARS is never read as a number (no amount is that long).
MAX_NUMBER = 10**15
MAX_NUMBER_CHARS = 64

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
# A whole value that is an amount: an optional sign and currency, the number, an optional
# currency ("1,234.50", "-3", "EUR 12,50", "12.50 €", "$8.20").
_AMOUNT = re.compile(
    r"^[+-]?\s*(?:[A-Za-z]{1,3}\$?|[^\w\s.,+-]{1,2})?\s*[+-]?\d[\d.,\s'\u00a0\u202f]*"
    r"(?:\s*(?:[A-Za-z]{1,3}|[^\w\s.,+-]{1,2}))?$"
)


@dataclass(frozen=True)
class Problem:
    """A mistake in a condition: the field (``when.rules.0.value``) and what to do."""

    field: str
    message: str


@dataclass
class Verdict:
    holds: bool
    reason: str = ""  # why it does not hold, for the skipped step's log
    notes: list[str] = field(default_factory=list)  # values that were not numbers


def check_when(raw: Any, known: list[str]) -> tuple[dict | None, list[Problem]]:
    """Normalise a ``when`` object; ``known`` are the ids of the earlier steps. Returns the
    condition (None when there are problems) and the problems, in order."""
    if not isinstance(raw, dict):
        return None, [Problem("when", "'when' must be an object with 'match' and 'rules'.")]
    problems: list[Problem] = []
    for key in sorted(set(raw) - {"match", "rules"}):
        problems.append(Problem(f"when.{key}", f"when: {key!r} is not part of a condition."))
    match = raw.get("match", "all")
    if match not in MATCHES:
        problems.append(Problem("when.match", "when: match must be 'all' or 'any'."))
    rules = raw.get("rules")
    if not isinstance(rules, list) or not rules:
        problems.append(Problem("when.rules", "when: add at least one rule."))
        return None, problems
    if len(rules) > MAX_RULES:
        problems.append(Problem("when.rules", f"when: use at most {MAX_RULES} rules."))
    checked = []
    for index, rule in enumerate(rules):
        clean, found = _check_rule(rule, index, known)
        checked.append(clean)
        problems.extend(found)
    if problems:
        return None, problems
    return {"match": match, "rules": checked}, []


def _check_rule(rule: Any, index: int, known: list[str]) -> tuple[dict, list[Problem]]:
    where, name = f"when.rules.{index}", f"when rule {index + 1}"
    if not isinstance(rule, dict):
        return {}, [Problem(where, f"{name}: must be an object with 'ref', 'op' and 'value'.")]
    problems = [
        Problem(f"{where}.{key}", f"{name}: {key!r} is not part of a rule.")
        for key in sorted(set(rule) - {"ref", "op", "value"})
    ]
    ref, op, value = rule.get("ref"), rule.get("op"), rule.get("value")
    if not isinstance(ref, str) or not ref.strip():
        problems.append(Problem(f"{where}.ref", f"{name}: choose what to compare."))
    elif not is_reference(ref):
        problems.append(
            Problem(
                f"{where}.ref",
                f"{name}: {ref!r} is not a reference like 'type.label' "
                "(a step id, then keys, joined by dots).",
            )
        )
    elif step_of(ref) not in known:
        problems.append(
            Problem(
                f"{where}.ref",
                f"{name}: {ref!r} does not come from an earlier step "
                f"(no step {step_of(ref)!r} runs before this one).",
            )
        )
    if not isinstance(op, str) or op not in OPS:
        choices = ", ".join(OPS)
        problems.append(Problem(f"{where}.op", f"{name}: choose how to compare ({choices})."))
    elif op not in NO_VALUE_OPS:
        problems.extend(_check_value(value, op, where, name))
    clean = {"ref": ref, "op": op}
    if not (isinstance(op, str) and op in NO_VALUE_OPS):
        clean["value"] = value
    return clean, problems


def _check_value(value: Any, op: str, where: str, name: str) -> list[Problem]:
    if value is None or (isinstance(value, str) and not value.strip()):
        return [Problem(f"{where}.value", f"{name}: enter the value to compare with.")]
    if not isinstance(value, str | int | float | bool):
        return [Problem(f"{where}.value", f"{name}: the value must be text or a number.")]
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        return [Problem(f"{where}.value", f"{name}: the value is longer than {MAX_VALUE_CHARS}.")]
    too_large = (
        f"{name}: the number is too large; use one between -{MAX_NUMBER:,} and {MAX_NUMBER:,}."
    )
    if isinstance(value, int | float) and not isinstance(value, bool) and not _within(value):
        return [Problem(f"{where}.value", too_large)]
    number = to_number(value)
    if op in NUMERIC_OPS and number is not None and not _within(number):
        return [Problem(f"{where}.value", too_large)]
    if op in NUMERIC_OPS and number is None:
        return [
            Problem(
                f"{where}.value",
                f"{name}: {value!r} is not a number; '{OPS[op]}' compares numbers.",
            )
        ]
    return []


def _within(number: Any) -> bool:
    """A finite number no larger than MAX_NUMBER either way (huge ints included: float()
    of them raises OverflowError)."""
    if isinstance(number, int):
        return -MAX_NUMBER <= number <= MAX_NUMBER
    return isinstance(number, float) and math.isfinite(number) and abs(number) <= MAX_NUMBER


def condition_refs(when: dict | None) -> list[str]:
    refs: list[str] = []
    for rule in (when or {}).get("rules", []):
        if rule["ref"] not in refs:
            refs.append(rule["ref"])
    return refs


def evaluate(when: dict, outputs: dict[str, Any]) -> Verdict:
    """Whether the condition holds on these outputs; when it does not, why."""
    reasons: list[str] = []
    notes: list[str] = []
    results = []
    for rule in when["rules"]:
        holds, reason, note = evaluate_rule(rule, resolve(outputs, rule["ref"]))
        results.append(holds)
        if not holds:
            reasons.append(reason)
        if note:
            notes.append(note)
        if when["match"] == "all" and not holds:
            return Verdict(False, reason, notes)
    if when["match"] == "any" and not any(results):
        reason = (
            reasons[0] if len(reasons) == 1 else "none of the rules held: " + "; ".join(reasons)
        )
        return Verdict(False, reason, notes)
    return Verdict(True, "", notes)


def evaluate_rule(rule: dict, actual: Any) -> tuple[bool, str, str]:
    """(holds, why not, a note when a side is not a number)."""
    ref, op, expected = rule["ref"], rule["op"], rule.get("value")
    shown = show(actual)
    if op == "is_empty":
        return is_empty(actual), f"{ref} is not empty ({shown})", ""
    if op == "is_not_empty":
        return not is_empty(actual), f"{ref} is empty", ""
    if op == "is":
        return equals(actual, expected), f"{ref} is {shown}, not {show(expected)}", ""
    if op == "is_not":
        return not equals(actual, expected), f"{ref} is {show(expected)}", ""
    if op == "contains":
        return contains(actual, expected), f"{ref} ({shown}) does not contain {show(expected)}", ""
    left, right = to_number(actual), to_number(expected)
    if left is None or right is None:
        reason = f"{ref} is {shown}, which is not a number"
        note = f"{ref} is {shown}, not a number, so '{OPS[op]} {expected}' does not hold."
        return False, reason, note
    holds = {
        "at_least": left >= right,
        "at_most": left <= right,
        "above": left > right,
        "below": left < right,
    }[op]
    reason = {
        "at_least": f"{ref} is {shown}, less than {show(expected)}",
        "at_most": f"{ref} is {shown}, more than {show(expected)}",
        "above": f"{ref} is {shown}, not above {show(expected)}",
        "below": f"{ref} is {shown}, not below {show(expected)}",
    }[op]
    return holds, reason, ""


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
