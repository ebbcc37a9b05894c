"""Classify: zero-shot document classification by embedding similarity.

Each label is embedded from a couple of phrasings ("invoice", "This document is a
invoice.") plus its description, averaged; the document is embedded from its first pages;
the label with the highest cosine similarity wins unless it is below the threshold, then
the answer is "none".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from automations.engine.steps import (
    StepConfigError,
    StepContext,
    StepFailed,
    StepOutcome,
    register,
)
from automations.steps._common import (
    MODEL_PROPERTY,
    ValidatingStep,
    document_text,
    document_vectors,
    embed_documents,
    get_embedder,
    model_failure,
    normalize_rows,
    run_one,
    script_warning,
)
from catalog.runtime.heads import HeadError, load_head
from catalog.runtime.policy import LruCache

NO_LABEL = "none"
TOP_K = 3
# Measured with MiniLM on a dozen typed documents and banking77: correct document labels
# scored 0.29-0.62, texts unrelated to every label 0.03-0.27, and 74% of banking questions
# stayed below 0.25 against document-type labels; no correctly classified document did.
DEFAULT_THRESHOLD = 0.25
# Averaging a bare name with a sentence around it scored best on both a document set and
# banking77 (the bare name alone gives too much weight to look-alike words: receipt/recipe).
TEMPLATES = ("{name}", "This document is a {name}.")
DESCRIBED_TEMPLATES = ("{name}: {description}", "This document is a {name}. {description}")

LabelSpec = str | dict


@register
class ClassifyStep(ValidatingStep):
    name: ClassVar[str] = "classify"
    kind: ClassVar[str] = "understand"
    label: ClassVar[str] = "Classify"
    description: ClassVar[str] = (
        "Sorts the document into one of your labels by meaning (no training needed); "
        "answers 'none' when no label fits well enough."
    )
    output_hints: ClassVar[list[str]] = ["label", "score", "top.0.label", "top.0.score", "model"]
    config_schema: ClassVar[dict] = {
        "type": "object",
        "properties": {
            "labels": {
                "type": "array",
                "maxItems": 200,
                "items": {
                    "oneOf": [
                        {"type": "string", "minLength": 1, "maxLength": 100},
                        {
                            "type": "object",
                            "properties": {
                                "name": {"type": "string", "minLength": 1, "maxLength": 100},
                                "description": {"type": "string", "maxLength": 500},
                                "keywords": {
                                    "type": "array",
                                    "maxItems": 50,
                                    "items": {"type": "string", "minLength": 1, "maxLength": 60},
                                },
                            },
                            "required": ["name"],
                            "additionalProperties": False,
                        },
                    ]
                },
            },
            "threshold": {
                "type": "number",
                "minimum": 0,
                "maximum": 1,
                "default": DEFAULT_THRESHOLD,
            },
            "model": MODEL_PROPERTY,
            "classifier": {
                "type": ["string", "null"],
                "default": None,
                "title": "Trained classifier",
                "description": "A trained classifier from the catalog; its own labels replace "
                "the list above.",
                "maxLength": 80,
            },
        },
        "additionalProperties": False,
    }

    @classmethod
    def validate(cls, config: dict | None) -> dict:
        labels = (config or {}).get("labels")
        if isinstance(labels, list) and not labels:
            raise StepConfigError("Classify: labels: add at least one label.")
        if labels is None and not (config or {}).get("classifier"):
            raise StepConfigError(
                "Classify: labels: name the labels to choose from, or pick a trained classifier."
            )
        return super().validate(config)

    @classmethod
    def check(cls, config: dict) -> None:
        if config.get("classifier"):
            try:
                load_head(config["classifier"])
            except HeadError as exc:
                raise StepConfigError(f"Classify: classifier: {exc}") from exc
            return
        seen: set[str] = set()
        for label in normalize_labels(config["labels"]):
            key = label["name"].casefold()
            if not key:
                raise StepConfigError("Classify: labels: a label name is empty.")
            if key == NO_LABEL:
                raise StepConfigError(
                    f"Classify: labels: '{NO_LABEL}' is the answer when no label fits; "
                    "choose another name."
                )
            if key in seen:
                raise StepConfigError(
                    f"Classify: labels: {label['name']!r} is listed twice "
                    "(labels are compared without case)."
                )
            seen.add(key)

    def run(self, context: StepContext, config: dict) -> StepOutcome:
        return run_one(self, context, config)

    def run_batch(self, contexts: list[StepContext], config: dict) -> list:
        """Classify many documents with one model call; an empty one fails alone."""
        config = self.validate(config)
        try:
            head = load_head(config["classifier"]) if config.get("classifier") else None
        except HeadError as exc:
            raise model_failure(config["classifier"], exc) from exc
        embedder = get_embedder(contexts[0], head.embedder if head else config["model"])
        outcomes: list = [StepFailed("There is no text to classify.")] * len(contexts)
        live = [i for i, context in enumerate(contexts) if document_text(context)]
        if not live:
            return outcomes
        vectors = document_vectors([contexts[i] for i in live], embedder)
        texts = [document_text(contexts[i]) for i in live]
        if head is not None:
            results = classify_with_head(head, vectors, config["threshold"], config["classifier"])
        else:
            results = classify_vectors(
                embedder, vectors, config["labels"], config["threshold"], texts=texts
            )
        for i, result in zip(live, results, strict=True):
            warning = script_warning(document_text(contexts[i]), embedder.name, verb="classify")
            outcomes[i] = StepOutcome(output=result, warnings=[warning] if warning else [])
        return outcomes


def normalize_labels(labels: Sequence[LabelSpec]) -> list[dict]:
    """Labels as ``{"name", "description", "keywords"}`` with white space trimmed."""
    out = []
    for label in labels:
        if isinstance(label, str):
            out.append({"name": label.strip(), "description": "", "keywords": []})
        else:
            name = str(label.get("name", "")).strip()
            out.append(
                {
                    "name": name,
                    "description": str(label.get("description") or "").strip(),
                    "keywords": [k.strip() for k in label.get("keywords") or [] if k.strip()],
                }
            )
    return out


def classify_texts(
    embedder: Any,
    texts: Sequence[str],
    labels: Sequence[LabelSpec],
    threshold: float = DEFAULT_THRESHOLD,
) -> list[dict]:
    """Classify many documents at once (one encode call for all their chunks).

    Returns one ``{"label", "score", "top", "model"}`` per text; an empty text gets
    "none" with score 0.
    """
    vectors = embed_documents(embedder, texts)
    results = classify_vectors(embedder, vectors, labels, threshold, texts=texts)
    return [
        r if text.strip() else _empty(embedder.name) for r, text in zip(results, texts, strict=True)
    ]


def classify_vectors(
    embedder: Any,
    vectors: np.ndarray,
    labels: Sequence[LabelSpec],
    threshold: float = DEFAULT_THRESHOLD,
    texts: Sequence[str] | None = None,
) -> list[dict]:
    """Classify documents already embedded (one normalised row each).

    A label's keywords found in a document's text (whole words, any case) add
    KEYWORD_BONUS each to its score, up to KEYWORD_CAP: words such as "change" or
    "due date" tell a receipt from an invoice where meaning alone is close.
    """
    specs = normalize_labels(labels)
    if not specs:
        raise StepConfigError("Classify: labels: add at least one label.")
    label_matrix = _label_matrix(embedder, tuple((s["name"], s["description"]) for s in specs))
    scores = vectors @ label_matrix.T
    if texts is not None and any(s["keywords"] for s in specs):
        scores = scores + _keyword_bonus(texts, specs)
    names = [s["name"] for s in specs]
    return [_result(row, names, threshold, embedder.name) for row in scores]


def classify_with_head(head: Any, vectors: np.ndarray, threshold: float, name: str) -> list[dict]:
    """A trained classifier's answer: its most probable label, "none" below the threshold."""
    return [_result(row, head.labels, threshold, name) for row in head.probabilities(vectors)]


