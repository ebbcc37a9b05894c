"""Conditions: `when` rules and `otherwise_of` branches, how they are checked in a spec
(parse_pipeline's first message, check_pipeline's full list) and how the engine skips."""

from __future__ import annotations

from typing import ClassVar

import pytest

from automations.engine.conditions import evaluate, evaluate_rule, to_number
from automations.engine.fields import PageText
from automations.engine.pipeline import (
    MemoryStore,
    check_pipeline,
    decide,
    input_of,
    parse_pipeline,
    run_pipeline,
    run_pipeline_batch,
)
from automations.engine.steps import (
    DocumentInfo,
    StepConfigError,
    StepContext,
    StepOutcome,
)

CALLS: list[tuple[str, str]] = []  # (step id label, document name)


class EmitStep:
    """Outputs what its configuration says, per document name (or `default`)."""

    name = "test_emit"
    kind = "understand"
    label = "Emit"
    description = "Outputs its configuration."
    config_schema: ClassVar[dict] = {
        "type": "object",
        "properties": {"by_name": {"type": "object", "default": {}}, "default": {"default": {}}},
        "additionalProperties": False,
    }

    def run(self, context: StepContext, config: dict) -> StepOutcome:
        CALLS.append(("emit", context.document.name))
        return StepOutcome(config["by_name"].get(context.document.name, config["default"]))


class NoteStep:
    """Records that it ran, and what its mapped values resolved to."""

    name = "test_note"
    kind = "deliver"
    label = "Note"
    description = "Notes a call."
    config_schema: ClassVar[dict] = {
        "type": "object",
        "properties": {
            "tag": {"type": "string", "default": "note"},
            "values": {"type": "object", "x-ref": "map"},
            "secret": {"type": "string"},
            "url": {"type": "string", "minLength": 3},
        },
        "additionalProperties": False,
    }

    def run(self, context: StepContext, config: dict) -> StepOutcome:
        CALLS.append((config["tag"], context.document.name))
        return StepOutcome({"tag": config["tag"], "seen": sorted(context.outputs)})


class BatchNoteStep(NoteStep):
    name = "test_batch_note"

    def run_batch(self, contexts, config):
        CALLS.append(("batch", ",".join(c.document.name for c in contexts)))
        return [StepOutcome({"batch": len(contexts)}) for _ in contexts]


FAKE_STEPS = (EmitStep, NoteStep, BatchNoteStep)


@pytest.fixture(autouse=True)
def fake_steps(register_steps):
    register_steps(*FAKE_STEPS)
    CALLS.clear()


def context(name: str = "doc.txt") -> StepContext:
    return StepContext(document=DocumentInfo(name=name, kind="txt"), pages=[PageText(1, "x")])


def emit(step_id: str, default: dict, **by_name: dict) -> dict:
    return {"id": step_id, "step": "test_emit", "config": {"default": default, "by_name": by_name}}


def note(step_id: str, **extra) -> dict:
    return {"id": step_id, "step": "test_note", "config": {"tag": step_id}, **extra}


def when(*rules: tuple, match: str = "all") -> dict:
    return {
        "match": match,
        "rules": [dict(zip(("ref", "op", "value"), rule, strict=False)) for rule in rules],
    }


# --- checking a spec -----------------------------------------------------------------------


def test_a_condition_is_kept_normalised_on_the_parsed_step():
    steps = parse_pipeline(
        [
            emit("type", {"label": "invoice"}),
            note("send", when={"rules": [{"ref": "type.label", "op": "is", "value": "invoice"}]}),
            note("other", otherwise_of="send"),
            note("check", when=when(("type.label", "is_empty", "ignored"), match="any")),
        ]
    )

    assert steps[1].when == {
        "match": "all",
        "rules": [{"ref": "type.label", "op": "is", "value": "invoice"}],
    }
    assert (steps[1].otherwise_of, steps[2].when, steps[2].otherwise_of) == (None, None, "send")
    assert steps[3].when == {"match": "any", "rules": [{"ref": "type.label", "op": "is_empty"}]}


