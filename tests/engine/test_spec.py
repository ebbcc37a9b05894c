"""The spec's shape in one place: step ids, and one rule for what changed (retry and history)."""

from __future__ import annotations

import pytest

from automations.engine.spec import STEP_ID, changes, first_change, step_id

TEXT = {"id": "text", "step": "extract_text", "config": {}}
KIND = {"id": "kind", "step": "classify", "config": {"labels": ["invoice", "receipt"]}}
HOOK = {"id": "hook", "step": "webhook", "config": {"url": "https://a.example/in"}}


def test_a_step_is_named_by_its_id_else_its_kind():
    assert step_id(TEXT) == "text"
    assert step_id({"step": "classify"}) == "classify"
    assert step_id({"id": "", "step": "tag"}) == "tag"
    assert step_id("not a step") == ""
    assert step_id({"id": 3}) == ""


@pytest.mark.parametrize(
    ("candidate", "valid"),
    [("total", True), ("step_2", True), ("2nd", False), ("Total", False), ("a" * 41, False)],
)
def test_step_id_rule(candidate, valid):
    assert bool(STEP_ID.match(candidate)) is valid


def test_retry_and_history_agree_on_what_changed():
    moved_condition = {**HOOK, "otherwise_of": "kind"}
    cases = [
        ([TEXT, KIND, HOOK], [TEXT, KIND, HOOK], 3, []),
        (
            [TEXT, KIND, HOOK],
            [TEXT, KIND, {**HOOK, "config": {"url": "https://b.example"}}],
            2,
            ["Changed hook: url"],
        ),
        ([TEXT, KIND, HOOK], [TEXT, KIND, moved_condition], 2, ["Changed the condition of hook"]),
        (
            [TEXT, KIND],
            [TEXT, {**KIND, "step": "summarize"}],
            1,
            ["Changed kind from classify to summarize"],
        ),
        ([TEXT, KIND], [TEXT, KIND, HOOK], 2, ["Added webhook (hook)"]),
    ]
    for old, new, position, words in cases:
        assert first_change(old, new) == position
        assert changes(old, new) == words


def test_key_order_in_settings_is_no_change():
    before = {"id": "x", "step": "tag", "config": {"a": 1, "b": 2}}
    after = {"id": "x", "step": "tag", "config": {"b": 2, "a": 1}}
    assert first_change([before], [after]) == 1
    assert changes([before], [after]) == []


def test_reordered_steps_are_said_once():
    assert changes([TEXT, KIND, HOOK], [TEXT, HOOK, KIND]) == [
        "Reordered steps: text → hook → kind"
    ]
    assert first_change([TEXT, KIND, HOOK], [TEXT, HOOK, KIND]) == 1


def test_settings_that_are_not_an_object_yet_are_compared_whole():
    broken = {"id": "x", "step": "tag", "config": ["oops"]}
    fixed = {"id": "x", "step": "tag", "config": {"tags": ["a"]}}
    assert changes([broken], [fixed]) == ["Changed x: settings, tags"]
