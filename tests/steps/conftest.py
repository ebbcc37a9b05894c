"""Shared fixtures for the step tests: one real MiniLM per session, contexts, fake services."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from automations.engine.fields import PageText
from automations.engine.steps import DocumentInfo, StepContext


def _refuse_network(*args: Any, **kwargs: Any) -> None:
    raise AssertionError(f"a test tried to open a network connection: {args!r}")


@pytest.fixture(scope="session", autouse=True)
def embedder():
    """The packaged MiniLM, loaded once, first (autouse), with every connection refused:
    loading packaged weights must not touch the network."""
    from catalog.runtime.embeddings import load_embedder

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", _refuse_network)
        patch.setattr(socket, "create_connection", _refuse_network)
        return load_embedder("minilm")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _refuse_network)
    monkeypatch.setattr(socket, "create_connection", _refuse_network)


@dataclass
class FakeServices:
    """What the worker gives steps, recorded so tests can look at the calls."""

    shared_embedder: Any = None
    images: dict[int, Any] = field(default_factory=dict)
    similar: list[dict] = field(default_factory=list)
    saved: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    calls: list[tuple] = field(default_factory=list)

    def embedder(self, ref: str) -> Any:
        self.calls.append(("embedder", ref))
        return self.shared_embedder

    def page_image(self, number: int) -> Any:
        return self.images.get(number)

    def save_artifact(self, filename: str, data: bytes, content_type: str) -> str:
        self.saved[filename] = (data, content_type)
        return f"artifact://{filename}"

    def find_similar(self, vector: list[float], threshold: float, limit: int) -> list[dict]:
        self.calls.append(("find_similar", vector, threshold, limit))
        return list(self.similar)

    def store_embedding(self, vector: list[float]) -> None:
        self.calls.append(("store_embedding", vector))


@pytest.fixture
def services(embedder) -> FakeServices:
    return FakeServices(shared_embedder=embedder)


@pytest.fixture
def make_context() -> Callable[..., StepContext]:
    def build(
        *texts: str,
        pages: list[PageText] | None = None,
        services: Any = None,
        name: str = "document.txt",
        kind: str = "txt",
        path: str | None = None,
    ) -> StepContext:
        pages = pages if pages is not None else [PageText(i + 1, t) for i, t in enumerate(texts)]
        document = DocumentInfo(name=name, kind=kind, path=path, page_count=len(pages))
        return StepContext(document=document, pages=pages, services=services)

    return build
