"""Redact's pictures: black boxes painted over the matched parts of OCR lines, and a
redacted copy of each page picture a person can share."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import Any

from automations.engine.steps import StepContext
from automations.steps.redact.detectors import Match
from automations.steps.redact.lines import ocr_boxes
from automations.steps.redact.patterns import Patterns

BOX = (0, 0, 0)


def page_image_artifacts(
    context: StepContext,
    by_page: dict[int, list[Match]],
    kinds: Sequence[str],
    patterns: Patterns,
    stem: str,
    warnings: list[str],
) -> list[dict]:
    """A PNG of each page that has OCR lines, with its matches blacked out, saved through
    the services; a page without a picture is a warning."""
    page_image = context.services.page_image
    save = context.services.save_artifact
    artifacts = []
    for page in context.pages:
        if not page.lines:
            continue
        image = page_image(page.number)
        if image is None:
            warnings.append(f"Page {page.number}: no image to redact.")
            continue
        image = image.convert("RGB")
        paint(image, ocr_boxes(page, by_page[page.number], kinds, patterns, image.size))
        name = f"{stem}-page-{page.number}-redacted.png"
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        ref = save(name, buffer.getvalue(), "image/png")
        artifacts.append({"name": name, "content_type": "image/png", "ref": ref})
    return artifacts


def paint(image: Any, boxes: Iterable[tuple[float, float, float, float]]) -> None:
    """Fill each (left, top, right, bottom) box of ``image`` (a PIL image) with black."""
    from PIL import ImageDraw

    draw = ImageDraw.Draw(image)
    for x0, y0, x1, y1 in boxes:
        draw.rectangle((round(x0), round(y0), round(x1), round(y1)), fill=BOX)
