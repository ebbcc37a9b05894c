"""The pipeline runner: spec checks, failure stops, resume from a store, batches, time limits."""

from __future__ import annotations

import time
from typing import ClassVar

import pytest

from automations.engine.fields import PageText
from automations.engine.pipeline import (
    MemoryStore,
    StepSpec,
    parse_pipeline,
    run_pipeline,
    run_pipeline_batch,
)
from automations.engine.steps import (
    REGISTRY,
    DocumentInfo,
    StepConfigError,
    StepContext,
    StepFailed,
    StepOutcome,
    StepTimeout,
)

# --- Fake steps, registered only while a test of this module runs ----------------------------

CALLS: list[tuple] = []  # what the fake steps were asked to do, in order


class CountStep:
    """Succeeds, and records which configuration (tag) it ran with."""

    name = "test_count"
    kind = "understand"
    label = "Count"
    description = "Counts its calls."
    config_schema: ClassVar[dict] = {
        "type": "object",
        "properties": {"tag": {"type": "string", "default": "count"}},
        "additionalProperties": False,
    }

    def run(self, context: StepContext, config: dict) -> StepOutcome:
        CALLS.append(("run", config["tag"], context.document.name))
        return StepOutcome({"tag": config["tag"], "seen": sorted(context.outputs)})


class FlakyStep:
    """Fails while FLAKY["failures_left"] > 0, then succeeds."""

    name = "test_flaky"
    kind = "transform"
    label = "Flaky"
    description = "Fails a given number of times."
    config_schema: ClassVar[dict] = {"type": "object"}

    def run(self, context: StepContext, config: dict) -> StepOutcome:
        CALLS.append(("flaky", context.document.name))
        if FLAKY["failures_left"] > 0:
            FLAKY["failures_left"] -= 1
            raise StepFailed("The flaky step broke.")
        return StepOutcome({"ok": True}, warnings=["flaky warning"])


class BatchStep:
    """Handles many documents in one call; a document named bad* fails alone."""

    name = "test_batch"
    kind = "understand"
    label = "Batch"
    description = "A step with run_batch."
    config_schema: ClassVar[dict] = {"type": "object"}

    def run(self, context: StepContext, config: dict) -> StepOutcome:
        CALLS.append(("single", context.document.name))
        return StepOutcome({"name": context.document.name, "batch": 1})

    def run_batch(self, contexts: list[StepContext], config: dict) -> list:
        CALLS.append(("batch", [c.document.name for c in contexts]))
        return [
            StepFailed(f"{c.document.name} cannot be read.")
            if c.document.name.startswith("bad")
            else StepOutcome({"name": c.document.name, "batch": len(contexts)})
            for c in contexts
        ]


class SleepStep:
    name = "test_sleep"
    kind = "transform"
    label = "Sleep"
    description = "Sleeps."
    config_schema: ClassVar[dict] = {
        "type": "object",
        "properties": {"seconds": {"type": "number", "default": 5}},
    }

    def run(self, context: StepContext, config: dict) -> StepOutcome:
        time.sleep(config["seconds"])
        CALLS.append(("woke", context.document.name))
        return StepOutcome({"slept": config["seconds"]})


class CrashStep:
    name = "test_crash"
    kind = "transform"
    label = "Crash"
    description = "Has a bug."
    config_schema: ClassVar[dict] = {"type": "object"}

    def run(self, context: StepContext, config: dict) -> StepOutcome:
        raise ZeroDivisionError("division by zero")


FAKE_STEPS = (CountStep, FlakyStep, BatchStep, SleepStep, CrashStep)
FLAKY: dict[str, int] = {"failures_left": 0}


@pytest.fixture(autouse=True)
def fake_steps(register_steps):
    register_steps(*FAKE_STEPS)
    CALLS.clear()
    FLAKY["failures_left"] = 0


def context(name: str = "doc.txt", text: str = "Some text") -> StepContext:
    return StepContext(document=DocumentInfo(name=name, kind="txt"), pages=[PageText(1, text)])


# --- parse_pipeline -----------------------------------------------------------------------