TYPE = emit("type", {"label": "invoice"})


@pytest.mark.parametrize(
    ("step", "message", "field"),
    [
        (
            note("s", when="yes"),
            "Step 2: 'when' must be an object with 'match' and 'rules'.",
            "when",
        ),
        (note("s", when={"rules": []}), "Step 2: when: add at least one rule.", "when.rules"),
        (note("s", when={"match": "all"}), "Step 2: when: add at least one rule.", "when.rules"),
        (
            note("s", when={"match": "most", "rules": [{"ref": "type.label", "op": "is_empty"}]}),
            "Step 2: when: match must be 'all' or 'any'.",
            "when.match",
        ),
        (
            note("s", when={"rules": [{"ref": "type.label", "op": "is_empty"}], "x": 1}),
            "Step 2: when: 'x' is not part of a condition.",
            "when.x",
        ),
        (
            note("s", when={"rules": ["type.label"]}),
            "Step 2: when rule 1: must be an object with 'ref', 'op' and 'value'.",
            "when.rules.0",
        ),
        (
            note("s", when=when(("", "is", "invoice"))),
            "Step 2: when rule 1: choose what to compare.",
            "when.rules.0.ref",
        ),
        (
            note("s", when={"rules": [{"op": "is", "value": "invoice"}]}),
            "Step 2: when rule 1: choose what to compare.",
            "when.rules.0.ref",
        ),
        (
            note("s", when=when(("Type label", "is", "invoice"))),
            "Step 2: when rule 1: 'Type label' is not a reference like 'type.label' "
            "(a step id, then keys, joined by dots).",
            "when.rules.0.ref",
        ),
        (
            note("s", when=when(("fields.total", "is", "1"))),
            "Step 2: when rule 1: 'fields.total' does not come from an earlier step "
            "(no step 'fields' runs before this one).",
            "when.rules.0.ref",
        ),
        (
            note("s", when=when(("s.tag", "is", "1"))),
            "Step 2: when rule 1: 's.tag' does not come from an earlier step "
            "(no step 's' runs before this one).",
            "when.rules.0.ref",
        ),
        (
            note("s", when=when(("type.label", "equals", "invoice"))),
            "Step 2: when rule 1: choose how to compare (is, is_not, contains, at_least, "
            "at_most, above, below, is_empty, is_not_empty).",
            "when.rules.0.op",
        ),
        (
            note("s", when=when(("type.label", "is"))),
            "Step 2: when rule 1: enter the value to compare with.",
            "when.rules.0.value",
        ),
        (
            note("s", when=when(("type.label", "is", "  "))),
            "Step 2: when rule 1: enter the value to compare with.",
            "when.rules.0.value",
        ),
        (
            note("s", when=when(("type.label", "is", ["invoice"]))),
            "Step 2: when rule 1: the value must be text or a number.",
            "when.rules.0.value",
        ),
        (
            note("s", when=when(("type.score", "above", "high"))),
            "Step 2: when rule 1: 'high' is not a number; 'is above' compares numbers.",
            "when.rules.0.value",
        ),
        (
            note("s", when={"rules": [{"ref": "type.label", "op": "is", "value": 1, "x": 2}]}),
            "Step 2: when rule 1: 'x' is not part of a rule.",
            "when.rules.0.x",
        ),
        (
            note("s", when=when(("type.label", "is_empty")), otherwise_of="type"),
            "Step 2: a step has either 'when' or 'otherwise_of', not both.",
            "otherwise_of",
        ),
        (
            note("s", otherwise_of=3),
            "Step 2: otherwise_of must be the id of an earlier step.",
            "otherwise_of",
        ),
        (
            note("s", otherwise_of="later"),
            "Step 2: otherwise_of: 'later' is not an earlier step.",
            "otherwise_of",
        ),
        (
            note("s", otherwise_of="type"),
            "Step 2: otherwise_of: step 'type' has no condition, so there is no other case.",
            "otherwise_of",
        ),
    ],
)
def test_a_bad_condition_is_refused_naming_the_step_and_the_field(step, message, field):
    raw = [TYPE, step]

    with pytest.raises(StepConfigError) as refused:
        parse_pipeline(raw)

    assert str(refused.value) == message
    assert check_pipeline(raw)[0] == {
        "step": 1,
        "field": field,
        "message": message,
        "level": "error",
    }


