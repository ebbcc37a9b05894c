"""Similar documents: find near-duplicates of this document among the organization's own.

The document is embedded like Classify does (first pages, chunked, averaged); the Django
side keeps one vector per document and answers ``find_similar`` with the closest ones.
Searching happens before storing, so a document never finds itself.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from automations.engine.steps import StepContext, StepFailed, StepOutcome, register
from automations.steps._common import (
    MODEL_PROPERTY,
    ValidatingStep,
    document_text,
    document_vectors,
    get_embedder,
    run_one,
    service,
)

# Above 0.95 two MiniLM document vectors are the same document re-sent, re-scanned or
# with a changed date or amount; different documents of one template score lower.
DEFAULT_THRESHOLD = 0.95


@register
class SimilarDocumentsStep(ValidatingStep):
    name: ClassVar[str] = "similar_documents"
    kind: ClassVar[str] = "understand"
    label: ClassVar[str] = "Find duplicates"
    description: ClassVar[str] = (
        "Finds documents you already have that say nearly the same thing, "
        "such as an invoice sent twice."
    )
    output_hints: ClassVar[list[str]] = ["is_duplicate", "duplicates.0.name", "duplicates.0.score"]
    config_schema: ClassVar[dict] = {
        "type": "object",
        "properties": {
            "threshold": {
                "type": "number",
                "minimum": 0,
                "maximum": 1,
                "default": DEFAULT_THRESHOLD,
            },
            "limit": {"type": "integer", "minimum": 1, "maximum": 50, "default": 5},
            "model": MODEL_PROPERTY,
        },
        "additionalProperties": False,
    }

    def run(self, context: StepContext, config: dict) -> StepOutcome:
        return run_one(self, context, config)

    def run_batch(self, contexts: list[StepContext], config: dict) -> list:
        """Embed many documents in one model call, then compare them one after the other,
        so that two copies in the same batch still find each other."""
        config = self.validate(config)
        stores = [_document_store(c) for c in contexts]
        present = [store for store in stores if store is not None]
        if len(present) != len(stores):
            raise StepFailed(
                "Finding duplicates needs the document store, which this run does not have "
                "(it works in workflows, not on the command line)."
            )
        embedder = get_embedder(contexts[0], config["model"])
        outcomes: list = [StepFailed("There is no text to compare with other documents.")] * len(
            contexts
        )
        live = [i for i, context in enumerate(contexts) if document_text(context)]
        if not live:
            return outcomes
        vectors = document_vectors([contexts[i] for i in live], embedder)
        for i, row in zip(live, vectors, strict=True):
            vector = [float(x) for x in row]
            find_similar, store_embedding = present[i]
            duplicates = list(find_similar(vector, config["threshold"], config["limit"]))
            store_embedding(vector)
            outcomes[i] = StepOutcome(
                output={
                    "duplicates": duplicates,
                    "is_duplicate": bool(duplicates),
                    "embedding_model": embedder.name,
                }
            )
        return outcomes


def _document_store(
    context: StepContext,
) -> tuple[Callable[..., Any], Callable[..., Any]] | None:
    """The services' `find_similar` and `store_embedding`, or None without both."""
    find_similar = service(context, "find_similar")
    store_embedding = service(context, "store_embedding")
    if find_similar is None or store_embedding is None:
        return None
    return find_similar, store_embedding


def near_duplicates(
    vector: Sequence[float],
    candidates: Sequence[tuple[Hashable, npt.ArrayLike]],
    threshold: float = DEFAULT_THRESHOLD,
    limit: int = 5,
) -> list[dict]:
    """The candidates whose cosine similarity to ``vector`` is at least ``threshold``.

    Returns up to ``limit`` ``{"document": id, "score": rounded cosine}``, best first
    (ties keep the candidates' order). Vectors need not be normalised.
    """
    if not candidates:
        return []
    query = _unit(np.asarray(vector, dtype=np.float32))
    matrix = np.asarray([c[1] for c in candidates], dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1)
    scores = matrix @ query / np.where(norms == 0, 1.0, norms)
    order = np.argsort(-scores, kind="stable")
    hits = [
        {"document": candidates[i][0], "score": round(float(scores[i]), 4)}
        for i in order
        if scores[i] >= threshold
    ]
    return hits[:limit]


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector
