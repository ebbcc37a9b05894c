"""What the pages show of runs, steps and their results: progress, step titles, conditions
in words, inputs and outputs as bounded JSON with secrets masked.

The order of extracted fields comes from ``automations.engine.fields.order``, which the
catalog's playground, exports and the command line share for the same step outputs.
"""

from __future__ import annotations

import json
from typing import Any

from automations.engine.conditions import OPS
from automations.engine.fields.order import ordered_fields
from automations.engine.masking import mask_secrets
from automations.engine.spec import step_id
from automations.engine.steps import all_steps
from automations.models import Artifact, Run, StepRun

MAX_SHOWN_JSON = 20_000  # characters of a step's input, settings or output a page shows


def step_title(kind: str) -> str:
    """The name people see for a step kind ("Send to a webhook"), from its registry entry."""
    step = all_steps().get(kind)
    label = getattr(step, "label", "") if step is not None else ""
    return label or kind.replace("_", " ").capitalize()


def step_chain(spec: list[dict]) -> list[tuple[str, bool]]:
    """Each step's title and whether it has a condition, for a one-line summary."""
    return [
        (
            step_title(str(step.get("step", ""))),
            bool(step.get("when") or step.get("otherwise_of")),
        )
        for step in spec
        if isinstance(step, dict)
    ]


def annotate_progress(run: Run) -> Run:
    """Add what a row shows while a run goes: steps done of all, and the step at work."""
    step_runs = list(run.steps.all())
    finished = (StepRun.Status.SUCCEEDED, StepRun.Status.SKIPPED)
    run.steps_total = max(len(run.pipeline or []), len(step_runs))
    run.steps_done = sum(1 for s in step_runs if s.status in finished)
    running = [s for s in step_runs if s.status == StepRun.Status.RUNNING]
    run.current_step = running[0] if running and run.is_active else None
    if run.status == Run.Status.SUCCEEDED or not run.steps_total:
        run.step_percent = 100 if run.status == Run.Status.SUCCEEDED else 0
    else:
        run.step_percent = round(100 * run.steps_done / run.steps_total)
    return run


def step_views(run: Run) -> list[dict]:
    """The run's steps in pipeline order, each with its StepRun (None while waiting) and
    what the page shows of its input and output."""
    by_id = {s.step_id: s for s in run.steps.all()}
    artifacts: dict[str, list[Artifact]] = {}
    for artifact in run.artifacts.order_by("created_at"):
        artifacts.setdefault(artifact.step_id, []).append(artifact)
    specs = [spec for spec in (run.pipeline or []) if isinstance(spec, dict)]
    known = {step_id(spec) for spec in specs}
    # Steps that ran but are no longer in the pipeline (a retry on a newer version).
    specs += [{"id": s.step_id, "step": s.step} for s in by_id.values() if s.step_id not in known]
    rows = []
    for position, spec in enumerate(specs, start=1):
        key = step_id(spec)
        step_run = by_id.get(key)
        kind = spec.get("step") or (step_run.step if step_run else "")
        output = step_run.output if step_run else {}
        rows.append(
            {
                "position": position,
                "id": key,
                "kind": kind,
                "title": step_title(kind),
                "run": step_run,
                "status": step_run.status if step_run else "waiting",
                "condition": describe_when(spec.get("when")),
                "otherwise_of": spec.get("otherwise_of"),
                "input": shown_json(step_run.input) if step_run and step_run.input else "",
                "config": shown_json(spec.get("config")) if spec.get("config") else "",
                "fields": ordered_fields(output) if kind == "extract_fields" else [],
                "webhook_attempts": (output or {}).get("attempts") if kind == "webhook" else None,
                "repeat": repeat_note(step_run),
                "output": shown_json(output) if output else "",
                "artifacts": artifacts.get(key, []),
            }
        )
    return rows


REPEATS = {
    "webhook": "Sent again after a restart, with the same delivery id {key}: the "
    "receiver may have it twice and can skip the repeat by its X-Pyq-Delivery header.",
    "email": "Sent again after a restart, with the same Message-ID (key {key}): the "
    "recipients may have it twice, as the same message.",
    "": "Done again after a restart, with the same key {key}.",
}


def repeat_note(step_run: StepRun | None) -> str:
    """What a run page says of a step that acted outside Pyq again after its worker stopped
    (its row's action began in more than one execution), else ""."""
    action = step_run.action if step_run is not None else None
    if not isinstance(action, dict) or (action.get("executions") or 0) < 2:
        return ""
    note = REPEATS.get(str(action.get("kind")), REPEATS[""])
    return note.format(key=action.get("key", ""))


def describe_when(when) -> str:
    """A step's condition in words: 'type.label is "invoice" and fields.… is above 100'."""
    if not isinstance(when, dict):
        return ""
    parts = []
    for rule in when.get("rules") or []:
        if not isinstance(rule, dict):
            continue
        op = rule.get("op", "is")
        words = f"{rule.get('ref', '?')} {OPS.get(op, op)}"
        if op not in ("is_empty", "is_not_empty"):
            words += f" {json.dumps(rule.get('value'), ensure_ascii=False)}"
        parts.append(words)
    joiner = " or " if when.get("match") == "any" else " and "
    return joiner.join(parts)


def shown_json(value: Any) -> str:
    """A step's input, settings or output as a page shows it (the run page, a builder
    test's result): secrets masked by the one rule (automations/engine/masking.py), indented
    JSON, cut after MAX_SHOWN_JSON characters with a note of how many were left out."""
    text = json.dumps(mask_secrets(value), indent=2, ensure_ascii=False, default=str)
    if len(text) > MAX_SHOWN_JSON:
        text = text[:MAX_SHOWN_JSON] + f"\n… ({len(text) - MAX_SHOWN_JSON} more characters)"
    return text


def step_result(step_run: StepRun | None) -> dict:
    """What the builder shows under a step after a test: its fields, its plain values, and
    its input and output as JSON."""
    if step_run is None:
        return {}
    output = step_run.output or {}
    fields = output.get("fields") if isinstance(output.get("fields"), dict) else None
    field_rows = (
        [
            (name, f)
            for name, f in fields.items()
            if isinstance(f, dict) and ("value" in f or "confidence" in f)
        ]
        if fields
        else []
    )
    scalars = [
        (key, value if isinstance(value, str) else json.dumps(value))
        for key, value in output.items()
        if isinstance(value, str | int | float | bool) or value is None
    ]
    return {
        "field_rows": field_rows,
        "scalars": scalars,
        "output_json": shown_json(output),
        "input_json": shown_json(step_run.input) if step_run.input else "",
    }
