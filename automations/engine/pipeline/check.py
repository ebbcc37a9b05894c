"""Checking a pipeline spec before anything runs: known steps, unique ids, configurations
that fit their schema, conditions and references on earlier steps (StepSpec, Problem)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from automations.engine.conditions import check_when
from automations.engine.refs import config_refs, step_of
from automations.engine.spec import STEP_ID
from automations.engine.steps import Step, StepConfigError, config_errors, get_step


@dataclass(frozen=True)
class StepSpec:
    id: str
    step: str
    config: dict = field(default_factory=dict)
    when: dict | None = None
    otherwise_of: str | None = None
    refs: tuple[str, ...] = ()  # references in the configuration (properties marked x-ref)


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
