"""Run an ordered list of steps over one document, resuming after the last finished step.

The store (the Django side keeps StepRun rows; the command line keeps a dict) records each
step's result per (run, step id): a redelivered task finds the finished steps and skips them.

A step may carry a condition: ``when`` (it runs only if its rules hold on the earlier
steps' outputs, automations.engine.conditions) or ``otherwise_of`` (it runs only when the
named earlier step was skipped because its ``when`` did not hold). A skipped step is
recorded as skipped, with the reason; references into its output find nothing. Conditions
are checked again when a run resumes: they depend only on stored outputs, so the answer is
the same.

A step that raises StepTransient is tried again for that document, after a pause that
grows with each attempt (RetryPolicy); any other StepFailed fails the document at once.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from automations.engine.conditions import Verdict, check_when, condition_refs, evaluate
from automations.engine.masking import mask_secrets
from automations.engine.refs import config_refs, resolve, step_of
from automations.engine.spec import STEP_ID
from automations.engine.steps import (
    Step,
    StepConfigError,
    StepContext,
    StepFailed,
    StepOutcome,
    StepTransient,
    config_errors,
    get_step,
    time_limit,
)

MAX_INPUT_CHARS = 20_000  # of one referenced value kept in a step's recorded input


@dataclass(frozen=True)
class StepSpec:
    id: str
    step: str
    config: dict = field(default_factory=dict)
    when: dict | None = None
    otherwise_of: str | None = None
    refs: tuple[str, ...] = ()  # references in the configuration (properties marked x-ref)


# --- checking a spec ------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    step: int | None  # 0-based position, None for the pipeline as a whole
    field: str | None  # "config.url", "when.rules.0.value", "id", ...
    message: str
    level: str = "error"  # "warning": allowed, but probably not what was meant

    def as_dict(self) -> dict:
        return {
            "step": self.step,
            "field": self.field,
            "message": self.message,
            "level": self.level,
        }


def parse_pipeline(raw: object) -> list[StepSpec]:
    """Check a pipeline spec (a JSON value: a list of step objects): known steps, unique ids,
    configurations that fit their schema, conditions on earlier steps. Raises
    StepConfigError with the first problem."""
    specs, problems = _inspect(raw)
    for problem in problems:
        if problem.level == "error":
            raise StepConfigError(problem.message)
    return specs


def check_pipeline(raw: Any) -> list[dict]:
    """Every problem of a pipeline spec, for the builder to show next to its field:
    ``{"step": 0-based index or None, "field": "config.url" | "when.rules.0.value" | ...
    | None, "message": str, "level": "error" | "warning"}``. Errors are what
    parse_pipeline refuses (its message is the first error's); warnings are allowed but
    probably mistakes (a reference to a step that does not run before)."""
    return [problem.as_dict() for problem in _inspect(raw)[1]]


def _inspect(raw: Any) -> tuple[list[StepSpec], list[Problem]]:
    if not isinstance(raw, list) or not raw:
        return [], [Problem(None, None, "A pipeline needs at least one step.")]
    specs: list[StepSpec] = []
    problems: list[Problem] = []
    known: list[str] = []  # ids of the steps so far
    conditional: set[str] = set()  # ids of the steps so far that have a `when`
    for index, item in enumerate(raw):
        spec, found = _inspect_step(index, item, known, conditional)
        problems.extend(found)
        if spec is not None:
            specs.append(spec)
    return specs, problems


def _inspect_step(
    index: int, item: Any, known: list[str], conditional: set[str]
) -> tuple[StepSpec | None, list[Problem]]:
    position = index + 1
    if not isinstance(item, dict) or not isinstance(item.get("step"), str):
        return None, [Problem(index, "step", f"Step {position}: name the step kind with 'step'.")]
    try:
        step = get_step(item["step"])
    except StepConfigError as exc:
        return None, [Problem(index, "step", str(exc))]
    problems: list[Problem] = []
    step_id = item.get("id") or step.name
    if not isinstance(step_id, str) or not STEP_ID.match(step_id):
        message = f"Step {position}: id {step_id!r} must be lower-case letters, digits and _."
        problems.append(Problem(index, "id", message))
        step_id = None
    elif step_id in known:
        problems.append(Problem(index, "id", f"Step {position}: the id {step_id!r} is used twice."))
    config = _inspect_config(index, step, item.get("config"), problems)
    when, otherwise_of = _inspect_condition(index, item, known, conditional, problems)
    refs: list[str] = []
    for path, reference in config_refs(step.config_schema, config or {}):
        refs.append(reference)
        if step_of(reference) not in known:
            problems.append(
                Problem(
                    index,
                    f"config.{path}",
                    f"Step {position}: {path}: {reference!r} does not come from an earlier "
                    "step; it will be empty.",
                    "warning",
                )
            )
    if step_id is not None:
        known.append(step_id)
        if when is not None:
            conditional.add(step_id)
    if step_id is None or config is None or any(p.level == "error" for p in problems):
        return None, problems
    spec = StepSpec(step_id, step.name, config, when, otherwise_of, tuple(dict.fromkeys(refs)))
    return spec, problems


def _inspect_config(index: int, step: Step, raw: Any, problems: list[Problem]) -> dict | None:
    position = index + 1
    if not isinstance(raw or {}, dict):
        problems.append(Problem(index, "config", f"Step {position}: 'config' must be an object."))
        return None
    config, errors = config_errors(step, raw or None)
    if errors:
        problems.extend(Problem(index, _config_field(path), message) for path, message in errors)
        return None
    check = getattr(step, "validate", None)
    if check is None:
        return config
    try:
        return check(config)
    except StepConfigError as exc:
        problems.append(Problem(index, _field_named_in(step, str(exc)), str(exc)))
        return None


def _config_field(path: str) -> str:
    return f"config.{path}" if path else "config"


def _field_named_in(step: Step, message: str) -> str:
    """The config field a step's own check names ("Classify: labels: add a label." ->
    "config.labels"), or "config" when it names none."""
    rest = message.removeprefix(f"{step.label}: ")
    head, colon, _ = rest.partition(": ")
    first = head.split(".", 1)[0]
    if colon and first in step.config_schema.get("properties", {}):
        return f"config.{head}"
    return "config"


def _inspect_condition(
    index: int, item: dict, known: list[str], conditional: set[str], problems: list[Problem]
) -> tuple[dict | None, str | None]:
    position = index + 1
    raw_when, otherwise_of = item.get("when"), item.get("otherwise_of")
    if raw_when is not None and otherwise_of is not None:
        problems.append(
            Problem(
                index,
                "otherwise_of",
                f"Step {position}: a step has either 'when' or 'otherwise_of', not both.",
            )
        )
        return None, None
    if raw_when is not None:
        when, found = check_when(raw_when, list(known))
        problems.extend(Problem(index, p.field, f"Step {position}: {p.message}") for p in found)
        return when, None
    if otherwise_of is None:
        return None, None
    if not isinstance(otherwise_of, str) or not otherwise_of:
        message = f"Step {position}: otherwise_of must be the id of an earlier step."
    elif otherwise_of not in known:
        message = f"Step {position}: otherwise_of: {otherwise_of!r} is not an earlier step."
    elif otherwise_of not in conditional:
        message = (
            f"Step {position}: otherwise_of: step {otherwise_of!r} has no condition, so "
            "there is no other case."
        )
    else:
        return None, otherwise_of
    problems.append(Problem(index, "otherwise_of", message))
    return None, None


# --- stores ---------------------------------------------------------------------------------


def log_line(level: str, message: str) -> dict:
    """One entry of a step's log: {"at": ISO time, "level": info|warning|error, "message"}."""
    at = datetime.now(UTC).isoformat(timespec="milliseconds")
    return {"at": at, "level": level, "message": message}


