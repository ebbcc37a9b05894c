"""The model catalog pages and the playground ("Try it"), run through Celery in eager mode."""

from __future__ import annotations

import random
import re

import pytest
from django.conf import settings
from django.shortcuts import resolve_url
from django.test import Client
from django.utils.html import escape

from automations.engine.filetypes import ACCEPTED_TYPES_TEXT
from catalog.concurrency import model_slot
from catalog.registry import BY_SLUG, MODELS
from tests import bombs, files
from tests.automations.helpers import stored_files, upload

INVOICE_TEXT = (
    "Invoice INV-2041 from ACME Supplies Ltd. Amount due: 1,234.50 EUR, "
    "payable by bank transfer within 30 days of the invoice date."
)
RECEIPT = files.RECEIPT
PARTIAL_START = '<div class="card result">'
EITHER = "Paste some text or choose a file (one of the two)."


def detail_url(slug: str) -> str:
    return f"/catalog/{slug}/"


def try_url(slug: str) -> str:
    return f"/catalog/{slug}/try/"


@pytest.fixture
def predictions(monkeypatch, eager) -> list[dict]:
    """The calls that reached the model (catalog.tasks.predict), with their arguments."""
    import catalog.tasks

    calls: list[dict] = []
    real = catalog.tasks.predict

    def spy(slug, data, **kwargs):
        calls.append({"slug": slug, "text": data.text, "file": data.file_path})
        return real(slug, data, **kwargs)

    monkeypatch.setattr(catalog.tasks, "predict", spy)
    return calls


def form_html(html: str) -> str:
    start = html.index('<section class="card playground"')
    return html[start : html.index("</form>", start)]


def result_html(html: str) -> str:
    return html[html.index('<section id="result"') :]


# --- Pages --------------------------------------------------------------------------------


def test_the_list_page_shows_every_model_in_the_registry(member):
    response = member.client.get("/catalog/")

    assert response.status_code == 200
    html = response.content.decode()
    for model in MODELS:
        assert f'<a href="{detail_url(model.slug)}">{escape(model.name)}</a>' in html
        assert f'href="{detail_url(model.slug)}#try"' in html
        assert escape(model.summary) in html
    assert html.count('<article class="card">') == len(MODELS) == 6


@pytest.mark.parametrize("slug", [model.slug for model in MODELS])
def test_the_detail_page_shows_the_model_card_and_the_playground(member, slug):
    model = BY_SLUG[slug]

    response = member.client.get(detail_url(slug))

    assert response.status_code == 200
    html = response.content.decode()
    assert f"<h1>{escape(model.name)}</h1>" in html
    assert f"<dt>License</dt><dd>{escape(model.license)}</dd>" in html
    assert f"<dt>Languages</dt><dd>{escape(model.languages)}</dd>" in html
    assert f"<dt>Pipeline step</dt><dd><code>{model.step}</code></dd>" in html
    assert f"<code>POST /api/v1/models/{slug}/predict</code>" in html
    form = form_html(html)
    assert f'action="{try_url(slug)}"' in form
    assert 'enctype="multipart/form-data"' in form
    assert 'name="text"' in form
    assert 'type="file" name="file"' in form
    # Zero-shot asks for labels; a trained classifier brings its own.
    assert ('name="labels"' in form) == (model.slug == "minilm-classifier")
    assert ('name="fields"' in form) == (model.step == "extract_fields")
    assert ('name="sentences"' in form) == (model.step == "summarize")
    assert '<section id="result" aria-live="polite"></section>' in html


def test_the_classifier_playground_suggests_labels(member):
    html = member.client.get(detail_url("minilm-classifier")).content.decode()

    assert (
        "invoice: a bill asking for payment\nreceipt: proof of a purchase paid</textarea>" in html
    )


# --- Trying a model -----------------------------------------------------------------------


def test_try_the_classifier_on_an_invoice_text(member, predictions):
    response = member.client.post(
        try_url("minilm-classifier"), {"text": INVOICE_TEXT, "labels": "invoice\nrecipe"}
    )

    assert response.status_code == 200
    result = result_html(response.content.decode())
    assert '<p class="big">invoice <span class="muted">score ' in result
    rows = re.findall(r"<tr><td>(\w+)</td><td><meter", result)
    assert rows == ["invoice", "recipe"]
    assert predictions == [{"slug": "minilm-classifier", "text": INVOICE_TEXT, "file": None}]


