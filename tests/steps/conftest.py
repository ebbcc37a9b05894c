"""Shared fixtures for the step tests: contexts and fake services (the MiniLM they share,
`embedder`, is tests/conftest.py's)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from automations.engine.fields import PageText
from automations.engine.ports import MemoryServices, StepServices
from automations.engine.steps import DocumentInfo, StepContext
from tests.steps.fakes import FakeServices


@pytest.fixture
def services() -> FakeServices:
    """Recording services without a model: a test that needs one asks for
    `services_with_model`, so the others never load MiniLM."""
    return FakeServices()


@pytest.fixture
def services_with_model(embedder) -> FakeServices:
    """Recording services whose embedder is the packaged MiniLM."""
    return FakeServices(shared_embedder=embedder)


@pytest.fixture
def make_context() -> Callable[..., StepContext]:
    def build(
        *texts: str,
        pages: list[PageText] | None = None,
        services: StepServices | None = None,
        name: str = "document.txt",
        kind: str = "txt",
        path: str | None = None,
    ) -> StepContext:
        pages = pages if pages is not None else [PageText(i + 1, t) for i, t in enumerate(texts)]
        document = DocumentInfo(name=name, kind=kind, path=path, page_count=len(pages))
        return StepContext(document, pages, services=services or MemoryServices(name=name))

    return build
