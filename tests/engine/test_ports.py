"""The contract between steps and the world (automations/engine/ports.py): every
implementation keeps all of it, and the in-memory one does what it can without a database."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from automations.engine.fields import PageText
from automations.engine.pipeline import MemoryStore, parse_pipeline, run_pipeline
from automations.engine.ports import MemoryServices, StepServices, Unavailable
from automations.engine.steps import DocumentInfo, StepContext

MEMBERS = sorted(name for name in vars(StepServices) if not name.startswith("_"))


def parameters(function) -> list[tuple[str, object]]:
    """Names and kinds of a function's parameters (annotations may be spelt differently)."""
    return [(p.name, p.kind) for p in inspect.signature(function).parameters.values()]


def test_the_contract_names_what_steps_ask() -> None:
    # A renamed or dropped member shows here, and as a type error wherever it is used.
    assert {"store_page", "find_similar", "ingest_attachments", "send_email"} <= set(MEMBERS)
    assert "append_table_row" in MEMBERS
    assert "embedder" in MEMBERS


@pytest.mark.parametrize("member", MEMBERS)
def test_memory_services_keep_every_member_with_its_signature(member: str) -> None:
    promised = getattr(StepServices, member)
    kept = getattr(MemoryServices, member, None) or MemoryServices.__dataclass_fields__[member]
    assert kept is not None
    if inspect.isfunction(promised):
        assert parameters(kept) == parameters(promised)
    assert isinstance(MemoryServices(), StepServices)


def test_a_step_context_without_services_gets_in_memory_ones() -> None:
    context = StepContext(DocumentInfo("a.txt", "txt"))
    assert isinstance(context.services, MemoryServices)
    assert context.services is not StepContext(DocumentInfo("b.txt", "txt")).services


def test_what_needs_a_database_is_refused_with_where_it_works() -> None:
    services = MemoryServices()
    with pytest.raises(Unavailable, match="mail settings"):
        services.send_email(to=["a@example.com"], subject="x", text="x")
    with pytest.raises(Unavailable, match="dashboard's database"):
        services.append_table_row("Invoices", {"total": "1"})


def test_the_in_memory_document_store_finds_the_other_documents_not_itself() -> None:
    shared: list = []
    first = MemoryServices(name="a.pdf", embeddings=shared)
    second = MemoryServices(name="b.pdf", embeddings=shared)
    first.store_embedding([1.0, 0.0])
    assert second.find_similar([0.99, 0.05], threshold=0.9, limit=5) == [
        {"document": "a.pdf", "name": "a.pdf", "score": pytest.approx(0.9987, abs=1e-3)}
    ]
    assert first.find_similar([1.0, 0.0], threshold=0.9, limit=5) == []  # not itself
    first.store_embedding([0.0, 1.0])  # a document's vector is replaced, not added
    assert len(shared) == 1
    assert np.allclose(shared[0][1], [0.0, 1.0])


def test_tags_accumulate_without_repeats() -> None:
    services = MemoryServices()
    services.tag_document(["paid", "2026"], None)
    assert services.tag_document(["paid", "vendor"], "invoice") == {
        "tags": ["paid", "2026", "vendor"],
        "doc_type": "invoice",
    }


def test_similar_documents_runs_on_in_memory_services(embedder_free_context) -> None:
    # The playground's services once lacked find_similar: the step failed there.
    steps = parse_pipeline([{"id": "dupes", "step": "similar_documents"}])
    shared: list = []
    outputs = []
    for name in ("first.txt", "copy.txt"):
        context = embedder_free_context(name, shared)
        store = MemoryStore()
        assert run_pipeline(steps, context, store) is None
        outputs.append(store.results["dupes"])
    assert outputs[0]["is_duplicate"] is False
    assert outputs[1]["is_duplicate"] is True
    assert outputs[1]["duplicates"][0]["name"] == "first.txt"


class CountingEmbedder:
    """A stand-in for MiniLM with the same interface: one vector per text, from its words."""

    name = "counting"

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.asarray([[len(t), t.count("e"), 1.0] for t in texts], dtype=np.float32)


class CountingServices(MemoryServices):
    def embedder(self, ref: str) -> CountingEmbedder:  # type: ignore[override]
        return CountingEmbedder()


@pytest.fixture
def embedder_free_context():
    def build(name: str, shared: list) -> StepContext:
        services = CountingServices(name=name, embeddings=shared)
        text = "Invoice 118 from ACME Ltd, total due 1,140.00 GBP"
        return StepContext(DocumentInfo(name, "txt"), [PageText(1, text)], services=services)

    return build
