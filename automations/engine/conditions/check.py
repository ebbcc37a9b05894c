"""Checking a ``when`` before anything runs: its shape, its rules, their values."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from automations.engine.conditions.compare import NO_VALUE_OPS, NUMERIC_OPS, OPS, to_number
from automations.engine.refs import is_reference, step_of

MATCHES = ("all", "any")
MAX_RULES = 20
MAX_VALUE_CHARS = 500
# A value to compare with is at most this large (past 2**53 floats lose whole numbers).
MAX_NUMBER = 10**15


@dataclass(frozen=True)
class Problem:
    """A mistake in a condition: the field (``when.rules.0.value``) and what to do."""

    field: str
    message: str


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