def test_otherwise_of_must_name_an_earlier_step_not_itself_or_a_later_one():
    raw = [
        TYPE,
        note("a", otherwise_of="a"),
        note("b", otherwise_of="c"),
        note("c", when=when(("type.label", "is", "x"))),
    ]

    assert [(p["step"], p["message"]) for p in check_pipeline(raw)] == [
        (1, "Step 2: otherwise_of: 'a' is not an earlier step."),
        (2, "Step 3: otherwise_of: 'c' is not an earlier step."),
    ]


def test_check_pipeline_lists_every_problem_with_its_step_and_field():
    raw = [
        {"id": "type", "step": "test_emit", "config": {"colour": "red"}},
        note("type"),  # the id is used twice
        {"id": "Bad", "step": "test_note", "config": {"url": "x", "tag": 5}},
        {"step": "translate"},
        note(
            "send",
            config={"tag": "send", "values": {"total": "fields.total", "kind": "type.label"}},
            when={"match": "all", "rules": [{"ref": "", "op": "above", "value": "a lot"}]},
        ),
        "not a step",
    ]

    problems = check_pipeline(raw)

    assert [(p["step"], p["field"], p["level"]) for p in problems] == [
        (0, "config", "error"),
        (1, "id", "error"),
        (2, "id", "error"),
        (2, "config.tag", "error"),
        (2, "config.url", "error"),
        (3, "step", "error"),
        (4, "when.rules.0.ref", "error"),
        (4, "when.rules.0.value", "error"),
        (4, "config.values.total", "warning"),
        (5, "step", "error"),
    ]
    messages = [p["message"] for p in problems]
    assert messages[0] == (
        "Emit: configuration: Additional properties are not allowed ('colour' was unexpected)"
    )
    assert messages[1] == "Step 2: the id 'type' is used twice."
    assert messages[3] == "Note: tag: 5 is not of type 'string'"
    assert messages[4] == "Note: url: 'x' is too short"
    assert messages[5].startswith("There is no step called 'translate'; choose one of ")
    assert messages[6] == "Step 5: when rule 1: choose what to compare."
    assert (
        messages[7] == "Step 5: when rule 1: 'a lot' is not a number; 'is above' compares numbers."
    )
    assert messages[8] == (
        "Step 5: values.total: 'fields.total' does not come from an earlier step; it will be empty."
    )
    assert messages[9] == "Step 6: name the step kind with 'step'."
    # parse_pipeline refuses with the first of them
    with pytest.raises(StepConfigError, match=r"^Emit: configuration: Additional properties"):
        parse_pipeline(raw)


def test_check_pipeline_names_a_missing_required_field_and_a_step_s_own_check():
    raw = [
        {"id": "send", "step": "webhook", "config": {}},
        {"id": "hook", "step": "webhook", "config": {"url": "ftp://example.com/x"}},
        {"id": "sort", "step": "classify", "config": {"labels": ["a", "A"]}},
        {"id": "fields", "step": "extract_fields", "config": {}},
    ]

    assert check_pipeline(raw) == [
        {
            "step": 0,
            "field": "config.url",
            "message": "Send to a webhook: configuration: 'url' is a required property",
            "level": "error",
        },
        {
            "step": 1,
            "field": "config.url",
            "message": "Send to a webhook: url: use an http:// or https:// address.",
            "level": "error",
        },
        {
            "step": 2,
            "field": "config.labels",
            "message": "Classify: labels: 'A' is listed twice (labels are compared without case).",
            "level": "error",
        },
        {
            "step": 3,
            "field": "config",
            "message": "Extract fields: choose a preset or define at least one field.",
            "level": "error",
        },
    ]


