"""Faults kept to their document (issue 10, point 4): with `batch_errors`, a bug in a step, a
model call one document breaks, or a step's wrong answer fails only that document; the
exceptions named in `batch_errors` still stop the whole batch."""

from __future__ import annotations

from typing import ClassVar

import pytest

from automations.engine.pipeline import MemoryStore, parse_pipeline, run_pipeline_batch
from automations.engine.steps import DocumentInfo, StepContext, StepOutcome


class BatchGone(Exception):
    """Stands for what concerns the whole batch (the database gone, the time limit)."""


class OddStep:
    """Answers for each document by its name: bug.txt raises, none.txt returns no outcome,
    gone.txt loses the batch; a run_batch call with bug.txt in it crashes, one with gone.txt
    loses the batch, and one with short.txt answers one outcome too few."""

    name = "test_odd"
    kind = "understand"
    label = "Odd"
    description = "Misbehaves on some documents."
    config_schema: ClassVar[dict] = {"type": "object"}
    batches: ClassVar[list[list[str]]] = []

    def run(self, context: StepContext, config: dict):
        name = context.document.name
        if name == "bug.txt":
            raise ZeroDivisionError("division by zero")
        if name == "gone.txt":
            raise BatchGone()
        if name == "none.txt":
            return None
        return StepOutcome({"name": name})

    def run_batch(self, contexts: list[StepContext], config: dict) -> list:
        names = [context.document.name for context in contexts]
        self.batches.append(names)
        if "bug.txt" in names:
            raise MemoryError("the model ran out of memory")
        if "gone.txt" in names:
            raise BatchGone()
        outcomes = [StepOutcome({"name": name, "batch": True}) for name in names]
        return outcomes[:-1] if "short.txt" in names else outcomes


@pytest.fixture(autouse=True)
def odd_step(register_steps) -> None:
    register_steps(OddStep)
    OddStep.batches.clear()


def batch(*names: str) -> list[tuple[StepContext, MemoryStore]]:
    return [(StepContext(DocumentInfo(name, "txt")), MemoryStore()) for name in names]


def run(items, **options) -> list[str | None]:
    steps = parse_pipeline([{"id": "odd", "step": "test_odd"}])
    return run_pipeline_batch(steps, items, batch_errors=(BatchGone,), **options)


def fault(error: str) -> str:
    return (
        f"Something went wrong on our side in the step 'odd' ({error}). It has been logged; "
        "retry the run later."
    )


def test_a_model_call_a_document_breaks_runs_each_alone_and_that_one_fails():
    items = batch("a.txt", "bug.txt", "b.txt")

    errors = run(items)

    assert errors == [None, fault("ZeroDivisionError"), None]
    assert OddStep.batches == [["a.txt", "bug.txt", "b.txt"]]
    assert items[0][1].results == {"odd": {"name": "a.txt"}}  # from its own call
    assert items[1][1].errors == {"odd": fault("ZeroDivisionError")}


def test_a_batch_answer_of_the_wrong_length_is_asked_again_one_by_one():
    items = batch("a.txt", "short.txt")

    assert run(items) == [None, None]
    assert [store.results["odd"] for _, store in items] == [
        {"name": "a.txt"},
        {"name": "short.txt"},
    ]


def test_a_step_that_answers_no_outcome_fails_its_document():
    items = batch("none.txt")

    assert run(items) == [fault("TypeError")]


@pytest.mark.parametrize("names", [("gone.txt",), ("a.txt", "gone.txt")])
def test_what_concerns_the_whole_batch_propagates(names):
    with pytest.raises(BatchGone):
        run(batch(*names))


def test_without_batch_errors_a_bug_propagates():
    steps = parse_pipeline([{"id": "odd", "step": "test_odd"}])

    with pytest.raises(ZeroDivisionError):
        run_pipeline_batch(steps, batch("bug.txt"))
