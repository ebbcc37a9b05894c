"""Run an ordered list of steps over one document, resuming after the last finished step.

The store (the Django side keeps StepRun rows; the command line keeps a dict) records each
step's result per (run, step id): a redelivered task finds the finished steps and skips them.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Protocol

from automations.engine.steps import (
    StepConfigError,
    StepContext,
    StepFailed,
    StepOutcome,
    StepTimeout,
    get_step,
    time_limit,
    validate_config,
)

_ID = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


@dataclass(frozen=True)
class StepSpec:
    id: str
    step: str
    config: dict = field(default_factory=dict)


def parse_pipeline(raw: list[dict]) -> list[StepSpec]:
    """Check a pipeline spec: known steps, unique ids, configurations that fit their schema."""
    if not isinstance(raw, list) or not raw:
        raise StepConfigError("A pipeline needs at least one step.")
    specs: list[StepSpec] = []
    seen: set[str] = set()
    for position, item in enumerate(raw, start=1):
        if not isinstance(item, dict) or not isinstance(item.get("step"), str):
            raise StepConfigError(f"Step {position}: name the step kind with 'step'.")
        step = get_step(item["step"])
        step_id = item.get("id") or step.name
        if not isinstance(step_id, str) or not _ID.match(step_id):
            raise StepConfigError(
                f"Step {position}: id {step_id!r} must be lower-case letters, digits and _."
            )
        if step_id in seen:
            raise StepConfigError(f"Step {position}: the id {step_id!r} is used twice.")
        seen.add(step_id)
        if not isinstance(item.get("config") or {}, dict):
            raise StepConfigError(f"Step {position}: 'config' must be an object.")
        config = validate_config(step, item.get("config"))
        check = getattr(step, "validate", None)
        if check is not None:
            config = check(config)
        specs.append(StepSpec(step_id, step.name, config))
    return specs


class StepStore(Protocol):
    def finished_output(self, spec: StepSpec) -> dict | None: ...
    def started(self, position: int, spec: StepSpec) -> None: ...
    def succeeded(self, spec: StepSpec, outcome: StepOutcome, seconds: float) -> None: ...
    def failed(
        self, spec: StepSpec, message: str, seconds: float, output: dict | None = None
    ) -> None: ...


class MemoryStore:
    """A store for one-off runs (command line, playground): results live in a dict."""

    def __init__(self) -> None:
        self.results: dict[str, dict] = {}
        self.errors: dict[str, str] = {}
        self.warnings: dict[str, list[str]] = {}

    def finished_output(self, spec: StepSpec) -> dict | None:
        return self.results.get(spec.id)

    def started(self, position: int, spec: StepSpec) -> None:
        pass

    def succeeded(self, spec: StepSpec, outcome: StepOutcome, seconds: float) -> None:
        self.results[spec.id] = outcome.output
        self.warnings[spec.id] = outcome.warnings

    def failed(
        self, spec: StepSpec, message: str, seconds: float, output: dict | None = None
    ) -> None:
        self.errors[spec.id] = message


def run_pipeline(
    steps: list[StepSpec],
    context: StepContext,
    store: StepStore,
    *,
    step_time_limit: float | None = None,
) -> str | None:
    """Run the steps in order over one document: None when all succeeded, else the failure."""
    return run_pipeline_batch(steps, [(context, store)], step_time_limit=step_time_limit)[0]


def run_pipeline_batch(
    steps: list[StepSpec],
    items: list[tuple[StepContext, StepStore]],
    *,
    step_time_limit: float | None = None,
) -> list[str | None]:
    """Run the same steps over several documents, step by step, so that a step with a
    `run_batch(contexts, config)` (the embedding steps) handles them in one model call.

    Returns, per document, None when all its steps succeeded, else its failure message.
    A step that raises StepFailed (or StepConfigError) fails that document only; any other
    exception is a bug and propagates.
    """
    errors: list[str | None] = [None] * len(items)
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
                store.started(position, spec)
            except StepFailed as exc:  # the store may refuse: the run was canceled
                errors[index] = str(exc)
                continue
            todo.append(index)
        if not todo:
            continue
        began = time.monotonic()
        outcomes = _run_step(step, [items[i][0] for i in todo], spec.config, step_time_limit)
        seconds = (time.monotonic() - began) / len(todo)
        for index, outcome in zip(todo, outcomes, strict=True):
            context, store = items[index]
            if isinstance(outcome, Exception):
                errors[index] = str(outcome)
                store.failed(spec, str(outcome), seconds, getattr(outcome, "output", None))
                continue
            context.outputs[spec.id] = outcome.output
            if outcome.pages is not None:
                context.pages = outcome.pages
            store.succeeded(spec, outcome, seconds)
    return errors


def _run_step(
    step, contexts: list[StepContext], config: dict, limit: float | None
) -> list[StepOutcome | Exception]:
    batch = getattr(step, "run_batch", None)
    if batch is not None and len(contexts) > 1:
        try:
            with time_limit(limit * len(contexts) if limit else None):
                return batch(contexts, config)
        except StepTimeout as exc:
            return [exc] * len(contexts)
    outcomes: list[StepOutcome | Exception] = []
    for context in contexts:
        try:
            with time_limit(limit):
                outcomes.append(step.run(context, config))
        except (StepFailed, StepConfigError) as exc:
            outcomes.append(exc)
    return outcomes