def test_a_valid_pipeline_has_no_problems_and_a_reference_to_a_later_step_is_a_warning():
    good = [TYPE, note("send", when=when(("type.label", "is", "invoice")))]
    later = [
        {
            "id": "send",
            "step": "webhook",
            "config": {"url": "https://x.example/in", "payload": {"t": "fields.total"}},
        },
        emit("fields", {}),
    ]

    assert check_pipeline(good) == []
    assert check_pipeline(later) == [
        {
            "step": 0,
            "field": "config.payload.t",
            "message": "Step 1: payload.t: 'fields.total' does not come from an earlier step; "
            "it will be empty.",
            "level": "warning",
        }
    ]
    assert [s.id for s in parse_pipeline(later)] == ["send", "fields"]  # allowed


@pytest.mark.parametrize("raw", [None, [], {}, "steps"])
def test_check_pipeline_of_no_steps(raw):
    assert check_pipeline(raw) == [
        {
            "step": None,
            "field": None,
            "message": "A pipeline needs at least one step.",
            "level": "error",
        }
    ]


# --- rules ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("1,234.50", 1234.5),
        ("1.234,50", 1234.5),
        ("€ 12,50", 12.5),
        ("12.50 EUR", 12.5),
        ("$8.20", 8.2),
        ("-3", -3.0),
        ("0.9", 0.9),
        (" 42 ", 42.0),
        (7, 7.0),
        (0.91, 0.91),
        ("Invoice 42", None),
        ("abc", None),
        ("", None),
        (None, None),
        (True, None),
        (float("nan"), None),
        ([1], None),
    ],
)
def test_to_number_reads_amounts_as_people_write_them(text, number):
    assert to_number(text) == number


@pytest.mark.parametrize(
    ("op", "actual", "value", "holds"),
    [
        ("is", "invoice", "invoice", True),
        ("is", "Invoice ", "invoice", True),
        ("is", "receipt", "invoice", False),
        ("is", "93.50", 93.5, True),
        ("is", 93.5, "93.50", True),
        ("is", None, "invoice", False),
        ("is", True, "true", True),
        ("is", True, "yes", True),
        ("is", False, "true", False),
        ("is", False, False, True),
        ("is_not", "receipt", "invoice", True),
        ("is_not", "invoice", "INVOICE", False),
        ("is_not", None, "invoice", True),
        ("contains", "ACME Supplies Ltd", "acme", True),
        ("contains", "Other Co", "acme", False),
        ("contains", ["urgent", "paid"], "Paid", True),
        ("contains", ["urgent"], "paid", False),
        ("contains", {"total": 1}, "total", True),
        ("contains", None, "x", False),
        ("at_least", 0.9, "0.9", True),
        ("at_least", 0.89, 0.9, False),
        ("at_most", "1,234.50", 1234.5, True),
        ("above", "1,234.50", "1000", True),
        ("above", "1000", "1000", False),
        ("below", "12,50 €", 13, True),
        ("below", 13, 13, False),
        ("above", "n/a", 5, False),
        ("above", None, 5, False),
        ("at_least", True, 0, False),
        ("is_empty", None, None, True),
        ("is_empty", "  ", None, True),
        ("is_empty", [], None, True),
        ("is_empty", {}, None, True),
        ("is_empty", 0, None, False),
        ("is_empty", "x", None, False),
        ("is_not_empty", "x", None, True),
        ("is_not_empty", None, None, False),
    ],
)
def test_each_operator(op, actual, value, holds):
    rule = {"ref": "s.v", "op": op, "value": value}

    assert evaluate_rule(rule, actual)[0] is holds


