"""The pages a run reads: stored as Page rows (with their pictures) and loaded back as the
engine's PageText."""

from __future__ import annotations

import io

from django.core.files.base import ContentFile
from django.db import transaction

from automations.engine.extract import PageResult
from automations.engine.fields import PageText
from automations.models import Document, Page
from catalog.runtime.ocr import OcrLine


def load_pages(document: Document) -> list[PageText]:
    return [page_text(page) for page in document.pages.all()]


def pages_of(document_ids: list[int]) -> dict[int, list[Page]]:
    """The stored pages of several documents, in one query (each document's are read back
    with page_text by its run, so that one whose rows cannot be read fails alone)."""
    pages: dict[int, list[Page]] = {}
    for page in Page.objects.filter(document__in=document_ids).order_by("document", "number"):
        pages.setdefault(page.document_id, []).append(page)
    return pages


def page_text(page: Page) -> PageText:
    return PageText(
        number=page.number,
        text=page.text,
        lines=[OcrLine(ln["text"], ln["confidence"], tuple(ln["box"])) for ln in page.lines],
        width=page.width,
        height=page.height,
    )


def page_fields(result: PageResult) -> dict:
    return {
        "text": result.text,
        "method": result.method,
        "ocr_confidence": result.confidence,
        "lines": [
            {"text": ln.text, "confidence": round(ln.confidence, 4), "box": list(ln.box)}
            for ln in result.lines
        ],
    }


def save_page(document: Document, result: PageResult, *, exists: bool = True) -> Page:
    fields = page_fields(result)
    with transaction.atomic():
        if exists:  # a step run again after a lost worker: that page is read again
            page, _ = Page.objects.update_or_create(
                document=document, number=result.number, defaults=fields
            )
        else:
            page = Page.objects.create(document=document, number=result.number, **fields)
        if result.image is not None:
            buffer = io.BytesIO()
            result.image.convert("RGB").save(buffer, "JPEG", quality=85, optimize=True)
            if page.image:
                page.image.delete(save=False)
            page.image.save(f"{result.number}.jpg", ContentFile(buffer.getvalue()), save=False)
            page.width, page.height = result.image.size
            page.save(update_fields=["image", "width", "height"])
    return page
