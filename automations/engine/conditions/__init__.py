"""Conditions on a step: ``when`` (run only if its rules hold) and how they are checked.

A condition is ``{"match": "all" | "any", "rules": [{"ref", "op", "value"}]}``. ``ref``
names an earlier step's output (automations.engine.refs). Numeric operators read both
sides as numbers ("1,234.50" is 1234.5, "€ 12,50" is 12.5); a side that is not a number
makes the rule false, and the reason says so. Text compares without case and surrounding
spaces; a number written as text equals the same number ("93.50" is 93.5).

By role: ``check`` (check_when, before anything runs), ``evaluate`` (whether it holds on
the outputs, and why not), ``compare`` (the operators and how two values compare).
"""

from __future__ import annotations

from automations.engine.conditions.check import (
    MATCHES,
    MAX_NUMBER,
    MAX_RULES,
    MAX_VALUE_CHARS,
    Problem,
    check_when,
)
from automations.engine.conditions.compare import (
    MAX_NUMBER_CHARS,
    NO_VALUE_OPS,
    NUMERIC_OPS,
    OPS,
    contains,
    equals,
    is_empty,
    show,
    to_number,
)
from automations.engine.conditions.evaluate import (
    Verdict,
    condition_refs,
    evaluate,
    evaluate_rule,
)

__all__ = [
    "MATCHES",
    "MAX_NUMBER",
    "MAX_NUMBER_CHARS",
    "MAX_RULES",
    "MAX_VALUE_CHARS",
    "NO_VALUE_OPS",
    "NUMERIC_OPS",
    "OPS",
    "Problem",
    "Verdict",
    "check_when",
    "condition_refs",
    "contains",
    "equals",
    "evaluate",
    "evaluate_rule",
    "is_empty",
    "show",
    "to_number",
]