@pytest.mark.parametrize(
    ("op", "actual", "value", "reason"),
    [
        ("is", "receipt", "invoice", "classify.label is 'receipt', not 'invoice'"),
        ("is", None, "invoice", "classify.label is empty, not 'invoice'"),
        ("is_not", "invoice", "invoice", "classify.label is 'invoice'"),
        ("contains", "Other", "acme", "classify.label ('Other') does not contain 'acme'"),
        ("at_least", 0.5, 0.9, "classify.label is 0.5, less than 0.9"),
        ("at_most", "12", "10", "classify.label is '12', more than '10'"),
        ("above", 3, 5, "classify.label is 3, not above 5"),
        ("below", 7.0, 5, "classify.label is 7, not below 5"),
        ("above", "n/a", 5, "classify.label is 'n/a', which is not a number"),
        ("is_empty", "x", None, "classify.label is not empty ('x')"),
        ("is_not_empty", "", None, "classify.label is empty"),
    ],
)
def test_a_rule_that_does_not_hold_says_why(op, actual, value, reason):
    assert evaluate_rule({"ref": "classify.label", "op": op, "value": value}, actual)[1] == reason


def test_a_value_that_is_not_a_number_is_noted():
    holds, _, note = evaluate_rule({"ref": "f.total", "op": "above", "value": 100}, "unreadable")

    assert holds is False
    assert note == "f.total is 'unreadable', not a number, so 'is above 100' does not hold."


def test_match_all_needs_every_rule_and_match_any_one():
    outputs = {"type": {"label": "invoice", "score": 0.6}}
    rules = [("type.label", "is", "invoice"), ("type.score", "at_least", 0.9)]

    all_of = evaluate(when(*rules), outputs)
    any_of = evaluate(when(*rules, match="any"), outputs)
    none_of = evaluate(
        when(("type.label", "is", "x"), ("type.score", "above", 1), match="any"), outputs
    )

    assert (all_of.holds, all_of.reason) == (False, "type.score is 0.6, less than 0.9")
    assert (any_of.holds, any_of.reason) == (True, "")
    assert (none_of.holds, none_of.reason) == (
        False,
        "none of the rules held: type.label is 'invoice', not 'x'; type.score is 0.6, not above 1",
    )


def test_decide_for_otherwise_of_depends_on_whether_the_named_step_was_skipped():
    [_, first, other] = parse_pipeline(
        [
            TYPE,
            note("send", when=when(("type.label", "is", "x"))),
            note("other", otherwise_of="send"),
        ]
    )

    assert decide(other, {}, skipped={"send"}).holds is True
    verdict = decide(other, {}, skipped=set())
    assert (verdict.holds, verdict.reason) == (
        False,
        "the condition of 'send' held, so this other case does not run",
    )
    assert decide(first, {"type": {"label": "x"}}, set()).holds is True


# --- the engine --------------------------------------------------------------------------------

INVOICE_BRANCH = [
    emit("type", {"label": "receipt"}, **{"inv.txt": {"label": "invoice", "score": 0.95}}),
    note(
        "send",
        config={"tag": "send", "values": {"kind": "type.label"}},
        when=when(("type.label", "is", "invoice")),
    ),
    note("file", otherwise_of="send"),
    note(
        "after",
        config={"tag": "after", "values": {"sent": "send.tag", "filed": "file.tag"}},
    ),
]


def test_a_step_whose_condition_fails_is_skipped_with_the_reason_and_its_branch_runs():
    steps = parse_pipeline(INVOICE_BRANCH)
    store = MemoryStore()
    ctx = context("rec.txt")

    assert run_pipeline(steps, ctx, store) is None

    assert CALLS == [("emit", "rec.txt"), ("file", "rec.txt"), ("after", "rec.txt")]
    assert store.skips == {"send": "type.label is 'receipt', not 'invoice'"}
    assert [line["message"] for line in store.logs["send"]] == [
        "Skipped: type.label is 'receipt', not 'invoice'."
    ]
    assert store.logs["send"][0]["level"] == "info"
    assert store.inputs["send"] == {
        "config": {"tag": "send", "values": {"kind": "type.label"}},
        "references": {"type.label": "receipt"},
    }
    # a reference into the skipped step finds nothing; its branch ran
    assert store.inputs["after"]["references"] == {"send.tag": None, "file.tag": "file"}
    assert "send" not in store.results
    assert sorted(ctx.outputs) == ["after", "file", "type"]