def test_try_with_htmx_returns_only_the_result_partial(member, predictions):
    response = member.client.post(
        try_url("minilm-classifier"),
        {"text": INVOICE_TEXT, "labels": "invoice\nrecipe"},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert html.strip().startswith(PARTIAL_START)
    assert "<html" not in html
    assert "<form" not in html
    assert '<p class="big">invoice <span class="muted">score ' in html


def test_try_the_receipt_extractor_on_a_photo_shows_fields_and_where_they_are(member, predictions):
    response = member.client.post(
        try_url("receipt-extractor"),
        {"file": upload("receipt.png", files.text_image(RECEIPT), "image/png")},
    )

    assert response.status_code == 200
    result = result_html(response.content.decode())
    assert "<td>total</td><td><strong>7.75</strong> GBP</td>" in result
    assert "<td>date</td><td><strong>2026-03-14</strong></td>" in result
    assert '<img src="data:image/jpeg;base64,' in result
    assert 'alt="Page 1" width="1400"' in result
    boxes = re.findall(r'<span class="box" data-box="[^"]+" title="(\w+): ([^"]+)">', result)
    assert ("total", "7.75") in boxes
    assert ("date", "2026-03-14") in boxes
    # The staged upload is gone once the model answered.
    assert stored_files() == []
    assert [call["slug"] for call in predictions] == ["receipt-extractor"]


def test_try_the_redactor_on_a_pdf_shows_counts_and_a_download(member, predictions):
    pdf = files.text_pdf(["Contact: jane.roe@example.com", "Phone: +44 20 7946 0958"])

    response = member.client.post(
        try_url("pii-redactor"), {"file": upload("contact.pdf", pdf, "application/pdf")}
    )

    assert response.status_code == 200
    result = result_html(response.content.decode())
    assert "<p>1 email, 1 phone</p>" in result
    assert "jane.roe@example.com" not in result
    assert "Contact: " + "█" * len("jane.roe@example.com") in result
    assert (
        '<a class="btn" download="contact-redacted.pdf" href="data:application/pdf;base64,'
        in result
    )
    assert stored_files() == []


def test_try_the_redactor_on_text_shows_counts(member, predictions):
    response = member.client.post(
        try_url("pii-redactor"), {"text": "Mail jane.roe@example.com or jon@example.org today."}
    )

    assert response.status_code == 200
    result = result_html(response.content.decode())
    assert "<p>2 email</p>" in result
    assert "Mail " + "█" * 20 + " or " + "█" * 15 + " today." in result


# --- Bad input: 400, the message where the person looks, nothing run --------------------


def test_neither_text_nor_file_is_refused_next_to_the_form(member, predictions):
    response = member.client.post(try_url("minilm-classifier"), {"labels": "invoice\nrecipe"})

    assert response.status_code == 400
    form = form_html(response.content.decode())
    assert f'<ul class="errorlist" role="alert"><li>{escape(EITHER)}</li></ul>' in form
    assert predictions == []


def test_both_text_and_file_are_refused(member, predictions):
    response = member.client.post(
        try_url("receipt-extractor"),
        {"text": "TOTAL 7.75", "file": upload("receipt.png", files.text_image(RECEIPT))},
    )

    assert response.status_code == 400
    form = form_html(response.content.decode())
    assert f'<ul class="errorlist" role="alert"><li>{escape(EITHER)}</li></ul>' in form
    assert predictions == []
    assert stored_files() == []


def test_empty_labels_are_refused(member, predictions):
    response = member.client.post(
        try_url("minilm-classifier"), {"text": INVOICE_TEXT, "labels": " \n  \n"}
    )

    assert response.status_code == 400
    form = form_html(response.content.decode())
    assert '<ul class="errorlist" role="alert"><li>Name at least one label.</li></ul>' in form
    assert predictions == []


def test_duplicate_labels_are_refused_with_the_step_message(member, predictions):
    response = member.client.post(
        try_url("minilm-classifier"), {"text": INVOICE_TEXT, "labels": "invoice\nInvoice"}
    )

    assert response.status_code == 400
    message = "Classify: labels: 'Invoice' is listed twice (labels are compared without case)."
    assert f'<p class="error" role="alert">{escape(message)}</p>' in result_html(
        response.content.decode()
    )
    assert '<p class="big">' not in response.content.decode()


def test_a_file_of_random_bytes_is_refused_naming_the_accepted_types(member, predictions):
    junk = random.Random(7).randbytes(4096)

    response = member.client.post(try_url("receipt-extractor"), {"file": upload("blob.bin", junk)})

    assert response.status_code == 400
    message = (
        f"blob.bin: This file type isn't supported. Please upload one of: {ACCEPTED_TYPES_TEXT}."
    )
    assert f'<p class="error" role="alert">{escape(message)}</p>' in result_html(
        response.content.decode()
    )
    assert predictions == []
    assert stored_files() == []


def test_a_form_error_reaches_an_htmx_user(member, predictions):
    response = member.client.post(
        try_url("minilm-classifier"),
        {"labels": "invoice\nrecipe"},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 400
    assert escape(EITHER) in response.content.decode()


# --- Who may try --------------------------------------------------------------------------


def test_a_viewer_may_look_but_not_try(viewer, predictions):
    assert viewer.client.get(detail_url("receipt-extractor")).status_code == 200

    response = viewer.client.post(
        try_url("receipt-extractor"), {"file": upload("receipt.png", files.text_image(RECEIPT))}
    )

    assert response.status_code == 403
    assert predictions == []
    assert stored_files() == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/catalog/"),
        ("get", detail_url("minilm-classifier")),
        ("post", try_url("minilm-classifier")),
    ],
)
def test_an_anonymous_visitor_is_sent_to_log_in(db, predictions, method, path):
    client = Client()
    if method == "post":
        response = client.post(path, {"text": INVOICE_TEXT, "labels": "invoice"})
    else:
        response = client.get(path)

    assert response.status_code == 302
    assert response["Location"] == f"{resolve_url(settings.LOGIN_URL)}?next={path}"
    assert predictions == []


