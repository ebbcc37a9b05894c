"""The data the fields engine takes and returns."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from catalog.runtime.ocr import OcrLine

__all__ = [
    "FIELD_TYPES",
    "Evidence",
    "ExtractionResult",
    "FieldResult",
    "FieldSpec",
    "FieldSpecError",
    "PageText",
    "parse_field_specs",
]

FIELD_TYPES = ("text", "date", "money", "number", "email", "phone", "iban")
_NAME = re.compile(r"[a-z0-9_]+")
MAX_NAME_LENGTH = 64


class FieldSpecError(ValueError):
    """A field definition is wrong; ``str(exc)`` is a message for the person who wrote it."""


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str = "text"
    description: str = ""


@dataclass
class PageText:
    number: int  # 1-based
    text: str
    lines: list[OcrLine] = field(default_factory=list)  # OCR lines with boxes, if OCR'd
    width: int | None = None  # size of the image the boxes refer to
    height: int | None = None


@dataclass
class Evidence:
    page: int
    start: int  # character offsets into that page's text
    end: int
    text: str
    box: tuple[int, int, int, int] | None  # union of the OCR line boxes the span covers


@dataclass
class FieldResult:
    value: str | None
    confidence: float
    evidence: Evidence | None
    currency: str | None = None


@dataclass
class ExtractionResult:
    fields: dict[str, FieldResult]
    line_items: list[dict]
    warnings: list[str]


def _types_text() -> str:
    return ", ".join(FIELD_TYPES)


def parse_field_specs(raw: list[dict]) -> list[FieldSpec]:
    """Validate field definitions such as ``[{"name": "po_number", "type": "text"}]``.

    Names are required, unique and slug-like (lower-case letters, digits, ``_``); the type
    defaults to "text" and must be one of :data:`FIELD_TYPES`.
    """
    if not isinstance(raw, list):
        raise FieldSpecError("Fields must be a list of {name, type, description} entries.")
    specs: list[FieldSpec] = []
    seen: set[str] = set()
    for position, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            raise FieldSpecError(f"Field {position}: expected a name, a type and a description.")
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            raise FieldSpecError(f"Field {position}: the name is missing.")
        name = name.strip()
        if not _NAME.fullmatch(name) or len(name) > MAX_NAME_LENGTH:
            raise FieldSpecError(
                f"Field '{name}': use only lower-case letters, digits and _ in the name "
                f"(for example 'po_number'), at most {MAX_NAME_LENGTH} characters."
            )
        if name in seen:
            raise FieldSpecError(f"Field '{name}' is defined twice; names must be unique.")
        seen.add(name)
        kind = item.get("type") or "text"
        if not isinstance(kind, str) or kind.strip().lower() not in FIELD_TYPES:
            raise FieldSpecError(
                f"Field '{name}': unknown type '{kind}'; use one of {_types_text()}."
            )
        description = item.get("description") or ""
        if not isinstance(description, str):
            raise FieldSpecError(f"Field '{name}': the description must be text.")
        specs.append(FieldSpec(name=name, type=kind.strip().lower(), description=description))
    return specs
