"""Fixtures every room shares: personas (owner, member and viewer of one organization, and
an outsider from another), the owner's API caller, a draft workflow, the runs sent to the
queue, eager tasks, fake steps registered for one test, servers on loopback (an HTTP
receiver, an SMTP listener), no network, and the packaged MiniLM, loaded only for the tests
that ask for it."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from accounts.models import Organization, Role, User
from automations.engine.steps import REGISTRY, register
from automations.models import Workflow
from automations.workflows import create_workflow
from catalog.runtime.embeddings import Embedder, load_embedder
from tests.api.callers import ApiCaller, caller_for
from tests.factories import READ, SORT, MembershipFactory, OrganizationFactory, UserFactory
from tests.loopback import Receiver, SmtpListener


@pytest.fixture(autouse=True)
def _isolated_media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.ACCOUNT_RATE_LIMITS = False
    # A cache namespace per test: rate-limit counters never carry over between tests, and
    # nothing is cleared (on Redis a clear would flush the broker's database too).
    settings.CACHES = {
        name: {**config, "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}
        for name, config in settings.CACHES.items()
    }
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@dataclass
class Persona:
    user: User
    org: Organization
    client: Client


def _persona(org: Organization, role: str) -> Persona:
    membership = MembershipFactory(organization=org, role=role)
    client = Client()
    client.force_login(membership.user)
    return Persona(membership.user, org, client)


@pytest.fixture
def org(db) -> Organization:
    return OrganizationFactory(name="Acme Ltd", slug="acme")


@pytest.fixture
def owner(org) -> Persona:
    return _persona(org, Role.OWNER)


@pytest.fixture
def member(org) -> Persona:
    return _persona(org, Role.MEMBER)


@pytest.fixture
def viewer(org) -> Persona:
    return _persona(org, Role.VIEWER)


@pytest.fixture
def outsider(db) -> Persona:
    return _persona(OrganizationFactory(name="Other Co", slug="other"), Role.OWNER)


@pytest.fixture
def user_without_org(db) -> User:
    return UserFactory()


@pytest.fixture
def api(owner) -> ApiCaller:
    """An API key of the owner's organization (Acme), sent by a client with no session."""
    return caller_for(owner)


@pytest.fixture
def workflow(owner) -> Workflow:
    """The draft "Invoice intake" of the owner's organization, never published: read the
    text, then sort invoices from receipts."""
    return create_workflow(owner.org, "Invoice intake", user=owner.user, steps=[READ, SORT])


@pytest.fixture
def sent(monkeypatch) -> list[int]:
    """The ids of the runs handed to the workers' queue (automations/runs/queue.py's send), in
    order, instead of a broker."""
    calls: list[int] = []

    def send(name: str, ids: int | list[int], countdown: float | None = None) -> None:
        calls.extend(ids if isinstance(ids, list) else [ids])

    monkeypatch.setattr("automations.runs.queue.send", send)
    return calls


@pytest.fixture
def eager():
    """Tasks run in this process instead of going to a worker."""
    from pyq_site.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture
def register_steps() -> Iterator[Callable[..., None]]:
    """Registers fake step classes for one test (`register_steps(CountStep, SendStep)`);
    afterwards the step registry is as it was, a built-in step a fake one replaced included."""
    before = dict(REGISTRY)

    def add(*classes: type) -> None:
        for cls in classes:
            register(cls)

    yield add
    REGISTRY.clear()
    REGISTRY.update(before)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """An HTTP server on 127.0.0.1 that records what it is sent (tests/loopback.py)."""
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def smtp(settings) -> Iterator[SmtpListener]:
    """An SMTP server on 127.0.0.1, and Django's mail settings pointed at it."""
    listener = SmtpListener()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = listener.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_TIMEOUT = 5
    settings.DEFAULT_FROM_EMAIL = "Pyq <robot@pyq.example>"
    yield listener
    listener.close()


def _refuse_network(*args: Any, **kwargs: Any) -> None:
    raise AssertionError(f"a test tried to open a network connection: {args!r}")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every connection this process opens fails the test."""
    monkeypatch.setattr(socket.socket, "connect", _refuse_network)
    monkeypatch.setattr(socket, "create_connection", _refuse_network)


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The packaged MiniLM, loaded once per session by the first test that asks for it (a
    second and ~90 MB, so only those tests pay), with every connection refused while it
    loads: loading packaged weights must not touch the network."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", _refuse_network)
        patch.setattr(socket, "create_connection", _refuse_network)
        return load_embedder("minilm")
