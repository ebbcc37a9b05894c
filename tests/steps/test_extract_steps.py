"""extract_text and extract_fields as pipeline steps, in memory (no database)."""

from __future__ import annotations

from pathlib import Path

import pytest

from automations.engine.fields import PRESETS, PageText
from automations.engine.pipeline import MemoryStore, parse_pipeline, run_pipeline
from automations.engine.steps import DocumentInfo, StepConfigError, StepContext, get_step
from catalog.runtime.ocr import tesseract_available
from tests import files

RECEIPT = files.RECEIPT
INVOICE_TEXT = (
    "ACME Supplies Ltd\n1 Harbour Road, Berlin\nInvoice No: INV-2041\n"
    "Date: 12 March 2026\nWidget 1,234.50\nTotal: 1,234.50 EUR"
)


def read(path: Path, config: dict | None = None, *more: dict) -> tuple[str | None, dict, list]:
    """Run extract_text (and `more` steps) over a file: (error, results, pages)."""
    steps = parse_pipeline([{"id": "text", "step": "extract_text", "config": config or {}}, *more])
    context = StepContext(document=DocumentInfo(name=path.name, kind="txt", path=str(path)))
    store = MemoryStore()
    error = run_pipeline(steps, context, store)
    return error, store.results, context.pages


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --- extract_text -------------------------------------------------------------------------


def test_extract_text_reads_the_text_layer_of_every_pdf_page(tmp_path):
    pdf = write(
        tmp_path,
        "letter.pdf",
        files.text_pdf(
            [
                "Invoice 4721 from Acme Supplies Ltd, payable within thirty days.",
                "Second page: thank you for your business with us.",
            ]
        ),
    )

    error, results, pages = read(pdf)

    assert error is None
    assert results["text"] == {
        "pages": 2,
        "characters": 96,
        "kind": "pdf",
        "ocr_engine": None,
        "ocr_confidence": None,
        "language": {"language": "en", "script": "Latin", "confidence": 1.0},
    }
    assert [(p.number, p.text) for p in pages] == [
        (1, "Invoice 4721 from Acme Supplies Ltd, payable within thirty days."),
        (2, "Second page: thank you for your business with us."),
    ]


@pytest.mark.parametrize("engine", ["rapidocr", "tesseract"])
def test_extract_text_reads_an_image_with_ocr_and_reports_the_engine_and_confidence(
    tmp_path, engine
):
    if engine == "tesseract" and not tesseract_available():
        pytest.skip("Tesseract is not installed")
    png = write(tmp_path, "receipt.png", files.text_image(RECEIPT))

    error, results, pages = read(png, {"ocr_engine": engine})

    assert error is None
    out = results["text"]
    assert out["pages"] == 1
    assert out["kind"] == "png"
    assert out["ocr_engine"] == engine
    assert 0.8 <= out["ocr_confidence"] <= 1.0
    assert out["language"] == {"language": "en", "script": "Latin", "confidence": 1.0}
    assert out["characters"] == len("".join("".join(RECEIPT).split()))
    assert pages[0].text.splitlines() == RECEIPT
    assert [line.text for line in pages[0].lines] == RECEIPT
    assert (pages[0].width, pages[0].height) == (1400, 80 + 6 * int(48 * 1.8))


def test_extract_text_reads_a_plain_text_file(tmp_path):
    txt = write(tmp_path, "note.txt", b"Dear Sir, please find attached the invoice for last month.")

    error, results, pages = read(txt)

    assert error is None
    assert results["text"] == {
        "pages": 1,
        "characters": 49,
        "kind": "txt",
        "ocr_engine": None,
        "ocr_confidence": None,
        "language": {"language": "en", "script": "Latin", "confidence": 1.0},
    }
    assert pages[0].text == "Dear Sir, please find attached the invoice for last month."


@pytest.mark.parametrize(
    ("text", "language", "script"),
    [
        (
            "Уважаемый клиент, пожалуйста, оплатите счёт до конца месяца. "
            "Спасибо за сотрудничество.",
            "ru",
            "Cyrillic",
        ),
        (
            "عزيزي العميل، يرجى دفع الفاتورة قبل نهاية الشهر. شكرا لتعاونكم معنا.",
            "ar",
            "Arabic",
        ),
    ],
)
def test_extract_text_says_which_language_a_non_latin_text_is_in(tmp_path, text, language, script):
    txt = write(tmp_path, "letter.txt", text.encode())

    error, results, pages = read(txt)

    assert error is None
    assert results["text"]["language"]["language"] == language
    assert results["text"]["language"]["script"] == script
    assert results["text"]["language"]["confidence"] >= 0.9
    assert pages[0].text == text


