"""Private by default: no document leaves a Pyq deployment except through actions a person
configured.

A document goes through a workflow with every step kind, uploaded through the web view and
run by a real Celery worker process. Every outbound connection and name lookup of both is
recorded with an audit hook ("socket.connect", "socket.getaddrinfo"): in this process for
the web side, and in the worker through tests/security/connect_hook/sitecustomize.py on its
PYTHONPATH. Besides the database and the broker (storage is a local folder here), the only
connections go to the webhook receiver and the mail server the workflow names.

The hook sees connections made through Python's socket module (HTTP clients, smtplib, the
Hugging Face hub's requests, redis-py); libpq connects to PostgreSQL in C, unseen, which
is the database either way.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.urls import reverse

from accounts.models import Role
from automations.engine.steps import all_steps
from automations.models import Run, StepRun, TableRow
from automations.workflows import create_workflow, publish
from tests import files
from tests.automations.helpers import upload
from tests.e2e.conftest import celery_worker_process, wait_for  # noqa: F401  (a fixture)
from tests.factories import MembershipFactory

pytestmark = [pytest.mark.worker, pytest.mark.slow]

HOOK_FOLDER = Path(__file__).resolve().parent / "connect_hook"
INVOICE = [
    "ACME SUPPLIES LTD",
    "Invoice number: INV-4721",
    "Invoice date: 2026-03-14",
    "Contact: jane.roe@acme.example, +44 20 7946 0958",
    "Total due 118.00 EUR",
]


class WebRecorder:
    """This process's connections and lookups while ``active`` (an audit hook cannot be
    removed, so it is installed once and does nothing outside the test)."""

    active = False
    events: list[dict] = []

    @classmethod
    def hook(cls, event: str, args: tuple) -> None:
        if not cls.active:
            return
        if event == "socket.connect":
            cls.events.append(
                {"event": "connect", "family": int(args[0].family), "address": args[1]}
            )
        elif event == "socket.getaddrinfo":
            cls.events.append({"event": "lookup", "address": [args[0], args[1]]})


_hook_installed = False


@pytest.fixture
def web_recorder() -> Iterator[type[WebRecorder]]:
    global _hook_installed
    if not _hook_installed:
        sys.addaudithook(WebRecorder.hook)
        _hook_installed = True
    WebRecorder.events = []
    yield WebRecorder
    WebRecorder.active = False


@pytest.fixture
def recorded_worker(
    transactional_db, request, monkeypatch, settings, tmp_path, receiver, smtp
) -> Path:
    """The worker process, told to reach the loopback receiver and mail server, with the
    recording hook; returns the file its connections are written to."""
    log = tmp_path / "connections.jsonl"
    log.touch()
    variables = {
        "PYQ_ALLOW_PRIVATE_URLS": "true",
        "PYQ_EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "PYQ_EMAIL_HOST": "127.0.0.1",
        "PYQ_EMAIL_PORT": str(smtp.port),
        "PYQ_EMAIL_USE_TLS": "false",
        "PYQ_TEST_CONNECT_LOG": str(log),
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(HOOK_FOLDER), os.environ.get("PYTHONPATH")])
        ),
    }
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    settings.PYQ_ALLOW_PRIVATE_URLS = True
    request.getfixturevalue("celery_worker_process")
    return log


def allowed_endpoints(*extra: tuple[str, int]) -> set[tuple[str, int]]:
    """The database and the broker (and its result backend), plus ``extra``."""
    allowed = set(extra)
    db = connection.settings_dict
    if not db["ENGINE"].endswith("sqlite3"):
        allowed.add((_address(db["HOST"] or "127.0.0.1"), int(db["PORT"] or 5432)))
    for url in (settings.CELERY_BROKER_URL, settings.CELERY_RESULT_BACKEND or ""):
        parts = urlsplit(url)
        if parts.scheme.startswith(("redis", "amqp")):
            default = 6379 if parts.scheme.startswith("redis") else 5672
            allowed.add((_address(parts.hostname or "127.0.0.1"), parts.port or default))
    return allowed


def _address(host: str) -> str:
    return "127.0.0.1" if host == "localhost" else host


def connections_made(events: list[dict]) -> set[tuple[str, int]]:
    """Every (address, port) connected to over the network; Unix sockets are local."""
    found = set()
    for event in events:
        if event["event"] != "connect" or event["family"] == socket.AF_UNIX:
            continue
        host, port = event["address"][0], event["address"][1]
        found.add((_address(host), int(port)))
    return found


def names_looked_up(events: list[dict]) -> set[str]:
    return {str(e["address"][0]) for e in events if e["event"] == "lookup"}


def test_a_document_leaves_only_through_the_actions_a_person_configured(
    recorded_worker, web_recorder, receiver, smtp
) -> None:
    # Given a workflow with every step kind, ending with a webhook and an email action
    membership = MembershipFactory(role=Role.OWNER)
    org = membership.organization
    steps = [
        {"id": "text", "step": "extract_text"},
        {"id": "type", "step": "classify", "config": {"labels": ["invoice", "receipt"]}},
        {"id": "fields", "step": "extract_fields", "config": {"preset": "invoice"}},
        {"id": "redact", "step": "redact"},
        {"id": "summary", "step": "summarize"},
        {"id": "similar", "step": "similar_documents"},
        {"id": "tag", "step": "tag", "config": {"tags": ["private"]}},
        {"id": "table", "step": "table", "config": {"table": "Invoices"}},
        {
            "id": "send",
            "step": "webhook",
            "config": {"url": receiver.url},
        },
        {"id": "mail", "step": "email", "config": {"to": ["books@acme.example"]}},
    ]
    assert {s["step"] for s in steps} == {n for n in all_steps() if not n.startswith("test_")}
    workflow = create_workflow(org, "Everything", steps=steps)
    publish(workflow)
    client = Client()
    client.force_login(membership.user)

    # When a person uploads an invoice through the web view and the worker runs it
    web_recorder.active = True
    response = client.post(
        reverse("automations:workflow", args=[workflow.pk]),
        {"files": [upload("inv-4721.pdf", files.text_pdf(INVOICE))]},
    )
    assert response.status_code == 302
    web_recorder.active = False

    def finished() -> Run | None:
        run = Run.objects.filter(organization=org).first()
        return run if run and run.status not in Run.ACTIVE else None

    run = wait_for(finished, 300, "the run to finish", recorded_worker.parent / "worker.log")
    web_recorder.active = True
    page = client.get(reverse("automations:run", args=[run.pk]))
    web_recorder.active = False

    # Then every step ran, and the document went to the receiver and the mail server
    assert (run.status, run.error) == (Run.Status.SUCCEEDED, "")
    assert [s.step for s in run.steps.all()] == [s["step"] for s in steps]
    assert set(run.steps.values_list("status", flat=True)) == {StepRun.Status.SUCCEEDED}
    assert page.status_code == 200
    assert len(receiver.requests) == 1
    assert json.loads(receiver.requests[0]["body"])["document"]["name"] == "inv-4721.pdf"
    [(_sender, recipients, _data)] = smtp.messages
    assert recipients == ["books@acme.example"]
    assert TableRow.objects.filter(organization=org).count() == 1

    # And the only connections the worker and the web side opened, besides the database
    # and the broker, were to that receiver and that mail server
    worker_events = [json.loads(line) for line in recorded_worker.read_text().splitlines()]
    assert worker_events, "the worker's hook recorded nothing"
    allowed = allowed_endpoints(("127.0.0.1", receiver.port), ("127.0.0.1", smtp.port))
    assert connections_made(worker_events) - allowed == set()
    assert connections_made(web_recorder.events) - allowed_endpoints() == set()
    assert ("127.0.0.1", receiver.port) in connections_made(worker_events)
    assert ("127.0.0.1", smtp.port) in connections_made(worker_events)
    # And no name was looked up but the machine's own and the configured hosts
    own = {"127.0.0.1", "localhost", "::1", socket.gethostname(), socket.getfqdn(), "None"}
    configured = {host for host, _port in allowed}
    assert names_looked_up(worker_events) - own - configured == set()
    assert names_looked_up(web_recorder.events) - own - configured == set()
