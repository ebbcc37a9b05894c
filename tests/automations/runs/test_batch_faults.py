"""One document fails alone (issue 10, point 4): whatever goes wrong for one document of a
batch (its file gone from storage, a step that crashes on it, a model call it breaks, results
the database refuses) fails that run with its reason, and the other runs of the batch go on."""

from __future__ import annotations

import io
from typing import ClassVar

import pytest

from automations import intake
from automations.engine.steps import StepContext, StepOutcome
from automations.models import Document, Page, Run, StepRun
from automations.runs.execute import execute_run
from automations.runs.faults import MISSING_FILE

BROKEN = "broken.txt"  # the document the test steps below crash on


class CrashStep:
    """Outputs the document's name; crashes (a bug, not a StepFailed) on BROKEN."""

    name = "test_crash_on"
    kind = "understand"
    label = "Crash on one"
    description = "Crashes on one document."
    config_schema: ClassVar[dict] = {"type": "object", "properties": {}}

    def run(self, context: StepContext, config: dict) -> StepOutcome:
        if context.document.name == BROKEN:
            raise KeyError("a parser's bug")
        return StepOutcome({"name": context.document.name})


class BatchCrashStep(CrashStep):
    """A model step: one call for the batch, which a bad document breaks for all."""

    name = "test_batch_crash_on"
    calls: ClassVar[list[list[str]]] = []

    def run_batch(self, contexts: list[StepContext], config: dict) -> list[StepOutcome]:
        names = [context.document.name for context in contexts]
        self.calls.append(names)
        if BROKEN in names:
            raise RuntimeError("the model's runtime failed on one input")
        return [StepOutcome({"name": name, "batch": len(names)}) for name in names]


class UnsavableStep(CrashStep):
    """An output the database cannot store for BROKEN (the step itself succeeds)."""

    name = "test_unsavable_on"

    def run(self, context: StepContext, config: dict) -> StepOutcome:
        if context.document.name == BROKEN:
            return StepOutcome({"value": object()})  # not JSON
        return StepOutcome({"name": context.document.name})


@pytest.fixture
def fault_steps(register_steps) -> None:
    register_steps(CrashStep, BatchCrashStep, UnsavableStep)
    BatchCrashStep.calls.clear()


def read_then(*steps: tuple[str, str]) -> list[dict]:
    """A pipeline: read the text, then the (id, step) pairs."""
    return [{"id": "text", "step": "extract_text"}] + [{"id": i, "step": k} for i, k in steps]


def queue(org, names: list[str], steps: list[dict]) -> list[Run]:
    """Documents stored as an upload does, each with its queued run of `steps`."""
    documents = [
        intake.ingest(org, io.BytesIO(f"Invoice {n} total 9.00".encode()), n, pipeline=steps)
        for n in names
    ]
    return [document.runs.get() for document in documents]


def results(runs: list[Run]) -> dict[str, tuple[str, str]]:
    fresh = Run.objects.select_related("document").filter(pk__in=[run.pk for run in runs])
    return {run.document.original_name: (run.status, run.error) for run in fresh}


def test_a_document_whose_file_is_missing_fails_alone_with_its_reason(org):
    runs = queue(org, ["a.txt", "gone.txt", "b.txt", "c.txt"], read_then())
    gone = Document.objects.get(original_name="gone.txt")
    gone.file.storage.delete(gone.file.name)

    execute_run(runs[0].pk)

    assert results(runs) == {
        "a.txt": ("succeeded", ""),
        "gone.txt": ("failed", MISSING_FILE),
        "b.txt": ("succeeded", ""),
        "c.txt": ("succeeded", ""),
    }
    assert not Run.objects.get(pk=runs[1].pk).steps.exists()  # no step started for it


