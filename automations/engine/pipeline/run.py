"""Running the steps over documents, step by step: skipping finished steps, conditions,
what a step starts from, batches, retries of StepTransient."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from automations.engine.conditions import Verdict, condition_refs, evaluate
from automations.engine.masking import mask_secrets
from automations.engine.pipeline.check import StepSpec
from automations.engine.pipeline.retry import RetryPolicy
from automations.engine.pipeline.stores import StepStore
from automations.engine.refs import resolve
from automations.engine.steps import (
    Step,
    StepConfigError,
    StepContext,
    StepFailed,
    StepOutcome,
    StepTransient,
    get_step,
    time_limit,
)

MAX_INPUT_CHARS = 20_000  # of one referenced value kept in a step's recorded input


def run_pipeline(
    steps: list[StepSpec],
    context: StepContext,
    store: StepStore,
    *,
    step_time_limit: float | None = None,
    retry: RetryPolicy | None = None,
) -> str | None:
    """Run the steps in order over one document: None when all succeeded, else the failure."""
    return run_pipeline_batch(
        steps, [(context, store)], step_time_limit=step_time_limit, retry=retry
    )[0]


def run_pipeline_batch(
    steps: list[StepSpec],
    items: Sequence[tuple[StepContext, StepStore]],
    *,
    step_time_limit: float | None = None,
    retry: RetryPolicy | None = None,
) -> list[str | None]:
    """Run the same steps over several documents, step by step, so that a step with a
    `run_batch(contexts, config)` (the embedding steps) handles them in one model call.

    Returns, per document, None when all its steps succeeded (or were skipped), else its
    failure message. A step that raises StepFailed (or StepConfigError) fails that
    document only; StepTransient is tried again first; any other exception is a bug and
    propagates.
    """
    retry = retry or RetryPolicy()
    errors: list[str | None] = [None] * len(items)
    skipped: list[set[str]] = [set() for _ in items]  # ids skipped by their condition
    for position, spec in enumerate(steps):
        step = get_step(spec.step)
        todo = []
        for index, (context, store) in enumerate(items):
            if errors[index] is not None:
                continue
            previous = store.finished_output(spec)
            if previous is not None:
                context.outputs[spec.id] = previous
                continue
            try:
                if _begin(position, spec, context, store, skipped[index]):
                    todo.append(index)
            except StepFailed as exc:  # the store may refuse: the run was canceled
                errors[index] = str(exc)
        _flush(items)
        if todo:
            _run_with_retries(step, spec, todo, items, errors, step_time_limit, retry)
            _flush(items)
    return errors


def _flush(items: Sequence[tuple[StepContext, StepStore]]) -> None:
    """Let stores that gather their writes (a worker's batch) send them: the steps' state
    becomes visible before a step runs and after it ends."""
    for _, store in items:
        flush = getattr(store, "flush", None)
        if flush is not None:
            flush()


def _begin(
    position: int, spec: StepSpec, context: StepContext, store: StepStore, skipped: set[str]
) -> bool:
    """Record the step's start, or its skip when its condition says so; True to run it."""
    verdict = decide(spec, context.outputs, skipped)
    step_input = input_of(spec, context.outputs)
    for note in verdict.notes:
        store.log(spec, "warning", note)
    if not verdict.holds:
        skipped.add(spec.id)
        store.log(spec, "info", f"Skipped: {verdict.reason}.")
        store.skipped(position, spec, verdict.reason, step_input)
        return False
    store.log(spec, "info", "Started.")
    store.started(position, spec, step_input)
    return True


def decide(spec: StepSpec, outputs: dict[str, Any], skipped: set[str]) -> Verdict:
    """Whether a step runs, given the earlier outputs and the steps skipped so far."""
    if spec.when is not None:
        return evaluate(spec.when, outputs)
    if spec.otherwise_of is not None and spec.otherwise_of not in skipped:
        return Verdict(
            False, f"the condition of {spec.otherwise_of!r} held, so this other case does not run"
        )
    return Verdict(True)


def input_of(spec: StepSpec, outputs: dict[str, Any]) -> dict:
    """What a step starts from: its configuration (secrets masked) and the values of the
    references in it and in its condition."""
    config = mask_secrets(spec.config)  # one rule for secrets: automations/engine/masking.py
    references = {
        ref: _bounded(resolve(outputs, ref))
        for ref in dict.fromkeys([*spec.refs, *condition_refs(spec.when)])
    }
    return {"config": config, "references": references}


def _bounded(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value[:MAX_INPUT_CHARS] if isinstance(value, str) else value
    text = json.dumps(value, ensure_ascii=False, default=str)
    return value if len(text) <= MAX_INPUT_CHARS else text[:MAX_INPUT_CHARS] + "…"


def _run_with_retries(
    step: Step,
    spec: StepSpec,
    todo: list[int],
    items: Sequence[tuple[StepContext, StepStore]],
    errors: list[str | None],
    limit: float | None,
    retry: RetryPolicy,
) -> None:
    spent = dict.fromkeys(todo, 0.0)
    pending, attempt = todo, 1
    while pending:
        began = time.monotonic()
        outcomes = _run_step(step, [items[i][0] for i in pending], spec.config, limit)
        share = (time.monotonic() - began) / len(pending)
        delay = retry.delay(attempt)
        again = []
        for index, outcome in zip(pending, outcomes, strict=True):
            context, store = items[index]
            spent[index] += share
            if isinstance(outcome, StepTransient) and attempt < retry.attempts:
                store.log(
                    spec,
                    "warning",
                    f"Attempt {attempt} failed: {_sentence(str(outcome))} "
                    f"Trying again in {delay:.1f} s.",
                )
                try:
                    store.retrying(spec, attempt + 1)
                except StepFailed as exc:  # canceled meanwhile
                    errors[index] = str(exc)
                    store.failed(spec, str(exc), spent[index])
                    continue
                spent[index] += delay
                again.append(index)
            elif isinstance(outcome, Exception):
                message = str(outcome)
                if isinstance(outcome, StepTransient) and attempt > 1:
                    message = f"{message} (tried {attempt} times)"
                errors[index] = message
                store.log(spec, "error", f"Failed: {message}")
                store.failed(spec, message, spent[index], getattr(outcome, "output", None))
            else:
                context.outputs[spec.id] = outcome.output
                if outcome.pages is not None:
                    context.pages = outcome.pages
                store.log(spec, "info", f"Finished in {spent[index]:.2f} s.")
                store.succeeded(spec, outcome, spent[index])
        if again:
            _flush(items)
            retry.sleep(delay)
        pending, attempt = again, attempt + 1


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?", ")")) else f"{text}."


def _run_step(
    step: Step, contexts: list[StepContext], config: dict, limit: float | None
) -> list[StepOutcome | Exception]:
    batch = getattr(step, "run_batch", None)
    if batch is not None and len(contexts) > 1:
        try:
            with time_limit(limit * len(contexts) if limit else None):
                return batch(contexts, config)
        except (StepFailed, StepConfigError) as exc:  # the whole batch (a model not loaded)
            return [exc] * len(contexts)
    outcomes: list[StepOutcome | Exception] = []
    for context in contexts:
        try:
            with time_limit(limit):
                outcomes.append(step.run(context, config))
        except (StepFailed, StepConfigError) as exc:
            outcomes.append(exc)
    return outcomes
