"""What the builder page needs besides its views: the step library (with the models an
organization may choose), a draft's problems with secrets masked, and the references a step
can use (from the last test run's outputs and the steps' output hints)."""

from __future__ import annotations

import json
from typing import Any

from automations.engine.fields import PRESETS
from automations.engine.masking import scrub, secret_values
from automations.engine.pipeline import check_pipeline
from automations.engine.refs import flatten, output_hints
from automations.engine.spec import step_id as spec_step_id
from automations.engine.steps import KINDS, StepConfigError, all_steps
from automations.models import Run, StepRun
from catalog.registry import allowed_models

KIND_LABELS = {
    "read": ("Read", "Get the text out of the document."),
    "understand": ("Understand", "Decide what the document is and what it says."),
    "extract": ("Extract", "Pull out the values you need."),
    "transform": ("Transform", "Change the document or its data."),
    "deliver": ("Deliver", "Send the results where they are needed."),
}
# Short step ids read well in references ("fields.fields.total.value").
PREFERRED_IDS = {
    "extract_text": "text",
    "classify": "type",
    "extract_fields": "fields",
    "similar_documents": "duplicates",
    "summarize": "summary",
    "webhook": "send",
}
OPERATORS = [
    ("is", "is"),
    ("is_not", "is not"),
    ("contains", "contains"),
    ("at_least", "is at least"),
    ("at_most", "is at most"),
    ("above", "is above"),
    ("below", "is below"),
    ("is_empty", "is empty"),
    ("is_not_empty", "is not empty"),
]
MAX_REFS_PER_STEP = 300
PREVIEW_CHARS = 80


# --- problems and references --------------------------------------------------------------


def draft_problems(spec: Any) -> list[dict]:
    """All the problems of a spec as {"step", "field", "message"} (engine's check_pipeline);
    a secret a message quotes ("'hunter2…' is too long") is masked."""
    secrets = secret_values(spec)
    return [
        {**problem, "message": scrub(str(problem.get("message", "")), secrets)}
        for problem in _draft_problems(spec)
    ]


def _draft_problems(spec: Any) -> list[dict]:
    try:
        return list(check_pipeline(spec))
    except StepConfigError as exc:
        return [{"step": None, "field": None, "message": str(exc)}]


def preview(value: Any) -> str:
    """A value as the picker shows it: short, one line."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def test_outputs(run: Run | None) -> dict[str, list[dict]]:
    """Per step id, the references into its output in the test run, with preview values."""
    if run is None:
        return {}
    found: dict[str, list[dict]] = {}
    for step_run in run.steps.filter(status=StepRun.Status.SUCCEEDED):
        pairs = list(flatten({step_run.step_id: step_run.output or {}}))
        found[step_run.step_id] = [
            {"ref": ref, "preview": preview(value)} for ref, value in pairs[:MAX_REFS_PER_STEP]
        ]
    return found


def reference_options(spec: list[dict], position: int, run: Run | None) -> list[dict]:
    """What a step at `position` can refer to: the earlier steps' outputs in the last test
    run (with their values), then the paths their kind usually has (output_hints)."""
    steps = all_steps()
    outputs = test_outputs(run)
    options: list[dict] = []
    for item in spec[: max(position, 0)]:
        if not isinstance(item, dict):
            continue
        step_id = spec_step_id(item)
        if not step_id:
            continue
        seen = set()
        for entry in outputs.get(step_id, []):
            seen.add(entry["ref"])
            options.append({**entry, "step": step_id, "source": "test"})
        step = steps.get(item.get("step"))
        config = item.get("config")
        hints = output_hints(step, config if isinstance(config, dict) else {}) if step else []
        for hint in hints:
            ref = f"{step_id}.{hint}"
            if ref not in seen and "<" not in hint:
                seen.add(ref)
                options.append({"ref": ref, "preview": "", "step": step_id, "source": "hint"})
    return options


# --- the library --------------------------------------------------------------------------


def step_library(org=None) -> list[dict]:
    """The steps a workflow can use, grouped by kind, with what the form needs; `model` and
    `classifier` settings offer the models ``org`` may choose (catalog.registry), as a list."""
    steps = all_steps()
    choices = allowed_models(org)
    groups = []
    for kind in KINDS:
        label, blurb = KIND_LABELS.get(kind, (kind.capitalize(), ""))
        members = sorted(
            (s for s in steps.values() if s.kind == kind), key=lambda s: s.label.casefold()
        )
        groups.append(
            {
                "kind": kind,
                "label": label,
                "description": blurb,
                "steps": [
                    {
                        "name": s.name,
                        "kind": s.kind,
                        "label": s.label,
                        "description": s.description,
                        "schema": _with_model_choices(s.config_schema, choices),
                        "hints": list(getattr(s, "output_hints", None) or []),
                        "preferred_id": PREFERRED_IDS.get(s.name, s.name),
                    }
                    for s in members
                ],
            }
        )
    return groups


def _with_model_choices(schema: dict, choices) -> dict:
    """The schema with the model settings' choices as an enum (the builder shows a list)."""
    properties = schema.get("properties", {})
    if "model" not in properties and "classifier" not in properties:
        return schema
    properties = dict(properties)
    if "model" in properties:
        properties["model"] = {**properties["model"], "enum": list(choices.embedders)}
    if "classifier" in properties:
        properties["classifier"] = {
            **properties["classifier"],
            "enum": [None, *choices.classifiers],
        }
    return {**schema, "properties": properties}


def preset_fields() -> dict[str, list[str]]:
    """Field names of extract_fields' presets, to expand "fields.<name>.value" hints."""
    return {name: [spec.name for spec in specs] for name, specs in PRESETS.items()}
