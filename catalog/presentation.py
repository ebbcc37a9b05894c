"""Turn a prediction into what the playground shows: its fields in their defined order and
evidence boxes as percentages of each page.

The rules are automations' (``automations.engine.fields.order`` and ``.evidence``), which
the run and document pages use for the same step outputs.
"""

from __future__ import annotations

from automations.engine.fields.evidence import highlights
from automations.engine.fields.order import ordered_fields


def annotate_pages(result: dict) -> dict:
    """Add `highlights` to each page of a prediction whose output has fields."""
    result["field_rows"] = ordered_fields(result.get("output"))
    fields = (result.get("output") or {}).get("fields") or {}
    for page in result.get("pages", []):
        page["highlights"] = highlights(fields, page["number"], page["width"], page["height"])
    return result
