"""table: append the run's values as a row of one of the organization's tables.

The table (created on first use) is viewed, sorted, edited and exported in the dashboard
(automations/web/tables.py). The row is written by the worker's ``append_table_row``
service (automations/tables.py), once per (table, run, step): a redelivered task or a
retried step finds the row it added before.

The helpers below (``mapped_values``, ``extracted_fields``, ``cell_text``) are shared with
the email step: both turn "column name -> reference" maps into one flat row of text.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from automations.engine.refs import is_reference, lookup
from automations.engine.steps import StepConfigError, StepContext, StepFailed, StepOutcome, register
from automations.steps._common import ValidatingStep

MAX_COLUMNS = 50
MAX_CELL = 10_000  # characters kept of one value


def map_schema(description: str) -> dict:
    """A config property mapping names to references, for the builder's picker."""
    return {
        "type": "object",
        "x-ref": "map",
        "maxProperties": MAX_COLUMNS,
        "description": description,
        "propertyNames": {"minLength": 1, "maxLength": 100, "pattern": r"\S"},
        "additionalProperties": {"type": "string", "minLength": 1, "maxLength": 300},
    }


def check_references(label: str, key: str, mapping: dict[str, str] | None) -> None:
    for name, reference in (mapping or {}).items():
        if not is_reference(reference) or "." not in reference:
            raise StepConfigError(
                f"{label}: {key}.{name}: {reference!r} is not a reference like "
                "'fields.fields.total.value' (a step id, then keys, joined by dots)."
            )


@register
class TableStep(ValidatingStep):
    name: ClassVar[str] = "table"
    kind: ClassVar[str] = "deliver"
    label: ClassVar[str] = "Add a row to a table"
    description: ClassVar[str] = (
        "Adds the extracted fields as a row of a table your team can view, sort, edit and "
        "export in the dashboard. The table is created the first time."
    )
    config_schema: ClassVar[dict] = {
        "type": "object",
        "properties": {
            "table": {
                "type": "string",
                "minLength": 1,
                "maxLength": 120,
                "title": "Table",
                "description": "The table's name; a new name creates the table.",
            },
            "columns": map_schema(
                "Column name to '<step id>.<path>', e.g. 'fields.fields.total.value'; "
                "by default every field the Extract fields step found."
            ),
        },
        "required": ["table"],
        "additionalProperties": False,
    }
    output_hints: ClassVar[list[str]] = ["table", "row"]

    @classmethod
    def check(cls, config: dict) -> None:
        config["table"] = " ".join(config["table"].split())
        if not config["table"]:
            raise StepConfigError(f"{cls.label}: table: give the table a name.")
        if "columns" in config and not config["columns"]:
            del config["columns"]  # an empty map means the default: every extracted field
        check_references(cls.label, "columns", config.get("columns"))

    def run(self, context: StepContext, config: dict) -> StepOutcome:
        config = self.validate(config)
        values, warnings = mapped_values(context.outputs, config.get("columns"), "columns")
        if values is None:
            raise StepFailed(
                "There are no extracted fields to add to the table: put an Extract fields "
                "step before this one, or choose the columns."
            )
        if not values:
            warnings.append(
                f"No fields were extracted from this document; no row was added to "
                f"{config['table']}."
            )
            return StepOutcome({"table": config["table"], "row": None, "values": {}}, warnings)
        added = context.services.append_table_row(table=config["table"], values=values)
        output = {"table": added["table"], "row": added["row"], "values": values}
        return StepOutcome(output, warnings)


def mapped_values(
    outputs: dict[str, Any], mapping: dict[str, str] | None, key: str
) -> tuple[dict[str, str | None] | None, list[str]]:
    """One flat row, name -> text (None when empty), and warnings for references that
    lead nowhere (a value that is there but empty, like a field the document lacks, is
    not warned about again). Without a mapping: the extracted fields, or None when the
    run has no Extract fields step."""
    if not mapping:
        return extracted_fields(outputs), []
    values: dict[str, str | None] = {}
    warnings: list[str] = []
    for name, reference in mapping.items():
        found, value = lookup(outputs, reference)
        if not found:
            warnings.append(f"{key}.{name}: {reference} found nothing; it was left empty.")
        values[name] = cell_text(value)
    return values, warnings


def extracted_fields(outputs: dict[str, Any]) -> dict[str, str | None] | None:
    """name -> value of the latest Extract fields output, in the order the fields were
    defined; None when no earlier step extracted fields."""
    for output in reversed(list(outputs.values())):
        if not isinstance(output, dict) or not isinstance(output.get("fields"), dict):
            continue
        fields = output["fields"]
        if fields and not all(isinstance(f, dict) and "value" in f for f in fields.values()):
            continue  # a "fields" key that is not Extract fields' answer
        if not fields and "skipped" not in output and "preset" not in output:
            continue
        order = [name for name in output.get("order") or [] if name in fields]
        names = order + [name for name in fields if name not in order]
        return {name: cell_text(fields[name].get("value")) for name in names}
    return None


def cell_text(value: Any) -> str | None:
    """A value as the text of one cell: a field's value for a whole extracted field,
    true/false, numbers as written, lists and objects as JSON."""
    if isinstance(value, dict) and "value" in value and "confidence" in value:
        value = value["value"]
    if value is None:
        return None
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = value
    elif isinstance(value, int | float):
        text = str(value)
    else:
        text = json.dumps(value, ensure_ascii=False, default=str)
    return text[:MAX_CELL]
