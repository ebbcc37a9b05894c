"""manage.py extract / classify: one JSON object per line, in the order the files were given."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from automations.engine.fields import PRESETS
from automations.models import Document, Run
from tests import files

RECEIPT = files.RECEIPT
INVOICE_TEXT = (
    "Invoice INV-2041 from ACME Supplies Ltd. Amount due: 1,234.50 EUR, "
    "payable by bank transfer within 30 days of the invoice date."
)
RECIPE_TEXT = (
    "Pancakes: whisk two eggs with 200 g flour and 300 ml milk, rest the batter, then fry "
    "thin pancakes in butter over a medium heat."
)


@pytest.fixture
def receipt_png(tmp_path) -> str:
    path = tmp_path / "receipt.png"
    path.write_bytes(files.text_image(RECEIPT))
    return str(path)


def lines(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


# --- extract ------------------------------------------------------------------------------


def test_extract_prints_one_line_per_file_and_fails_when_one_file_failed(receipt_png, tmp_path):
    missing = str(tmp_path / "missing.png")
    out = io.StringIO()

    with pytest.raises(SystemExit) as exited:
        call_command("extract", "--preset", "receipt", receipt_png, missing, stdout=out)

    assert exited.value.code == 1
    first, second = lines(out)
    assert len(out.getvalue().splitlines()) == 2
    assert list(first) == ["file", "fields"]
    assert first["file"] == receipt_png
    assert list(first["fields"]) == [spec.name for spec in PRESETS["receipt"]]
    for found in first["fields"].values():
        assert list(found) == ["value", "confidence"]
        assert 0 <= found["confidence"] <= 1
    assert first["fields"]["total"]["value"] == "7.75"
    assert first["fields"]["date"]["value"] == "2026-03-14"
    assert first["fields"]["tax"] == {"value": None, "confidence": 0.0}
    assert second == {"file": missing, "error": "No such file."}


def test_extract_exits_normally_when_every_file_succeeded(tmp_path):
    pdf = tmp_path / "invoice.pdf"
    pdf.write_bytes(
        files.text_pdf(
            ["ACME Supplies Ltd\nInvoice No: INV-2041\nDate: 12 March 2026\nTotal: 99.00 EUR"]
        )
    )
    out = io.StringIO()

    call_command("extract", "--preset", "invoice", str(pdf), stdout=out)

    [line] = lines(out)
    assert line["file"] == str(pdf)
    assert list(line["fields"]) == [spec.name for spec in PRESETS["invoice"]]
    assert line["fields"]["invoice_number"]["value"] == "INV-2041"
    assert line["fields"]["total"]["value"] == "99.00"


def test_extract_reports_a_file_it_cannot_read_and_goes_on(tmp_path, receipt_png):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01\x02 not a document \xff\xfe" * 50)
    out = io.StringIO()

    with pytest.raises(SystemExit) as exited:
        call_command("extract", "--preset", "receipt", str(junk), receipt_png, stdout=out)

    assert exited.value.code == 1
    first, second = lines(out)
    assert first == {
        "file": str(junk),
        "error": "This file type isn't supported. Please upload one of: PDF, PNG, JPEG, "
        "TIFF, Word (.docx), plain text (.txt) and e-mail (.eml) files.",
    }
    assert second["file"] == receipt_png
    assert second["fields"]["total"]["value"] == "7.75"


def test_extract_with_org_stores_a_document_with_a_succeeded_run(org, receipt_png):
    out = io.StringIO()

    call_command("extract", "--preset", "receipt", "--org", "acme", receipt_png, stdout=out)

    [line] = lines(out)
    assert line["file"] == receipt_png
    assert list(line["fields"]) == [spec.name for spec in PRESETS["receipt"]]
    assert list(line["fields"]["total"]) == ["value", "confidence"]
    assert line["fields"]["total"]["value"] == "7.75"
    document = Document.objects.get()
    assert document.organization == org
    assert document.original_name == "receipt.png"
    assert document.source == Document.Source.API
    run = document.runs.get()
    assert run.status == Run.Status.SUCCEEDED
    assert run.trigger == Run.Trigger.API
    assert run.output_of("extract_fields")["fields"]["date"]["value"] == "2026-03-14"


def test_extract_with_an_unknown_org_is_refused_and_stores_nothing(db, receipt_png):
    out = io.StringIO()

    with pytest.raises(CommandError) as refused:
        call_command("extract", "--preset", "receipt", "--org", "nope", receipt_png, stdout=out)

    assert str(refused.value) == "There is no organization with the slug 'nope'."
    assert out.getvalue() == ""
    assert Document.objects.count() == 0
    assert Run.objects.count() == 0


# --- classify -----------------------------------------------------------------------------


def test_classify_prints_label_and_score_per_file(tmp_path):
    invoice = tmp_path / "invoice.txt"
    invoice.write_text(INVOICE_TEXT)
    recipe = tmp_path / "recipe.txt"
    recipe.write_text(RECIPE_TEXT)
    out = io.StringIO()

    call_command("classify", "--labels", "invoice, recipe", str(invoice), str(recipe), stdout=out)

    first, second = lines(out)
    assert list(first) == ["file", "label", "score"]
    assert first["file"] == str(invoice)
    assert first["label"] == "invoice"
    assert second["file"] == str(recipe)
    assert second["label"] == "recipe"
    for line in (first, second):
        assert 0.25 <= line["score"] <= 1


def test_classify_with_a_model_that_is_not_a_classifier_is_refused(tmp_path):
    text = tmp_path / "a.txt"
    text.write_text(INVOICE_TEXT)
    out = io.StringIO()

    with pytest.raises(CommandError) as refused:
        call_command(
            "classify", "--labels", "a,b", "--model", "receipt-extractor", str(text), stdout=out
        )

    assert str(refused.value) == (
        "'receipt-extractor' is not a classifier; "
        "choose one of: minilm-classifier, banking77-intents."
    )
    assert out.getvalue() == ""
