"""GET /api/v1/models and POST /api/v1/models/<slug>/predict, run through Celery eagerly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from catalog.registry import MODELS
from tests import files
from tests.automations.helpers import stored_files, upload

MODELS_URL = "/api/v1/models"
INVOICE_TEXT = (
    "Invoice INV-2041 from ACME Supplies Ltd. Amount due: 1,234.50 EUR, "
    "payable by bank transfer within 30 days of the invoice date."
)
RECEIPT_TEXT = (
    "CORNER CAFE\n12 High Street, London\nDate: 14/03/2026\nCoffee 3.50\nCake 4.25\nTOTAL 7.75 GBP"
)
SUMMARY_TEXT = (
    "The cat sat on the mat all day long. Dogs bark at the mailman every morning. "
    "The quarterly revenue grew by ten percent this year. Our profits rose sharply in the "
    "third quarter. Revenue and profit both increased strongly."
)
INVOICE_PDF_LINES = [
    "ACME Supplies Ltd",
    "1 Harbour Road, Berlin",
    "Invoice No: INV-2041",
    "Date: 12 March 2026",
    "Widget 1,234.50",
    "Total: 1,234.50 EUR",
]


def predict_url(slug: str) -> str:
    return f"/api/v1/models/{slug}/predict"


@pytest.fixture
def predictions(monkeypatch, eager) -> list[dict]:
    """The calls that reached the model, and the staged file each one read."""
    import catalog.tasks

    calls: list[dict] = []
    real_predict, real_copy = catalog.tasks.predict, catalog.tasks._local_copy

    def predict_spy(slug, data, **kwargs):
        calls.append({"slug": slug, "text": data.text, "options": data.options})
        return real_predict(slug, data, **kwargs)

    def copy_spy(name: str) -> str:
        calls.append({"staged": name, "existed": Path(settings.MEDIA_ROOT, name).is_file()})
        return real_copy(name)

    monkeypatch.setattr(catalog.tasks, "predict", predict_spy)
    monkeypatch.setattr(catalog.tasks, "_local_copy", copy_spy)
    return calls


def post_json(api, slug: str, body) -> object:
    return api.post(predict_url(slug), json.dumps(body), content_type="application/json")


def playground_files(org) -> list[Path]:
    folder = Path(settings.MEDIA_ROOT, "orgs", str(org.pk), "playground")
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


# --- Listing ------------------------------------------------------------------------------


def test_the_models_are_listed_with_their_cards(api):
    response = api.get(MODELS_URL)

    assert response.status_code == 200
    models = response.json()["models"]
    assert [m["slug"] for m in models] == [
        "receipt-extractor",
        "invoice-extractor",
        "minilm-classifier",
        "banking77-intents",
        "minilm-summarizer",
        "pii-redactor",
    ]
    assert [m["slug"] for m in models] == [m.slug for m in MODELS]
    classifier = models[2]
    assert classifier["step"] == "classify"
    assert classifier["options"] == ["labels"]
    assert classifier["license"] == "Apache-2.0"


# --- Predictions on text ------------------------------------------------------------------


def test_classify_a_text(api, predictions):
    response = post_json(
        api, "minilm-classifier", {"text": INVOICE_TEXT, "labels": ["invoice", "recipe"]}
    )

    assert response.status_code == 200
    body = response.json()
    assert body["model"] == "minilm-classifier"
    output = body["output"]
    assert output["label"] == "invoice"
    assert [row["label"] for row in output["top"]] == ["invoice", "recipe"]
    assert output["score"] == output["top"][0]["score"]
    assert output["score"] > output["top"][1]["score"]
    assert output["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert body["warnings"] == []
    assert body["artifacts"] == []
    assert body["pages"] == [{"number": 1, "text": INVOICE_TEXT, "width": None, "height": None}]


def test_a_threshold_above_every_score_answers_none(api, predictions):
    response = post_json(
        api,
        "minilm-classifier",
        {"text": INVOICE_TEXT, "labels": ["invoice", "recipe"], "threshold": 0.99},
    )

    assert response.status_code == 200
    assert response.json()["output"]["label"] == "none"


def test_summarize_a_text(api, predictions):
    response = post_json(api, "minilm-summarizer", {"text": SUMMARY_TEXT, "sentences": 1})

    assert response.status_code == 200
    output = response.json()["output"]
    assert output["summary"] == "Revenue and profit both increased strongly."
    assert [(s["text"], s["page"]) for s in output["sentences"]] == [
        ("Revenue and profit both increased strongly.", 1)
    ]


def test_redact_a_text(api, predictions):
    text = "Write to jane.roe@example.com or call +44 20 7946 0958 today."

    response = post_json(api, "pii-redactor", {"text": text})

    assert response.status_code == 200
    output = response.json()["output"]
    assert output["counts"] == {"email": 1, "phone": 1}
    assert output["text_by_page"] == {"1": f"Write to {'█' * 20} or call {'█' * 16} today."}
    assert output["matches"] == [
        {"kind": "email", "page": 1, "start": 9, "end": 29, "preview": "j***@example.com"},
        {"kind": "phone", "page": 1, "start": 38, "end": 54, "preview": "+** ** **** **58"},
    ]
    assert "jane.roe@example.com" not in response.content.decode()


def test_extract_a_receipt_from_text(api, predictions):
    response = post_json(api, "receipt-extractor", {"text": RECEIPT_TEXT})

    assert response.status_code == 200
    fields = response.json()["output"]["fields"]
    assert list(fields) == ["vendor", "address", "date", "total", "tax", "currency"]
    assert fields["total"]["value"] == "7.75"
    assert fields["total"]["currency"] == "GBP"
    assert fields["date"]["value"] == "2026-03-14"
    assert fields["vendor"]["value"] == "CORNER CAFE"
    assert fields["currency"]["value"] == "GBP"
    assert fields["tax"]["value"] is None
    assert response.json()["warnings"] == ["Not found: tax."]


# --- Predictions on a file ----------------------------------------------------------------


def test_extract_an_invoice_from_a_pdf_and_the_staged_file_is_deleted(api, predictions):
    pdf = files.text_pdf(["\n".join(INVOICE_PDF_LINES)])

    response = api.post(
        predict_url("invoice-extractor"), {"file": upload("invoice.pdf", pdf, "application/pdf")}
    )

    assert response.status_code == 200
    body = response.json()
    fields = body["output"]["fields"]
    assert fields["invoice_number"]["value"] == "INV-2041"
    assert fields["date"]["value"] == "2026-03-12"
    assert fields["total"]["value"] == "1234.50"
    assert fields["total"]["currency"] == "EUR"
    assert fields["vendor"]["value"] == "ACME Supplies Ltd"
    assert [page["number"] for page in body["pages"]] == [1]
    assert body["pages"][0]["text"].splitlines() == INVOICE_PDF_LINES
    # The file was staged in the caller's playground folder for the worker, then removed.
    [staged, call] = predictions
    assert staged["staged"].startswith(f"orgs/{api.key.organization.pk}/playground/")
    assert staged["staged"].endswith(".pdf")
    assert staged["existed"] is True
    assert call["slug"] == "invoice-extractor"
    assert playground_files(api.key.organization) == []
    assert stored_files() == []


def test_multipart_options_are_read_as_json(api, predictions):
    response = api.post(
        predict_url("invoice-extractor"),
        {
            "file": upload("invoice.pdf", files.text_pdf(["\n".join(INVOICE_PDF_LINES)])),
            "options": json.dumps({"fields": [{"name": "item", "type": "money"}]}),
        },
    )

    assert response.status_code == 200
    fields = response.json()["output"]["fields"]
    assert "item" in fields
    assert fields["invoice_number"]["value"] == "INV-2041"


def test_a_file_without_text_is_a_422_model_failure(api, predictions):
    response = api.post(
        predict_url("receipt-extractor"), {"file": upload("blank.png", files.blank_image())}
    )

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "model_failed"
    assert error["message"].startswith("No text was found in this document.")
    assert stored_files() == []


# --- Errors -------------------------------------------------------------------------------


def test_without_a_key_nothing_runs(db, predictions):
    response = Client().post(
        predict_url("minilm-classifier"),
        json.dumps({"text": INVOICE_TEXT, "labels": ["invoice"]}),
        content_type="application/json",
    )

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "missing_key"
    assert predictions == []


def test_a_revoked_key_is_refused(api, predictions):
    assert api.key.revoke() is True

    response = post_json(api, "minilm-classifier", {"text": INVOICE_TEXT, "labels": ["invoice"]})

    assert response.status_code == 401
    assert response.json() == {
        "error": {
            "code": "invalid_key",
            "message": "This API key is not valid or has been revoked.",
        }
    }
    assert response["WWW-Authenticate"] == 'Bearer realm="pyq", error="invalid_token"'
    assert predictions == []


def test_an_unknown_model_is_a_json_404(api, predictions):
    response = post_json(api, "gpt-9", {"text": INVOICE_TEXT})

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"error": {"code": "not_found", "message": "No such model."}}
    assert predictions == []


def test_invalid_json_is_a_400(api, predictions):
    response = api.post(
        predict_url("minilm-classifier"), "{not json", content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "bad_request",
            "message": "The body is not valid JSON: Expecting property name enclosed in double "
            "quotes.",
        }
    }
    assert predictions == []


def test_invalid_options_json_in_multipart_is_a_400(api, predictions):
    response = api.post(
        predict_url("invoice-extractor"),
        {"file": upload("invoice.pdf", files.text_pdf(["Invoice"])), "options": "[1, 2"},
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"
    assert response.json()["error"]["message"].startswith("'options' is not valid JSON:")
    assert predictions == []
    assert stored_files() == []


def test_empty_labels_are_invalid_input(api, predictions):
    response = post_json(api, "minilm-classifier", {"text": INVOICE_TEXT, "labels": []})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert error["message"].startswith("Classify: labels: ")


def test_both_text_and_file_are_invalid_input(api, predictions):
    response = api.post(
        predict_url("receipt-extractor"),
        {"text": RECEIPT_TEXT, "file": upload("receipt.txt", RECEIPT_TEXT.encode())},
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "invalid_input",
            "message": "Paste some text or choose a file (one of the two).",
        }
    }
    assert predictions == []
    assert stored_files() == []


def test_an_unknown_field_type_is_invalid_input_naming_the_type(api, predictions):
    response = post_json(
        api,
        "invoice-extractor",
        {"text": INVOICE_TEXT, "fields": [{"name": "po_number", "type": "colour"}]},
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "invalid_input",
            "message": "Extract fields: Field 'po_number': unknown type 'colour'; "
            "use one of text, date, money, number, email, phone, iban.",
        }
    }


def test_get_on_predict_is_405(api, predictions):
    response = api.get(predict_url("minilm-classifier"))

    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert predictions == []


# --- Organizations ------------------------------------------------------------------------


def test_an_outsider_key_stages_its_file_in_its_own_organization(api, outsider_api, predictions):
    acme, other = api.key.organization, outsider_api.key.organization
    pdf = files.text_pdf(["\n".join(INVOICE_PDF_LINES)])

    response = outsider_api.post(
        predict_url("invoice-extractor"), {"file": upload("invoice.pdf", pdf, "application/pdf")}
    )

    assert response.status_code == 200
    assert response.json()["output"]["fields"]["invoice_number"]["value"] == "INV-2041"
    [staged, _call] = predictions
    assert staged["staged"].startswith(f"orgs/{other.pk}/playground/")
    assert not staged["staged"].startswith(f"orgs/{acme.pk}/")
    assert not Path(settings.MEDIA_ROOT, "orgs", str(acme.pk)).exists()
    assert playground_files(other) == []
