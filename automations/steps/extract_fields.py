"""extract_fields: named values with a type, a confidence and the place they were read."""

from __future__ import annotations

from typing import ClassVar

from automations.engine.fields import (
    FIELD_TYPES,
    PRESETS,
    FieldSpecError,
    extract_fields,
    parse_field_specs,
    to_json,
)
from automations.engine.steps import StepConfigError, StepContext, StepFailed, StepOutcome, register


def preset_from_outputs(outputs: dict[str, dict]) -> str | None:
    """The preset named by the latest classify result ("invoice" or "receipt"), if any."""
    for output in reversed(list(outputs.values())):
        if output.get("label") in PRESETS:
            return output["label"]
    return None


# Every field the presets define, for the builder's picker before any test run.
PRESET_FIELDS = list(dict.fromkeys(spec.name for specs in PRESETS.values() for spec in specs))


def field_hints(names) -> list[str]:
    return [f"fields.{name}.{key}" for name in names for key in ("value", "confidence")]


@register
class ExtractFields:
    name: ClassVar[str] = "extract_fields"
    kind: ClassVar[str] = "extract"
    label: ClassVar[str] = "Extract fields"
    description: ClassVar[str] = (
        "Pulls named values out of the document: the invoice or receipt preset, or your own "
        "fields by name, type and description. Each value comes with a confidence and the "
        "place on the page it was read from."
    )
    output_hints: ClassVar[list[str]] = ["preset", *field_hints(PRESET_FIELDS)]
    config_schema: ClassVar[dict] = {
        "type": "object",
        "properties": {
            "preset": {
                "type": ["string", "null"],
                "enum": [*PRESETS, "auto", None],
                "default": None,
                "title": "Preset",
                "description": "auto: the invoice or receipt preset, from an earlier Classify.",
            },
            "fields": {
                "type": "array",
                "default": [],
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string", "minLength": 1, "maxLength": 40},
                        "type": {"type": "string"},
                        "description": {"type": "string", "maxLength": 300},
                    },
                    "required": ["name"],
                    "additionalProperties": False,
                },
            },
        },
        "additionalProperties": False,
    }

    @staticmethod
    def validate(config: dict) -> dict:
        if not config.get("preset") and not config.get("fields"):
            raise StepConfigError("Extract fields: choose a preset or define at least one field.")
        try:
            parse_field_specs(config.get("fields") or [])
        except FieldSpecError as exc:
            raise StepConfigError(f"Extract fields: {exc}") from exc
        return config

    @staticmethod
    def hints_for(config: dict) -> list[str]:
        """The paths this configuration's output has: its preset's fields and its own."""
        preset = config.get("preset")
        if preset in PRESETS:
            names = [spec.name for spec in PRESETS[preset]]
        else:
            names = list(PRESET_FIELDS) if preset == "auto" else []
        names += [
            f["name"] for f in config.get("fields") or [] if isinstance(f, dict) and f.get("name")
        ]
        return ["preset", *field_hints(dict.fromkeys(names))]

    def run(self, context: StepContext, config: dict) -> StepOutcome:
        preset = config.get("preset")
        if preset == "auto":
            preset = preset_from_outputs(context.outputs)
            if preset is None and not config.get("fields"):
                return StepOutcome(
                    {"skipped": "The document is neither an invoice nor a receipt.", "fields": {}}
                )
        if not any(page.text.strip() for page in context.pages):
            raise StepFailed("There is no text to extract fields from.")
        try:
            specs = parse_field_specs(config.get("fields") or [])
            result = extract_fields(context.pages, preset=preset, fields=specs or None)
        except FieldSpecError as exc:
            raise StepFailed(str(exc)) from exc
        output = to_json(result)
        output["preset"] = preset
        # JSON objects lose their key order in PostgreSQL (jsonb): keep the fields' order.
        output["order"] = list(output["fields"])
        return StepOutcome(output, warnings=list(result.warnings))


__all__ = ["FIELD_TYPES", "ExtractFields", "preset_from_outputs"]