def test_a_document_whose_stored_pages_cannot_be_read_back_fails_alone(org):
    runs = queue(org, ["a.txt", "damaged.txt", "b.txt"], read_then())
    damaged = Document.objects.get(original_name="damaged.txt")
    Page.objects.create(document=damaged, number=1, text="x", method="ocr", lines=[{"t": "x"}])

    execute_run(runs[0].pk)

    outcome = results(runs)
    assert outcome["a.txt"] == outcome["b.txt"] == ("succeeded", "")
    assert outcome["damaged.txt"] == (
        "failed",
        "Something went wrong on our side while opening this document (KeyError). It has "
        "been logged; retry the run later.",
    )


def test_a_step_that_crashes_on_one_document_fails_that_run_and_the_others_go_on(org, fault_steps):
    steps = read_then(("look", "test_crash_on"), ("after", "test_crash_on"))
    runs = queue(org, ["a.txt", BROKEN, "b.txt"], steps)

    execute_run(runs[0].pk)

    reason = (
        "Something went wrong on our side in the step 'look' (KeyError). It has been "
        "logged; retry the run later."
    )
    assert results(runs) == {
        "a.txt": ("succeeded", ""),
        BROKEN: ("failed", reason),
        "b.txt": ("succeeded", ""),
    }
    broken = {s.step_id: s for s in Run.objects.get(pk=runs[1].pk).steps.all()}
    assert (broken["look"].status, broken["look"].error) == (StepRun.Status.FAILED, reason)
    assert broken["look"].log[-1]["message"] == f"Failed: {reason}"
    assert "after" not in broken
    assert Run.objects.get(pk=runs[0].pk).output_of("test_crash_on") == {"name": "a.txt"}


def test_a_model_call_one_document_breaks_is_made_again_one_document_at_a_time(org, fault_steps):
    runs = queue(org, ["a.txt", BROKEN, "b.txt"], read_then(("embed", "test_batch_crash_on")))

    execute_run(runs[0].pk)

    statuses = {name: status for name, (status, _) in results(runs).items()}
    assert statuses == {"a.txt": "succeeded", BROKEN: "failed", "b.txt": "succeeded"}
    assert "in the step 'embed' (KeyError)" in results(runs)[BROKEN][1]
    assert BatchCrashStep.calls == [["a.txt", BROKEN, "b.txt"]]  # then each alone, by run
    assert Run.objects.get(pk=runs[2].pk).output_of("test_batch_crash_on") == {"name": "b.txt"}


def test_results_the_database_refuses_fail_only_their_run(org, fault_steps):
    steps = read_then(("keep", "test_unsavable_on"), ("after", "test_crash_on"))
    runs = queue(org, ["a.txt", BROKEN, "b.txt"], steps)

    execute_run(runs[0].pk)

    outcome = results(runs)
    assert outcome["a.txt"] == outcome["b.txt"] == ("succeeded", "")
    status, error = outcome[BROKEN]
    assert status == "failed"
    assert error == (
        "Something went wrong on our side while saving this document's results (TypeError). "
        "It has been logged; retry the run later."
    )
    broken = Run.objects.get(pk=runs[1].pk)
    assert not broken.steps.filter(status=StepRun.Status.RUNNING).exists()
    assert not broken.steps.filter(step_id="after").exists()
    healthy = {s.step_id: s.status for s in Run.objects.get(pk=runs[2].pk).steps.all()}
    assert healthy == {"text": "succeeded", "keep": "succeeded", "after": "succeeded"}


def test_a_batch_with_a_missing_file_a_crash_and_healthy_documents(org, fault_steps):
    steps = read_then(("look", "test_crash_on"))
    names = [f"ok{n}.txt" for n in range(10)]
    runs = queue(org, [*names[:5], "gone.txt", BROKEN, *names[5:]], steps)
    gone = Document.objects.get(original_name="gone.txt")
    gone.file.storage.delete(gone.file.name)

    execute_run(runs[0].pk)

    outcome = results(runs)
    assert {name: outcome[name] for name in names} == dict.fromkeys(names, ("succeeded", ""))
    assert outcome["gone.txt"] == ("failed", MISSING_FILE)
    assert outcome[BROKEN][0] == "failed"
    assert "in the step 'look' (KeyError)" in outcome[BROKEN][1]
