"""Structured fields from document text: presets (invoice, receipt) and custom fields.

Pure Python (no Django): give it the pages' text (and OCR lines with boxes, when the
pages were OCR'd) and it returns each field's normalised value, a confidence in [0, 1]
and the evidence (page, character span, box) the value was read from.
"""

from __future__ import annotations

from dataclasses import asdict

from automations.engine.fields.custom import extract_custom
from automations.engine.fields.document import Document
from automations.engine.fields.line_items import extract_line_items
from automations.engine.fields.model import (
    FIELD_TYPES,
    Evidence,
    ExtractionResult,
    FieldResult,
    FieldSpec,
    FieldSpecError,
    PageText,
    parse_field_specs,
)
from automations.engine.fields.normalize import detect_currency
from automations.engine.fields.presets import PRESETS, extract_preset

__all__ = [
    "FIELD_TYPES",
    "PRESETS",
    "Evidence",
    "ExtractionResult",
    "FieldResult",
    "FieldSpec",
    "FieldSpecError",
    "PageText",
    "extract_fields",
    "parse_field_specs",
    "to_json",
]

LOW_CONFIDENCE = 0.5


def extract_fields(
    pages: list[PageText],
    *,
    preset: str | None = None,
    fields: list[FieldSpec] | None = None,
) -> ExtractionResult:
    """Extract a preset's fields and/or custom ``fields`` from ``pages``.

    Raises :class:`FieldSpecError` for an unknown preset or a field whose type does not
    exist. A field that is not found has value None and confidence 0.
    """
    if preset is not None and preset not in PRESETS:
        raise FieldSpecError(f"Unknown preset '{preset}'; use one of {', '.join(sorted(PRESETS))}.")
    custom = list(fields or [])
    names = [spec.name for spec in custom]
    for name in sorted({n for n in names if names.count(n) > 1}):
        raise FieldSpecError(f"Field '{name}' is defined twice; names must be unique.")
    for spec in custom:
        if spec.type not in FIELD_TYPES:
            raise FieldSpecError(
                f"Field '{spec.name}': unknown type '{spec.type}'; "
                f"use one of {', '.join(FIELD_TYPES)}."
            )
    doc = Document(pages)
    results: dict[str, FieldResult] = {}
    warnings: list[str] = []
    if preset is not None:
        results.update(extract_preset(doc, preset))
    if custom:
        found = extract_custom(doc, custom)
        currency = None
        for name, result in found.items():
            spec = next(s for s in custom if s.name == name)
            if spec.type == "money" and result.value is not None and result.currency is None:
                currency = currency or detect_currency(doc.text)[0]
                result.currency = currency
            results[name] = result
    line_items = extract_line_items(doc) if preset == "invoice" else []
    if not doc.lines:
        warnings.append("The document has no text: nothing could be extracted.")
    else:
        missing = [n for n, r in results.items() if r.value is None]
        if missing:
            warnings.append(f"Not found: {', '.join(missing)}.")
        unsure = [
            n for n, r in results.items() if r.value is not None and r.confidence < LOW_CONFIDENCE
        ]
        if unsure:
            warnings.append(f"Low confidence, please check: {', '.join(unsure)}.")
    return ExtractionResult(fields=results, line_items=line_items, warnings=warnings)


def to_json(result: ExtractionResult) -> dict:
    """JSON-ready form: {"fields": {name: {value, confidence, currency?, evidence}}, ...}."""
    fields: dict[str, dict] = {}
    for name, field in result.fields.items():
        entry: dict = {"value": field.value, "confidence": field.confidence}
        if field.currency is not None:
            entry["currency"] = field.currency
        evidence = None
        if field.evidence is not None:
            evidence = asdict(field.evidence)
            evidence["box"] = list(field.evidence.box) if field.evidence.box else None
        entry["evidence"] = evidence
        fields[name] = entry
    return {
        "fields": fields,
        "line_items": [dict(item) for item in result.line_items],
        "warnings": list(result.warnings),
    }
