from __future__ import annotations

import numpy as np
import pytest

from automations.engine.ports import MemoryServices
from automations.engine.similarity import near_duplicates
from automations.engine.steps import StepConfigError, StepFailed, get_step
from automations.steps.similar_documents import SimilarDocumentsStep

INVOICE = (
    "INVOICE No. 2023-118\nBill to: Acme Ltd, 1 High Street, Leeds\n"
    "Consulting services 10 h at 95.00 = 950.00\nVAT 20% 190.00\nTotal due 1,140.00 GBP"
)


def test_near_duplicates_filters_sorts_and_limits():
    candidates = [
        ("a", [1.0, 0.0]),
        ("b", [0.0, 1.0]),
        ("c", [2.0, 0.1]),  # not normalised: compared by cosine anyway
        ("d", [1.0, 0.0]),
    ]

    assert near_duplicates([3.0, 0.0], candidates, threshold=0.9, limit=5) == [
        {"document": "a", "score": 1.0},
        {"document": "d", "score": 1.0},
        {"document": "c", "score": 0.9988},
    ]
    assert near_duplicates([1.0, 0.0], candidates, threshold=0.9, limit=1) == [
        {"document": "a", "score": 1.0}
    ]
    assert near_duplicates([1.0, 0.0], [], threshold=0.5, limit=3) == []
    assert near_duplicates([1.0, 0.0], [(7, [0.0, 0.0])], threshold=0.0, limit=3) == [
        {"document": 7, "score": 0.0}
    ]


def test_step_searches_then_stores_the_vector(make_context, services_with_model):
    services_with_model.similar = [{"document": 41, "name": "invoice-118.pdf", "score": 0.991}]

    output = (
        get_step("similar_documents")
        .run(make_context(INVOICE, services=services_with_model), {})
        .output
    )

    assert output == {
        "duplicates": [{"document": 41, "name": "invoice-118.pdf", "score": 0.991}],
        "is_duplicate": True,
        "embedding_model": "sentence-transformers/all-MiniLM-L6-v2",
    }
    names = [call[0] for call in services_with_model.calls]
    assert names == ["embedder", "find_similar", "store_embedding"]
    _, vector, threshold, limit = services_with_model.calls[1]
    assert (threshold, limit) == (0.95, 5)
    assert len(vector) == 384
    assert all(isinstance(x, float) for x in vector)
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    assert services_with_model.calls[2] == ("store_embedding", vector)


def test_no_duplicates(make_context, services_with_model):
    output = (
        get_step("similar_documents")
        .run(make_context(INVOICE, services=services_with_model), {"threshold": 0.9, "limit": 2})
        .output
    )

    assert output["duplicates"] == []
    assert output["is_duplicate"] is False
    assert services_with_model.calls[1][2:] == (0.9, 2)


def test_default_threshold_separates_a_resent_invoice_from_another_one(embedder, make_context):
    from automations.steps._common import embed_documents

    resent = INVOICE.replace("2023-118", "2023-119").replace("1,140.00", "1,150.00")
    other = (
        "INVOICE No. 2023-120\nBill to: Globex Corp, 9 Main Road, York\n"
        "Web design 3 days at 400.00 = 1,200.00\nVAT 20% 240.00\nTotal due 1,440.00 GBP"
    )
    vectors = embed_documents(embedder, [INVOICE, resent, other])
    candidates = [("resent", vectors[1]), ("other", vectors[2])]

    assert [hit["document"] for hit in near_duplicates(vectors[0], candidates)] == ["resent"]


def test_in_memory_services_find_an_earlier_document_of_the_same_run(make_context):
    # The playground and the command line keep vectors in memory: a re-sent copy is found.
    shared: list = []
    step = get_step("similar_documents")
    first = make_context(INVOICE, services=MemoryServices(name="first.pdf", embeddings=shared))
    copy = make_context(INVOICE, services=MemoryServices(name="copy.pdf", embeddings=shared))
    assert step.run(first, {}).output["is_duplicate"] is False
    found = step.run(copy, {}).output
    assert [hit["name"] for hit in found["duplicates"]] == ["first.pdf"]


def test_no_text_fails(make_context, services):
    with pytest.raises(StepFailed, match="no text"):
        get_step("similar_documents").run(make_context("", services=services), {})


@pytest.mark.parametrize("config", [{"threshold": 1.2}, {"limit": 0}, {"limit": 2.5}, {"top": 3}])
def test_bad_configs_are_refused(config):
    with pytest.raises(StepConfigError):
        SimilarDocumentsStep.validate(config)
