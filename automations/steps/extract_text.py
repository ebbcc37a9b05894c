"""extract_text: the text of every page, with OCR confidence and the detected language."""

from __future__ import annotations

from typing import ClassVar

from automations.engine.extract import ExtractionError, iter_pages
from automations.engine.fields import PageText
from automations.engine.filetypes import FileRejected, inspect_file
from automations.engine.steps import StepContext, StepFailed, StepOutcome, register
from catalog.runtime.language import detect_language

NO_TEXT = (
    "No text was found in this document. If it is a scan or a photo, check that it is "
    "sharp, upright and not blank, then upload it again."
)


@register
class ExtractText:
    name: ClassVar[str] = "extract_text"
    kind: ClassVar[str] = "read"
    label: ClassVar[str] = "Read text"
    description: ClassVar[str] = (
        "Reads every page: the PDF text layer where there is one, OCR for scans and photos, "
        "Word documents and mail. Gives the text per page, OCR confidence and language."
    )
    output_hints: ClassVar[list[str]] = [
        "pages",
        "characters",
        "kind",
        "ocr_engine",
        "ocr_confidence",
        "language.language",
    ]
    config_schema: ClassVar[dict] = {
        "type": "object",
        "properties": {
            "ocr_engine": {
                "type": "string",
                "enum": ["default", "auto", "tesseract", "rapidocr"],
                "default": "default",
                "title": "OCR engine",
                "description": "default: the deployment's choice (PYQ_OCR_ENGINE); auto: "
                "Tesseract when installed, else RapidOCR.",
            },
            "ocr_dpi": {"type": "integer", "minimum": 72, "maximum": 600, "default": 300},
            "max_pages": {"type": "integer", "minimum": 1, "default": 500},
        },
        "additionalProperties": False,
    }

    def run(self, context: StepContext, config: dict) -> StepOutcome:
        services = context.services
        document = context.document
        if not document.path:
            raise StepFailed("There is no file to read.")
        try:
            limit = min(config["max_pages"], services.max_pages)
            bounds = services.input_limits
            inspection = inspect_file(document.path, max_pages=limit, limits=bounds)
            document.kind = inspection.kind.kind  # callers without a database guess "txt"
            if inspection.kind.kind == "eml":
                services.ingest_attachments(document.path)
            ocr = services.ocr(config["ocr_engine"])
            for page in iter_pages(
                document.path,
                inspection.kind,
                ocr,
                start=services.pages_done() + 1,
                ocr_dpi=config["ocr_dpi"],
                limits=bounds,
            ):
                services.store_page(page)
        except (FileRejected, ExtractionError) as exc:
            raise StepFailed(str(exc)) from exc
        pages = services.load_pages()
        return StepOutcome(summarize_pages(pages, inspection.kind.kind, ocr.name), pages=pages)


def summarize_pages(pages: list[PageText], kind: str, ocr_name: str) -> dict:
    text = "\n".join(page.text for page in pages)
    characters = len("".join(text.split()))
    if characters == 0:
        raise StepFailed(NO_TEXT)
    lines = [line for page in pages for line in page.lines if line.text]
    weight = sum(len(line.text) for line in lines)
    confidence = (
        sum(line.confidence * len(line.text) for line in lines) / weight if weight else None
    )
    return {
        "pages": len(pages),
        "characters": characters,
        "kind": kind,
        "ocr_engine": ocr_name if lines else None,
        "ocr_confidence": None if confidence is None else round(confidence, 3),
        "language": detect_language(text),
    }
