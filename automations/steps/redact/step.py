"""The redact step: its settings, and a run that redacts the text and the pages and saves
the copies a person can share."""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

from automations.engine.steps import StepConfigError, StepContext, StepOutcome, register
from automations.steps._common import ValidatingStep
from automations.steps.redact.detectors import ALL_KINDS, BUILTIN_KINDS, Match, find_matches
from automations.steps.redact.images import page_image_artifacts
from automations.steps.redact.lines import redacted_page
from automations.steps.redact.patterns import (
    MAX_PATTERN_LENGTH,
    MAX_PATTERNS,
    Patterns,
    compile_patterns,
)
from automations.steps.redact.pdf import redacted_pdf
from automations.steps.redact.text import text_output


@register
class RedactStep(ValidatingStep):
    name: ClassVar[str] = "redact"
    kind: ClassVar[str] = "transform"
    label: ClassVar[str] = "Redact"
    description: ClassVar[str] = (
        "Blacks out e-mail addresses, phone numbers, IBANs, card numbers and your own "
        "patterns, in the text and in a shareable image-only copy of the document."
    )
    output_hints: ClassVar[list[str]] = [
        "counts.email",
        "counts.phone",
        "counts.iban",
        "counts.card",
        "text_by_page.1",
    ]
    config_schema: ClassVar[dict] = {
        "type": "object",
        "properties": {
            "kinds": {
                "type": "array",
                "items": {"enum": list(ALL_KINDS)},
                "uniqueItems": True,
                "default": list(BUILTIN_KINDS),
            },
            "patterns": {
                "type": "array",
                "maxItems": MAX_PATTERNS,
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string", "minLength": 1, "maxLength": 50},
                        "regex": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": MAX_PATTERN_LENGTH,
                        },
                    },
                    "required": ["name", "regex"],
                    "additionalProperties": False,
                },
                "default": [],
            },
            "replacement": {"type": "string", "minLength": 1, "maxLength": 50, "default": "█"},
        },
        "additionalProperties": False,
    }

    @classmethod
    def check(cls, config: dict) -> None:
        if "custom" in config["kinds"] and not config["patterns"]:
            raise StepConfigError("Redact: patterns: add a pattern for the 'custom' kind.")
        compile_patterns(config["patterns"])

    def run(self, context: StepContext, config: dict) -> StepOutcome:
        config = self.validate(config)
        # Custom patterns apply whenever there are some: writing one is the intent.
        patterns = compile_patterns(config["patterns"])
        kinds = [k for k in config["kinds"] if k in BUILTIN_KINDS]
        by_page = {
            page.number: find_matches(page.text or "", kinds, patterns) for page in context.pages
        }
        output = text_output(context.pages, by_page, config["replacement"])
        warnings: list[str] = []
        output["artifacts"] = _artifacts(context, by_page, kinds, patterns, warnings)
        pages = [
            redacted_page(p, by_page[p.number], kinds, patterns, config["replacement"])
            for p in context.pages
        ]
        return StepOutcome(output=output, warnings=warnings, pages=pages)


def _artifacts(
    context: StepContext,
    by_page: dict[int, list[Match]],
    kinds: list[str],
    patterns: Patterns,
    warnings: list[str],
) -> list[dict]:
    """The shareable copies: an image-only PDF for a PDF, redacted pictures for pages read
    by OCR; none for a document with neither."""
    save = context.services.save_artifact
    is_pdf = context.document.kind == "pdf"
    has_lines = any(page.lines for page in context.pages)
    if not is_pdf and not has_lines:
        return []
    stem = _safe_stem(context.document.name)
    if is_pdf:
        if not context.document.path:
            warnings.append("No redacted PDF was made: the original file is not available.")
            return []
        data = redacted_pdf(context.document.path, context.pages, by_page, kinds, patterns)
        ref = save(f"{stem}-redacted.pdf", data, "application/pdf")
        return [{"name": f"{stem}-redacted.pdf", "content_type": "application/pdf", "ref": ref}]
    return page_image_artifacts(context, by_page, kinds, patterns, stem, warnings)


def _safe_stem(name: str) -> str:
    """The document's name without its extension, safe in a file name (at most 80 characters)."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(name or "document").stem).strip("-.")
    return stem[:80] or "document"