def test_a_valid_pipeline_gets_default_ids_and_filled_configs():
    steps = parse_pipeline(
        [
            {"step": "test_count"},
            {"id": "kind", "step": "test_count", "config": {"tag": "x"}},
            {"id": "text", "step": "extract_text", "config": {"ocr_dpi": 200}},
        ]
    )

    assert steps[:2] == [
        StepSpec("test_count", "test_count", {"tag": "count"}),
        StepSpec("kind", "test_count", {"tag": "x"}),
    ]
    assert (steps[2].id, steps[2].step) == ("text", "extract_text")
    assert steps[2].config["ocr_dpi"] == 200
    assert steps[2].config["max_pages"] == 500


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "A pipeline needs at least one step."),
        (None, "A pipeline needs at least one step."),
        ({"step": "extract_text"}, "A pipeline needs at least one step."),
        (["extract_text"], "Step 1: name the step kind with 'step'."),
        ([{"step": "extract_text"}, {"id": "x"}], "Step 2: name the step kind with 'step'."),
        (
            [{"step": "extract_text"}, {"step": "extract_text"}],
            "Step 2: the id 'extract_text' is used twice.",
        ),
        (
            [{"id": "a", "step": "test_count"}, {"id": "a", "step": "test_flaky"}],
            "Step 2: the id 'a' is used twice.",
        ),
        (
            [{"id": "Bad-Id", "step": "extract_text"}],
            "Step 1: id 'Bad-Id' must be lower-case letters, digits and _.",
        ),
        (
            [{"id": "1st", "step": "extract_text"}],
            "Step 1: id '1st' must be lower-case letters, digits and _.",
        ),
        (
            [{"id": "a" * 41, "step": "extract_text"}],
            f"Step 1: id {'a' * 41!r} must be lower-case letters, digits and _.",
        ),
        (
            [{"step": "extract_text", "config": {"ocr_dpi": 10}}],
            "Read text: ocr_dpi: 10 is less than the minimum of 72",
        ),
        (
            [{"step": "extract_text", "config": {"max_pages": 0}}],
            "Read text: max_pages: 0 is less than the minimum of 1",
        ),
        (
            [{"step": "extract_text", "config": {"colour": "red"}}],
            "Read text: configuration: Additional properties are not allowed "
            "('colour' was unexpected)",
        ),
        (
            [{"step": "extract_fields"}],
            "Extract fields: choose a preset or define at least one field.",
        ),
        (
            [{"step": "extract_fields", "config": {"preset": None, "fields": []}}],
            "Extract fields: choose a preset or define at least one field.",
        ),
        (
            [{"step": "classify"}],
            "Classify: labels: name the labels to choose from, or pick a trained classifier.",
        ),
        (
            # The schema (minItems) answers before the step's own friendlier check.
            [{"step": "classify", "config": {"labels": []}}],
            "Classify: labels: add at least one label.",
        ),
        (
            [{"step": "classify", "config": {"labels": ["Invoice", {"name": "invoice "}]}}],
            "Classify: labels: 'invoice' is listed twice (labels are compared without case).",
        ),
        (
            [{"step": "classify", "config": {"labels": ["invoice", "None"]}}],
            "Classify: labels: 'none' is the answer when no label fits; choose another name.",
        ),
    ],
)
def test_parse_pipeline_refuses_a_bad_spec_with_a_message(raw, message):
    with pytest.raises(StepConfigError) as refused:
        parse_pipeline(raw)

    assert str(refused.value) == message


def test_parse_pipeline_names_the_known_steps_for_an_unknown_one():
    with pytest.raises(StepConfigError) as refused:
        parse_pipeline([{"step": "extract_text"}, {"step": "translate"}])

    known = ", ".join(sorted(REGISTRY))
    assert str(refused.value) == f"There is no step called 'translate'; choose one of {known}."
    assert "classify" in known
    assert "extract_fields" in known


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            [{"id": 5, "step": "extract_text"}],
            "Step 1: id 5 must be lower-case letters, digits and _.",
        ),
        ([{"step": "extract_text", "config": "fast"}], "Step 1: 'config' must be an object."),
        ([{"step": "extract_text", "config": [1]}], "Step 1: 'config' must be an object."),
        ([{"step": ["extract_text"]}], "Step 1: name the step kind with 'step'."),
    ],
)
def test_parse_pipeline_refuses_wrong_json_types_as_config_errors(raw, message):
    """Pipelines come from API callers as JSON: a wrong type is their mistake (400), not a
    crash (500)."""
    with pytest.raises(StepConfigError) as refused:
        parse_pipeline(raw)

    assert str(refused.value) == message


# --- run_pipeline -------------------------------------------------------------------------


def test_run_pipeline_stops_at_the_first_failing_step_and_returns_its_message():
    FLAKY["failures_left"] = 1
    steps = parse_pipeline(
        [
            {"id": "first", "step": "test_count", "config": {"tag": "first"}},
            {"id": "broken", "step": "test_flaky"},
            {"id": "last", "step": "test_count", "config": {"tag": "last"}},
        ]
    )
    store = MemoryStore()
    ctx = context()

    error = run_pipeline(steps, ctx, store)

    assert error == "The flaky step broke."
    assert CALLS == [("run", "first", "doc.txt"), ("flaky", "doc.txt")]
    assert store.results == {"first": {"tag": "first", "seen": []}}
    assert store.errors == {"broken": "The flaky step broke."}
    assert ctx.outputs == {"first": {"tag": "first", "seen": []}}


def test_run_pipeline_returns_none_and_records_every_output_when_all_succeed():
    steps = parse_pipeline(
        [
            {"id": "first", "step": "test_count", "config": {"tag": "first"}},
            {"id": "second", "step": "test_flaky"},
        ]
    )
    store = MemoryStore()

    assert run_pipeline(steps, context(), store) is None

    assert store.results == {"first": {"tag": "first", "seen": []}, "second": {"ok": True}}
    assert store.warnings == {"first": [], "second": ["flaky warning"]}
    assert store.errors == {}


