"""Numbers in conditions: a value too large to compare is a problem when the workflow is saved,
and no value, of any size, makes checking, evaluating or showing a condition raise."""

from __future__ import annotations

import pytest

from automations.engine.conditions import (
    MAX_NUMBER,
    check_when,
    equals,
    evaluate,
    evaluate_rule,
    show,
    to_number,
)
from automations.engine.refs import lookup

TOO_LARGE = (
    "when rule 1: the number is too large; use one between "
    "-1,000,000,000,000,000 and 1,000,000,000,000,000."
)


def rule(value, op: str = "above") -> dict:
    return {"rules": [{"ref": "fields.total", "op": op, "value": value}]}


@pytest.mark.parametrize("value", [10**400, -(10**400), 10**16, float("inf"), 1e300])
@pytest.mark.parametrize("op", ["above", "is", "contains"])
def test_a_number_past_the_limit_is_a_problem_when_saved(value, op):
    condition, problems = check_when(rule(value, op), ["fields"])
    assert condition is None
    assert [(p.field, p.message) for p in problems] == [("when.rules.0.value", TOO_LARGE)]


def test_text_past_the_limit_is_a_problem_for_numeric_operators():
    _, problems = check_when(rule("9" * 20), ["fields"])
    assert [p.message for p in problems] == [TOO_LARGE]
    _, problems = check_when(rule("9" * 400), ["fields"])
    assert [p.message for p in problems] == [
        f"when rule 1: {'9' * 400!r} is not a number; 'is above' compares numbers."
    ]


def test_the_limit_itself_is_allowed():
    condition, problems = check_when(rule(MAX_NUMBER), ["fields"])
    assert problems == []
    assert condition == {"match": "all", "rules": [rule(MAX_NUMBER)["rules"][0]]}


def test_an_operator_that_is_not_text_is_a_problem_not_a_type_error():
    _, problems = check_when({"rules": [{"ref": "a.b", "op": ["is"], "value": 1}]}, ["a"])
    assert [p.field for p in problems] == ["when.rules.0.op"]


@pytest.mark.parametrize(
    "actual",
    [10**400, 10**5000, "9" * 5000, float("nan"), [10**5000]],
    ids=["int-400-digits", "int-5000-digits", "text-5000-digits", "nan", "list"],
)
def test_huge_values_from_a_step_never_raise_when_evaluated(actual):
    holds, reason, note = evaluate_rule({"ref": "x.y", "op": "above", "value": 3}, actual)
    assert holds is False
    assert "not a number" in reason
    assert note
    verdict = evaluate(
        {"match": "any", "rules": [{"ref": "x.y", "op": "is", "value": 3}]}, {"x": {"y": actual}}
    )
    assert verdict.holds is False


def test_numbers_are_read_only_when_finite_and_short():
    assert to_number(10**400) is None
    assert to_number("1" * 400) is None  # no amount is that long
    assert to_number("1,234.50") == 1234.5
    assert equals(10**5000, 10**5000) is True
    assert show(10**5000) == "a number too long to show"
    assert show([10**5000]) == "list"


@pytest.mark.parametrize("index", ["²", "١", "0" * 20])
def test_a_list_index_is_ascii_digits(index):
    assert lookup({"a": {"b": [1, 2]}}, f"a.b.{index}") == (False, None)
    assert lookup({"a": {"b": [1, 2]}}, "a.b.1") == (True, 2)
