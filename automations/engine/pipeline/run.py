"""Running the steps over documents, step by step: skipping finished steps, conditions,
what a step starts from, batches, retries of StepTransient, and faults kept to the document
they happened to."""

from __future__ import annotations

import json
import logging
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
FAULT = (
    "Something went wrong on our side in the step {step!r} ({error}). It has been logged; "
    "retry the run later."
)

logger = logging.getLogger(__name__)

# Exceptions that concern a whole batch (the database gone, the run's time limit): they
# propagate, where any other exception fails only the document it happened to.
BatchErrors = tuple[type[BaseException], ...]


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
    batch_errors: BatchErrors | None = None,
) -> list[str | None]:
    """Run the same steps over several documents, step by step, so that a step with a
    `run_batch(contexts, config)` (the embedding steps) handles them in one model call.

    Returns, per document, None when all its steps succeeded (or were skipped), else its
    failure message. A step that raises StepFailed (or StepConfigError) fails that
    document only; StepTransient is tried again first. Any other exception is a bug:
    without `batch_errors` (one document, someone waiting for it) it propagates; with them
    (a worker's batch) it fails only the document it happened to, logged, with a message
    that says so, unless it is one of `batch_errors`, which propagate. A `run_batch` that
    raises such a bug is called again one document at a time, so the document that broke
    it fails alone.
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
            try:
                if _start(position, spec, context, store, skipped[index]):
                    todo.append(index)
            except StepFailed as exc:  # the store may refuse: the run was canceled
                errors[index] = str(exc)
            except Exception as exc:
                errors[index] = _fault(exc, spec, context, batch_errors)
        _flush(items, errors)
        todo = [index for index in todo if errors[index] is None]
        if todo:
            _run_with_retries(step, spec, todo, items, errors, step_time_limit, retry, batch_errors)
            _flush(items, errors)
    return errors


def _flush(items: Sequence[tuple[StepContext, StepStore]], errors: list[str | None]) -> None:
    """Let stores that gather their writes (a worker's batch) send them: the steps' state
    becomes visible before a step runs and after it ends. A store that could not write a
    document's results raises StepFailed for it: that document fails with the reason."""
    for index, (_, store) in enumerate(items):
        flush = getattr(store, "flush", None)
        if flush is None:
            continue
        try:
            flush()
        except StepFailed as exc:
            errors[index] = errors[index] or str(exc)


def _fault(
    exc: Exception, spec: StepSpec, context: StepContext, batch_errors: BatchErrors | None
) -> str:
    """The failure message of one document for a bug (an exception that is not a step's
    own failure), logged with its traceback; the exception itself propagates when nothing
    is contained or it concerns the whole batch."""
    if batch_errors is None or isinstance(exc, batch_errors):
        raise exc
    logger.error("step %r failed unexpectedly on %s", spec.id, context.document.name, exc_info=exc)
    return FAULT.format(step=spec.id, error=type(exc).__name__)


def _start(
    position: int, spec: StepSpec, context: StepContext, store: StepStore, skipped: set[str]
) -> bool:
    """Take the output of the step when it finished before; else record its start, or its
    skip when its condition says so. True to run it."""
    previous = store.finished_output(spec)
    if previous is not None:
        context.outputs[spec.id] = previous
        return False
    return _begin(position, spec, context, store, skipped)


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
    batch_errors: BatchErrors | None,
) -> None:
    spent = dict.fromkeys(todo, 0.0)
    pending, attempt = todo, 1
    while pending:
        began = time.monotonic()
        contexts = [items[i][0] for i in pending]
        outcomes = _run_step(step, spec, contexts, limit, batch_errors)
        share = (time.monotonic() - began) / len(pending)
        delay = retry.delay(attempt)
        again = []
        for index, outcome in zip(pending, outcomes, strict=True):
            spent[index] += share
            try:
                retried, errors[index] = _settle(
                    spec, items[index], outcome, attempt, retry, spent[index], delay
                )
            except Exception as exc:
                retried, errors[index] = False, _fault(exc, spec, items[index][0], batch_errors)
            if retried:
                spent[index] += delay
                again.append(index)
        if again:
            _flush(items, errors)
            retry.sleep(delay)
        pending, attempt = [index for index in again if errors[index] is None], attempt + 1


def _settle(
    spec: StepSpec,
    item: tuple[StepContext, StepStore],
    outcome: StepOutcome | Exception,
    attempt: int,
    retry: RetryPolicy,
    spent: float,
    delay: float,
) -> tuple[bool, str | None]:
    """Record one document's outcome of an attempt: (try it again, its failure message)."""
    context, store = item
    if isinstance(outcome, StepTransient) and attempt < retry.attempts:
        store.log(
            spec,
            "warning",
            f"Attempt {attempt} failed: {_sentence(str(outcome))} Trying again in {delay:.1f} s.",
        )
        try:
            store.retrying(spec, attempt + 1)
        except StepFailed as exc:  # canceled meanwhile
            store.failed(spec, str(exc), spent)
            return False, str(exc)
        return True, None
    if isinstance(outcome, Exception):
        message = str(outcome)
        if isinstance(outcome, StepTransient) and attempt > 1:
            message = f"{message} (tried {attempt} times)"
        store.log(spec, "error", f"Failed: {message}")
        store.failed(spec, message, spent, getattr(outcome, "output", None))
        return False, message
    context.outputs[spec.id] = outcome.output
    if outcome.pages is not None:
        context.pages = outcome.pages
    store.log(spec, "info", f"Finished in {spent:.2f} s.")
    store.succeeded(spec, outcome, spent)
    return False, None


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?", ")")) else f"{text}."


def _run_step(
    step: Step,
    spec: StepSpec,
    contexts: list[StepContext],
    limit: float | None,
    batch_errors: BatchErrors | None,
) -> list[StepOutcome | Exception]:
    batch = getattr(step, "run_batch", None)
    if batch is not None and len(contexts) > 1:
        try:
            with time_limit(limit * len(contexts) if limit else None):
                return _checked_batch(batch(contexts, spec.config), len(contexts))
        except (StepFailed, StepConfigError) as exc:  # the whole batch (a model not loaded)
            return [exc] * len(contexts)
        except Exception as exc:
            if batch_errors is None or isinstance(exc, batch_errors):
                raise
            # One document broke the call: each is run alone, so that it fails alone.
            logger.warning(
                "step %r failed on a batch of %d documents; each runs alone",
                spec.id,
                len(contexts),
                exc_info=exc,
            )
    return [_run_one(step, spec, context, limit, batch_errors) for context in contexts]


def _run_one(
    step: Step,
    spec: StepSpec,
    context: StepContext,
    limit: float | None,
    batch_errors: BatchErrors | None,
) -> StepOutcome | Exception:
    try:
        with time_limit(limit):
            return _checked(step.run(context, spec.config))
    except (StepFailed, StepConfigError) as exc:
        return exc
    except Exception as exc:
        return StepFailed(_fault(exc, spec, context, batch_errors))


def _checked(outcome: object) -> StepOutcome:
    if not isinstance(outcome, StepOutcome):
        raise TypeError(f"a step returned {type(outcome).__name__}, not a StepOutcome")
    return outcome


def _checked_batch(outcomes: object, count: int) -> list[StepOutcome | Exception]:
    """A run_batch's answer: one outcome (or failure) per document, in order."""
    if not isinstance(outcomes, list) or len(outcomes) != count:
        raise TypeError(f"run_batch returned {type(outcomes).__name__}, not {count} outcomes")
    return [o if isinstance(o, Exception) else _checked(o) for o in outcomes]