@pytest.mark.parametrize(
    ("method", "path"), [("get", "/catalog/nope/"), ("post", "/catalog/nope/try/")]
)
def test_an_unknown_model_is_not_found(member, predictions, method, path):
    if method == "post":
        response = member.client.post(path, {"text": INVOICE_TEXT})
    else:
        response = member.client.get(path)

    assert response.status_code == 404
    assert predictions == []


def test_a_file_is_tried_within_the_deployments_unpacking_limits(member, predictions, settings):
    # A DOCX well within the built-in limits, but over an operator's lower XML-element limit.
    settings.PYQ_MAX_XML_ELEMENTS = 1000
    docx = bombs.docx_paragraphs(2000)

    response = member.client.post(
        try_url("minilm-summarizer"), {"file": upload("notes.docx", docx)}
    )

    assert response.status_code == 400
    assert "notes.docx: This Word document is too large when unpacked" in result_html(
        response.content.decode()
    )
    assert predictions == []
    assert stored_files() == []


def test_the_playground_shares_the_organizations_model_call_slots(
    member, outsider, predictions, settings
):
    settings.PYQ_ORG_MAX_PREDICT = 1
    with model_slot(member.org) as free:  # a predict API call of the organization is running
        assert free is True

        refused = member.client.post(try_url("pii-redactor"), {"text": "Call 0161 496 0000"})
        other = outsider.client.post(try_url("pii-redactor"), {"text": "Call 0161 496 0000"})

    assert refused.status_code == 429
    message = (
        "Your organization already has 1 model call running, the most at once. "
        "Try again in a few seconds."
    )
    assert f'<p class="error" role="alert">{escape(message)}</p>' in result_html(
        refused.content.decode()
    )
    assert other.status_code == 200
    assert [call["text"] for call in predictions] == ["Call 0161 496 0000"]
    # Once the call finished its slot is free again
    assert member.client.post(try_url("pii-redactor"), {"text": "x@y.com"}).status_code == 200