def test_extract_text_refuses_a_pdf_over_max_pages_with_the_numbers(tmp_path):
    pdf = write(tmp_path, "long.pdf", files.text_pdf(["one", "two", "three"]))

    error, results, pages = read(pdf, {"max_pages": 2})

    assert error == (
        "This document has 3 pages, but the limit is 2 pages. "
        "Split it into smaller files and upload them separately."
    )
    assert results == {}
    assert pages == []


def test_extract_text_fails_on_a_blank_image_with_advice(tmp_path):
    png = write(tmp_path, "blank.png", files.blank_image())

    error, results, _ = read(png)

    assert error is not None
    assert error.startswith("No text was found in this document.")
    assert results == {}


# --- extract_fields -----------------------------------------------------------------------


def test_receipt_preset_on_a_photographed_receipt_gives_total_and_date_normalised(tmp_path):
    png = write(tmp_path, "receipt.png", files.text_image(RECEIPT))

    error, results, _ = read(
        png, {}, {"id": "fields", "step": "extract_fields", "config": {"preset": "receipt"}}
    )

    assert error is None
    fields = results["fields"]["fields"]
    assert list(fields) == [spec.name for spec in PRESETS["receipt"]]
    assert fields["total"]["value"] == "7.75"
    assert fields["total"]["currency"] == "GBP"
    assert fields["date"]["value"] == "2026-03-14"
    assert fields["vendor"]["value"] == "CORNER CAFE"
    assert fields["tax"] == {"value": None, "confidence": 0.0, "evidence": None}
    # Read by OCR: the evidence says where on the page.
    assert fields["total"]["evidence"]["page"] == 1
    assert len(fields["total"]["evidence"]["box"]) == 4
    assert results["fields"]["preset"] == "receipt"
    assert results["fields"]["warnings"] == ["Not found: tax."]


def fields_context(text: str, outputs: dict) -> StepContext:
    return StepContext(
        document=DocumentInfo(name="doc.txt", kind="txt"),
        pages=[PageText(1, text)],
        outputs=outputs,
    )


def test_auto_preset_follows_an_earlier_classify_that_said_invoice():
    [spec] = parse_pipeline([{"step": "extract_fields", "config": {"preset": "auto"}}])
    context = fields_context(INVOICE_TEXT, {"kind": {"label": "invoice", "score": 0.61}})

    outcome = get_step("extract_fields").run(context, spec.config)

    assert outcome.output["preset"] == "invoice"
    fields = outcome.output["fields"]
    assert list(fields) == [spec.name for spec in PRESETS["invoice"]]
    assert fields["invoice_number"]["value"] == "INV-2041"
    assert fields["date"]["value"] == "2026-03-12"
    assert fields["total"]["value"] == "1234.50"
    assert fields["total"]["currency"] == "EUR"


def test_auto_preset_skips_a_document_classified_as_a_letter():
    [spec] = parse_pipeline([{"step": "extract_fields", "config": {"preset": "auto"}}])
    context = fields_context(
        "Dear Anna, thank you for the lovely weekend.", {"kind": {"label": "letter"}}
    )

    outcome = get_step("extract_fields").run(context, spec.config)

    assert outcome.output == {
        "skipped": "The document is neither an invoice nor a receipt.",
        "fields": {},
    }
    assert outcome.warnings == []


def test_auto_preset_in_a_pipeline_after_classify_uses_the_invoice_preset(tmp_path):
    txt = write(tmp_path, "invoice.txt", INVOICE_TEXT.encode())

    error, results, _ = read(
        txt,
        {},
        {"id": "kind", "step": "classify", "config": {"labels": ["invoice", "recipe"]}},
        {"id": "fields", "step": "extract_fields", "config": {"preset": "auto"}},
    )

    assert error is None
    assert results["kind"]["label"] == "invoice"
    assert results["fields"]["preset"] == "invoice"
    assert results["fields"]["fields"]["invoice_number"]["value"] == "INV-2041"


def test_a_custom_field_of_an_unknown_type_is_refused_when_the_pipeline_is_parsed():
    with pytest.raises(StepConfigError) as refused:
        parse_pipeline(
            [
                {"step": "extract_text"},
                {
                    "step": "extract_fields",
                    "config": {"fields": [{"name": "po_number", "type": "colour"}]},
                },
            ]
        )

    assert str(refused.value) == (
        "Extract fields: Field 'po_number': unknown type 'colour'; "
        "use one of text, date, money, number, email, phone, iban."
    )