KEYWORD_BONUS = 0.04
KEYWORD_CAP = 0.2


def _keyword_bonus(texts: Sequence[str], specs: list[dict]) -> np.ndarray:
    patterns = [
        [re.compile(rf"(?<!\w){re.escape(k)}(?!\w)", re.IGNORECASE) for k in s["keywords"]]
        for s in specs
    ]
    bonus = np.zeros((len(texts), len(specs)), dtype=np.float32)
    for i, text in enumerate(texts):
        for j, label_patterns in enumerate(patterns):
            found = sum(1 for pattern in label_patterns if pattern.search(text))
            bonus[i, j] = min(KEYWORD_CAP, KEYWORD_BONUS * found)
    return bonus


def _result(row: np.ndarray, names: list[str], threshold: float, model: str) -> dict:
    order = np.argsort(-row)[:TOP_K]
    top = [{"label": names[i], "score": round(float(row[i]), 4)} for i in order]
    best = top[0]
    return {
        "label": best["label"] if best["score"] >= threshold else NO_LABEL,
        "score": best["score"],
        "top": top,
        "model": model,
    }


def _empty(model: str) -> dict:
    return {"label": NO_LABEL, "score": 0.0, "top": [], "model": model}


LABEL_CACHE_SIZE = 64  # label sets kept per embedding model


def _label_matrix(embedder: Any, labels: tuple[tuple[str, str], ...]) -> np.ndarray:
    """One normalised row per label: the mean of its phrasings (cached: a workflow's
    labels are the same for every document it sees). The cache lives on the embedder, so
    a model the worker drops from its bounded cache takes its label sets with it."""
    cache = getattr(embedder, "_pyq_label_matrices", None)
    if cache is None:
        cache = LruCache(lambda: LABEL_CACHE_SIZE)
        try:
            embedder._pyq_label_matrices = cache
        except AttributeError:  # an object without a __dict__: no cache
            return _compute_label_matrix(embedder, labels)
    return cache.get_or_load(labels, lambda: _compute_label_matrix(embedder, labels))


def _compute_label_matrix(embedder: Any, labels: tuple[tuple[str, str], ...]) -> np.ndarray:
    phrasings = [_phrasings(name, description) for name, description in labels]
    flat = [p for group in phrasings for p in group]
    vectors = embedder.encode(flat)
    rows, start = [], 0
    for group in phrasings:
        rows.append(vectors[start : start + len(group)].mean(axis=0))
        start += len(group)
    matrix = normalize_rows(np.stack(rows))
    matrix.setflags(write=False)  # shared between calls
    return matrix


def _phrasings(name: str, description: str) -> list[str]:
    templates = DESCRIBED_TEMPLATES if description else TEMPLATES
    return [t.format(name=name, description=description) for t in templates]
