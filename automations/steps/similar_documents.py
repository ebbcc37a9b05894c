"""Similar documents: find near-duplicates of this document among the organization's own.

The document is embedded like Classify does (first pages, chunked, averaged); the Django
side keeps one vector per document and answers ``find_similar`` with the closest ones.
Searching happens before storing, so a document never finds itself.
"""

from __future__ import annotations

from typing import ClassVar

from automations.engine.similarity import DEFAULT_THRESHOLD
from automations.engine.steps import StepContext, StepFailed, StepOutcome, register
from automations.steps._common import (
    MODEL_PROPERTY,
    ValidatingStep,
    document_text,
    document_vectors,
    get_embedder,
    run_one,
)


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
            services = contexts[i].services
            duplicates = services.find_similar(vector, config["threshold"], config["limit"])
            services.store_embedding(vector, embedder.name)
            outcomes[i] = StepOutcome(
                output={
                    "duplicates": duplicates,
                    "is_duplicate": bool(duplicates),
                    "embedding_model": embedder.name,
                }
            )
        return outcomes
