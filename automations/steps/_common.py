"""Helpers the understanding steps share: settings checks, document text, embeddings."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from automations.engine.steps import StepConfigError, StepContext, StepFailed, validate_config
from catalog.runtime.language import script_shares
from catalog.runtime.policy import (
    DEFAULT_EMBEDDER,
    ModelRefused,
    check_classifier_name,
    check_embedder_name,
)

log = logging.getLogger(__name__)

# MiniLM reads 256 word pieces (about 1,000 characters of English); a document is
# represented by its first few such chunks, averaged, which covers the first page or two
# where titles, parties and totals are, at a bounded cost per document.
CHUNK_CHARS = 1000
MAX_CHUNKS = 3
ENGLISH_ONLY_MODELS = ("all-minilm-l6-v2",)
# The `model` setting of the embedding steps: a name from the catalog, never a path or an
# id the operator has not listed (checked by ValidatingStep.validate, see check_models).
MODEL_PROPERTY: dict = {
    "type": "string",
    "minLength": 1,
    "maxLength": 200,
    "default": DEFAULT_EMBEDDER,
    "title": "Model",
    "description": "An embedding model from the catalog.",
}


class ValidatingStep:
    """Mixin: ``validate(config)`` fills defaults, checks the schema, then ``check(config)``."""

    config_schema: ClassVar[dict]
    label: ClassVar[str]

    @classmethod
    def validate(cls, config: dict | None) -> dict:
        config = validate_config(cls, config)  # type: ignore[arg-type]
        check_models(cls, config)
        cls.check(config)
        return config

    @classmethod
    def check(cls, config: dict) -> None:
        """Rules JSON Schema cannot express; raise StepConfigError."""


def check_models(step: Any, config: dict) -> None:
    """Refuse a `model` or `classifier` setting that is not a name from the catalog (a
    path, a Hugging Face id the operator has not listed, an unknown name)."""
    properties = step.config_schema.get("properties", {})
    checks = (("model", check_embedder_name), ("classifier", check_classifier_name))
    for key, check in checks:
        if key in properties and config.get(key) not in (None, ""):
            try:
                check(config[key])
            except ModelRefused as exc:
                raise StepConfigError(f"{step.label}: {key}: {exc}") from None


def model_failure(name: str, exc: BaseException) -> StepFailed:
    """A step's failure when its model cannot be loaded, naming the model in people's words
    (the details of an unexpected error go to the worker's log, not to the page)."""
    if isinstance(exc, ValueError | RuntimeError) and str(exc):
        reason = str(exc)
        reason = reason[:1].lower() + reason[1:]
    else:
        log.error("loading the model %r failed", name, exc_info=exc)
        reason = (
            "its files are missing or damaged, or the worker ran out of memory "
            "(the worker's log has the details)"
        )
    return StepFailed(f"The model {name!r} could not be loaded: {reason.rstrip('.')}.")


def get_embedder(context: StepContext, model_ref: str) -> Any:
    """The embedder the run's services give (loaded once per process). A model that cannot
    be loaded fails the step with a message naming it."""
    try:
        return context.services.embedder(model_ref)
    except StepFailed:
        raise
    except Exception as exc:  # any load failure fails the step, not the run
        raise model_failure(model_ref, exc) from exc


def document_text(context: StepContext, budget: int = CHUNK_CHARS * MAX_CHUNKS) -> str:
    """The text of the first pages, at most ``budget`` characters (pages in order)."""
    parts: list[str] = []
    used = 0
    for page in context.pages:
        text = (page.text or "").strip()
        if not text:
            continue
        parts.append(text[: budget - used])
        used += len(parts[-1]) + 2
        if used >= budget:
            break
    return "\n\n".join(parts).strip()


def chunks(text: str, size: int = CHUNK_CHARS, limit: int = MAX_CHUNKS) -> list[str]:
    """Split ``text`` into at most ``limit`` pieces of about ``size`` characters at spaces."""
    pieces: list[str] = []
    rest = " ".join(text.split())
    while rest and len(pieces) < limit:
        if len(rest) <= size:
            pieces.append(rest)
            break
        cut = rest.rfind(" ", size // 2, size)
        cut = cut if cut > 0 else size
        pieces.append(rest[:cut])
        rest = rest[cut:].lstrip()
    return pieces


def embed_documents(embedder: Any, texts: Sequence[str]) -> np.ndarray:
    """One normalised vector per document: the mean of its first chunks' embeddings.

    All chunks of all documents go through one ``encode`` call, so a worker that batches
    documents gets full batches.
    """
    owners: list[int] = []
    pieces: list[str] = []
    for index, text in enumerate(texts):
        for piece in chunks(text) or [""]:
            owners.append(index)
            pieces.append(piece)
    vectors = embedder.encode(pieces)
    out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
    np.add.at(out, np.asarray(owners), vectors)
    return normalize_rows(out)


def document_vectors(contexts: Sequence[StepContext], embedder: Any) -> np.ndarray:
    """One vector per document, embedded once per run, model and text and then shared by
    the steps that need it (classify and similar_documents embed the same text)."""
    keys = [("document_vector", embedder.name, hash(document_text(c))) for c in contexts]
    missing = [i for i, c in enumerate(contexts) if keys[i] not in c.cache]
    if missing:
        vectors = embed_documents(embedder, [document_text(contexts[i]) for i in missing])
        for i, vector in zip(missing, vectors, strict=True):
            contexts[i].cache[keys[i]] = vector
    return np.stack([c.cache[k] for c, k in zip(contexts, keys, strict=True)])


def run_one(step: Any, context: StepContext, config: dict) -> Any:
    """run() for a step that has run_batch(): the batch of one, raising its failure."""
    [outcome] = step.run_batch([context], config)
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def normalize_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.where(norms == 0, 1.0, norms)).astype(np.float32)


def script_warning(text: str, model_name: str, verb: str = "read") -> str | None:
    """A warning when most letters are not Latin and the model only learnt English."""
    if not model_name.lower().endswith(ENGLISH_ONLY_MODELS):
        return None
    shares, _ = script_shares(text[:10_000])
    script, share = next(iter(shares.items()), (None, 0.0))
    if script is None or script == "Latin" or share < 0.5:
        return None
    return (
        f"The text is in {script} script; the MiniLM model was trained on English "
        f"and may {verb} it poorly."
    )