def test_a_memory_store_resumes_after_the_last_finished_step():
    FLAKY["failures_left"] = 1
    steps = parse_pipeline(
        [
            {"id": "first", "step": "test_count", "config": {"tag": "first"}},
            {"id": "broken", "step": "test_flaky"},
            {"id": "last", "step": "test_count", "config": {"tag": "last"}},
        ]
    )
    store = MemoryStore()
    assert run_pipeline(steps, context(), store) == "The flaky step broke."
    CALLS.clear()

    # The same run delivered again: a fresh context, the same store.
    again = context()
    error = run_pipeline(steps, again, store)

    assert error is None
    # "first" finished before: it is not run again, its output is handed on.
    assert CALLS == [("flaky", "doc.txt"), ("run", "last", "doc.txt")]
    assert again.outputs == {
        "first": {"tag": "first", "seen": []},
        "broken": {"ok": True},
        "last": {"tag": "last", "seen": ["broken", "first"]},
    }
    assert store.results["last"] == {"tag": "last", "seen": ["broken", "first"]}


def test_a_bug_in_a_step_propagates_instead_of_failing_the_document_quietly():
    steps = parse_pipeline([{"step": "test_crash"}])

    with pytest.raises(ZeroDivisionError):
        run_pipeline(steps, context(), MemoryStore())


# --- run_pipeline_batch -------------------------------------------------------------------


def test_a_batch_step_is_called_once_for_all_documents_and_one_failure_stays_alone():
    steps = parse_pipeline(
        [{"id": "embed", "step": "test_batch"}, {"id": "after", "step": "test_count"}]
    )
    items = [(context(name), MemoryStore()) for name in ("a.txt", "bad.txt", "c.txt")]

    errors = run_pipeline_batch(steps, items)

    assert errors == [None, "bad.txt cannot be read.", None]
    assert CALLS == [
        ("batch", ["a.txt", "bad.txt", "c.txt"]),
        ("run", "count", "a.txt"),
        ("run", "count", "c.txt"),
    ]
    (_, a_store), (bad, bad_store), (_, c_store) = items
    assert a_store.results == {
        "embed": {"name": "a.txt", "batch": 3},
        "after": {"tag": "count", "seen": ["embed"]},
    }
    assert c_store.results["embed"] == {"name": "c.txt", "batch": 3}
    assert bad_store.results == {}
    assert bad_store.errors == {"embed": "bad.txt cannot be read."}
    assert bad.outputs == {}


def test_a_single_document_goes_through_run_not_run_batch():
    steps = parse_pipeline([{"id": "embed", "step": "test_batch"}])
    store = MemoryStore()

    assert run_pipeline_batch(steps, [(context("only.txt"), store)]) == [None]

    assert CALLS == [("single", "only.txt")]
    assert store.results == {"embed": {"name": "only.txt", "batch": 1}}


def test_a_batch_skips_documents_whose_step_already_finished():
    steps = parse_pipeline([{"id": "embed", "step": "test_batch"}])
    done = MemoryStore()
    done.results["embed"] = {"name": "done.txt", "batch": 9}
    items = [
        (context("done.txt"), done),
        (context("x.txt"), MemoryStore()),
        (context("y.txt"), MemoryStore()),
    ]

    assert run_pipeline_batch(steps, items) == [None, None, None]

    assert CALLS == [("batch", ["x.txt", "y.txt"])]
    assert items[0][0].outputs == {"embed": {"name": "done.txt", "batch": 9}}


# --- time limits --------------------------------------------------------------------------


def test_a_step_past_its_time_limit_fails_with_a_message_and_the_pipeline_goes_on():
    steps = parse_pipeline(
        [
            {"id": "slow", "step": "test_sleep", "config": {"seconds": 5}},
            {"id": "after", "step": "test_count"},
        ]
    )
    store = MemoryStore()
    began = time.monotonic()

    error = run_pipeline(steps, context(), store, step_time_limit=0.2)

    elapsed = time.monotonic() - began
    assert error == "This step took longer than its 0.2 s limit and was stopped."
    assert store.errors == {"slow": error}
    assert CALLS == []  # it never woke up, and the next step did not run
    assert elapsed < 2


def test_the_time_limit_raises_step_timeout():
    from automations.engine.steps import time_limit

    with pytest.raises(StepTimeout) as stopped, time_limit(0.2):
        time.sleep(5)

    assert str(stopped.value) == "This step took longer than its 0.2 s limit and was stopped."
    assert isinstance(stopped.value, StepFailed)


def test_a_fast_step_is_not_stopped_and_the_alarm_is_cleared():
    import signal

    steps = parse_pipeline([{"id": "quick", "step": "test_sleep", "config": {"seconds": 0.01}}])

    assert run_pipeline(steps, context(), MemoryStore(), step_time_limit=0.2) is None

    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    time.sleep(0.3)  # an alarm left armed would fire here
    assert CALLS == [("woke", "doc.txt")]
