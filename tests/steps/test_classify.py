from __future__ import annotations

import pytest

from automations.engine.pipeline import parse_pipeline
from automations.engine.steps import StepConfigError, StepFailed, get_step
from automations.steps.classify import DEFAULT_THRESHOLD, ClassifyStep, classify_texts

LABELS = ["invoice", "recipe", "love letter"]
INVOICE = "Invoice number 4721, total due 93.50 EUR, payment terms 30 days"
RECIPE = (
    "Preheat the oven to 180C. Mix the flour, sugar and butter, add two eggs "
    "and bake for 25 minutes until golden."
)
WEATHER = "The weather tomorrow will be sunny with light winds from the west."


def _classify(make_context, text, services=None, **config):
    step = get_step("classify")
    return step.run(make_context(text, services=services), {"labels": LABELS, **config})


def test_invoice_text_is_an_invoice(make_context):
    outcome = _classify(make_context, INVOICE)

    output = outcome.output
    assert output["label"] == "invoice"
    assert output["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert output["top"][0]["label"] == "invoice"
    assert sorted(t["label"] for t in output["top"]) == sorted(LABELS)
    assert output["score"] == output["top"][0]["score"] > 0.5
    assert output["top"][0]["score"] >= output["top"][1]["score"] >= output["top"][2]["score"]
    assert outcome.warnings == []


def test_cooking_text_is_a_recipe(make_context):
    assert _classify(make_context, RECIPE).output["label"] == "recipe"


def test_unrelated_text_is_none_with_a_high_threshold(make_context):
    output = _classify(make_context, WEATHER, threshold=0.6).output

    assert output["label"] == "none"
    assert output["score"] < 0.6
    assert len(output["top"]) == 3


def test_default_threshold_keeps_the_invoice_and_drops_the_weather(make_context):
    assert _classify(make_context, INVOICE).output["score"] > DEFAULT_THRESHOLD
    assert _classify(make_context, WEATHER).output["label"] == "none"


def test_labels_with_descriptions(make_context):
    labels = [
        {"name": "bill", "description": "an invoice asking for payment of an amount"},
        {"name": "cooking", "description": "a recipe with ingredients and steps"},
    ]
    step = get_step("classify")

    assert step.run(make_context(INVOICE), {"labels": labels}).output["label"] == "bill"
    assert step.run(make_context(RECIPE), {"labels": labels}).output["label"] == "cooking"


def test_uses_the_embedder_the_worker_provides(make_context, services_with_model):
    _classify(make_context, INVOICE, services=services_with_model, model="minilm")

    assert services_with_model.calls == [("embedder", "minilm")]


def test_many_documents_in_one_call_match_single_runs(embedder):
    batch = classify_texts(embedder, [INVOICE, RECIPE, ""], LABELS, DEFAULT_THRESHOLD)
    [single] = classify_texts(embedder, [RECIPE], LABELS, DEFAULT_THRESHOLD)

    assert [r["label"] for r in batch] == ["invoice", "recipe", "none"]
    assert batch[1]["score"] == pytest.approx(single["score"], abs=1e-4)
    assert batch[2] == {"label": "none", "score": 0.0, "top": [], "model": embedder.name}


def test_empty_text_fails(make_context):
    with pytest.raises(StepFailed, match=r"^There is no text to classify\.$"):
        _classify(make_context, "  \n ")


def test_text_in_arabic_script_warns(make_context):
    text = "فاتورة رقم 4721، المبلغ المستحق 93.50 يورو، شروط الدفع 30 يومًا. شكرا لتعاملكم معنا"

    outcome = _classify(make_context, text)

    assert outcome.warnings == [
        "The text is in Arabic script; the MiniLM model was trained on English "
        "and may classify it poorly."
    ]


def test_empty_labels_are_refused_with_a_message_a_person_can_act_on():
    with pytest.raises(StepConfigError, match="add at least one label"):
        ClassifyStep.validate({"labels": []})
    with pytest.raises(StepConfigError, match=r"^Classify: labels: add at least one label\.$"):
        parse_pipeline([{"step": "classify", "config": {"labels": []}}])


@pytest.mark.parametrize(
    "labels",
    [
        ["Invoice", "recipe", "invoice "],
        [{"name": "Invoice"}, {"name": "INVOICE", "description": "a bill"}],
    ],
)
def test_duplicate_labels_are_refused(labels, make_context):
    with pytest.raises(StepConfigError, match=r"'invoice' is listed twice|'INVOICE' is listed"):
        ClassifyStep.validate({"labels": labels})
    with pytest.raises(StepConfigError, match="listed twice"):
        get_step("classify").run(make_context(INVOICE), {"labels": labels})


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"labels": "invoice"},
        {"labels": [""]},
        {"labels": ["   "]},
        {"labels": ["none"]},
        {"labels": [{"description": "no name"}]},
        {"labels": ["invoice"], "threshold": 1.5},
        {"labels": ["invoice"], "threshold": -0.1},
        {"labels": ["invoice"], "model": ""},
        {"labels": ["invoice"], "colour": "red"},
    ],
)
def test_bad_configs_are_refused(config):
    with pytest.raises(StepConfigError):
        ClassifyStep.validate(config)


def test_defaults_are_filled():
    assert ClassifyStep.validate({"labels": ["invoice"]}) == {
        "labels": ["invoice"],
        "threshold": DEFAULT_THRESHOLD,
        "model": "minilm",
        "classifier": None,
    }