class StepStore(Protocol):
    """Where a run's step results go. `log` lines are kept with the step's next write
    (started, retrying, skipped, succeeded, failed). A store may also gather its writes
    and offer `flush()`, which the engine calls before a step runs, before a pause between
    attempts and after the step ends."""

    def finished_output(self, spec: StepSpec) -> dict | None: ...
    def log(self, spec: StepSpec, level: str, message: str) -> None: ...
    def started(self, position: int, spec: StepSpec, input: dict) -> None: ...
    def retrying(self, spec: StepSpec, attempt: int) -> None: ...
    def skipped(self, position: int, spec: StepSpec, reason: str, input: dict) -> None: ...
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
        self.skips: dict[str, str] = {}  # step id -> why it was skipped
        self.inputs: dict[str, dict] = {}
        self.logs: dict[str, list[dict]] = {}
        self.attempts: dict[str, int] = {}

    def finished_output(self, spec: StepSpec) -> dict | None:
        return self.results.get(spec.id)

    def log(self, spec: StepSpec, level: str, message: str) -> None:
        self.logs.setdefault(spec.id, []).append(log_line(level, message))

    def started(self, position: int, spec: StepSpec, input: dict) -> None:
        self.inputs[spec.id] = input
        self.attempts[spec.id] = 1

    def retrying(self, spec: StepSpec, attempt: int) -> None:
        self.attempts[spec.id] = attempt

    def skipped(self, position: int, spec: StepSpec, reason: str, input: dict) -> None:
        self.skips[spec.id] = reason
        self.inputs[spec.id] = input

    def succeeded(self, spec: StepSpec, outcome: StepOutcome, seconds: float) -> None:
        self.results[spec.id] = outcome.output
        self.warnings[spec.id] = outcome.warnings

    def failed(
        self, spec: StepSpec, message: str, seconds: float, output: dict | None = None
    ) -> None:
        self.errors[spec.id] = message


# --- retries --------------------------------------------------------------------------------

_random = random.Random()  # noqa: S311  (jitter for pauses, not a secret)


@dataclass(frozen=True)
class RetryPolicy:
    """How often a step that raises StepTransient is tried, and the pauses between tries:
    exponential (base, 2 x base, 4 x base ... up to cap seconds), each pause a random
    time between half and all of that, so that documents failing together (a receiver
    that is down) do not all come back at the same moment."""

    attempts: int = 3
    base: float = 1.0
    cap: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    random: Callable[[], float] = _random.random

    def delay(self, attempt: int) -> float:
        """The pause after failed attempt `attempt` (1, 2, ...)."""
        ceiling = min(self.cap, self.base * 2 ** (attempt - 1))
        return ceiling / 2 + self.random() * ceiling / 2


# --- running --------------------------------------------------------------------------------


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