def test_when_the_condition_holds_the_other_branch_is_skipped():
    steps = parse_pipeline(INVOICE_BRANCH)
    store = MemoryStore()

    assert run_pipeline(steps, context("inv.txt"), store) is None

    assert CALLS == [("emit", "inv.txt"), ("send", "inv.txt"), ("after", "inv.txt")]
    assert store.skips == {"file": "the condition of 'send' held, so this other case does not run"}
    assert store.inputs["after"]["references"] == {"send.tag": "send", "file.tag": None}
    assert store.logs["send"][0]["message"] == "Started."
    assert store.logs["send"][-1]["message"].startswith("Finished in ")
    assert store.attempts["send"] == 1


def test_a_batch_skips_per_document_and_runs_the_others_together():
    steps = parse_pipeline(
        [
            emit(
                "type",
                {"label": "receipt"},
                **{"a.txt": {"label": "invoice"}, "c.txt": {"label": "invoice"}},
            ),
            {
                "id": "send",
                "step": "test_batch_note",
                "when": when(("type.label", "is", "invoice")),
            },
        ]
    )
    items = [(context(n), MemoryStore()) for n in ("a.txt", "b.txt", "c.txt")]

    assert run_pipeline_batch(steps, items) == [None, None, None]

    assert ("batch", "a.txt,c.txt") in CALLS
    assert [store.skips for _, store in items] == [
        {},
        {"send": "type.label is 'receipt', not 'invoice'"},
        {},
    ]
    assert items[0][1].results["send"] == {"batch": 2}


def test_a_number_that_is_not_one_is_logged_as_a_warning_on_the_skipped_step():
    steps = parse_pipeline(
        [
            emit("fields", {"total": "see attached"}),
            note("big", when=when(("fields.total", "above", "1,000"))),
        ]
    )
    store = MemoryStore()

    assert run_pipeline(steps, context(), store) is None

    assert [(line["level"], line["message"]) for line in store.logs["big"]] == [
        (
            "warning",
            "fields.total is 'see attached', not a number, so 'is above 1,000' does not hold.",
        ),
        ("info", "Skipped: fields.total is 'see attached', which is not a number."),
    ]


def test_a_resumed_run_decides_conditions_again_and_runs_each_step_once():
    steps = parse_pipeline(INVOICE_BRANCH)
    store = MemoryStore()
    store.results["type"] = {"label": "invoice"}  # finished by an earlier delivery
    store.results["send"] = {"tag": "send", "seen": ["type"]}

    assert run_pipeline(steps, context("rec.txt"), store) is None

    # the stored classify answer counts, not what the step would say now; send is not sent again
    assert CALLS == [("after", "rec.txt")]
    assert store.skips == {"file": "the condition of 'send' held, so this other case does not run"}


def test_the_input_masks_secrets_and_bounds_big_values():
    [_, spec] = parse_pipeline(
        [
            TYPE,
            note(
                "send",
                config={"tag": "x", "secret": "hunter2", "values": {"all": "type"}},
                when=when(("type.label", "is", "invoice")),
            ),
        ]
    )

    small = input_of(spec, {"type": {"label": "invoice"}})
    big = input_of(spec, {"type": {"label": "x" * 30_000}})

    assert small == {
        "config": {"tag": "x", "secret": "********", "values": {"all": "type"}},
        "references": {"type": {"label": "invoice"}, "type.label": "invoice"},
    }
    assert len(big["references"]["type"]) == 20_001
    assert len(big["references"]["type.label"]) == 20_000
