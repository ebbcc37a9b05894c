"""Whether a condition holds on the earlier steps' outputs, and why not."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from automations.engine.conditions.compare import OPS, contains, equals, is_empty, show, to_number
from automations.engine.refs import resolve


@dataclass
class Verdict:
    holds: bool
    reason: str = ""  # why it does not hold, for the skipped step's log
    notes: list[str] = field(default_factory=list)  # values that were not numbers


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
