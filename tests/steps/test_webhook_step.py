"""The webhook step: signed delivery of the mapped payload to a loopback receiver, retries
on transient answers only, private addresses refused, configuration checks."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass

import pytest

from automations.engine.pipeline import parse_pipeline
from automations.engine.steps import StepConfigError, StepFailed, get_step
from automations.steps import webhook
from automations.steps.webhook import backoff_seconds, sign, verify_signature
from tests.steps.fakes import FakeServices

REAL_CREATE_CONNECTION = socket.create_connection
SECRET = "s3cret-key"


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    def create_connection(address, *args, **kwargs):
        assert address[0] == "127.0.0.1", f"a test tried to connect to {address!r}"
        return REAL_CREATE_CONNECTION(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", create_connection)


@dataclass
class WorkerServices(FakeServices):
    """The worker's services on a deployment that lets webhooks call this machine."""

    allow_private_urls: bool = True


OUTPUTS = {
    "type": {"label": "invoice", "score": 0.61},
    "fields": {"fields": {"total": {"value": "118.00", "confidence": 0.9}}},
}


@pytest.fixture
def run_webhook(make_context):
    def run(config: dict, services: WorkerServices | None = None, outputs: dict | None = None):
        services = services or WorkerServices()
        context = make_context("Invoice 7", services=services, name="inv-7.pdf", kind="pdf")
        context.outputs = dict(OUTPUTS if outputs is None else outputs)
        [spec] = parse_pipeline([{"id": "send", "step": "webhook", "config": config}])
        return get_step("webhook").run(context, spec.config)

    return run


def test_delivers_the_mapped_payload_with_a_valid_signature(receiver, run_webhook) -> None:
    # Given a webhook with a secret and a payload mapping
    config = {
        "url": receiver.url,
        "secret": SECRET,
        "payload": {"total": "fields.fields.total.value", "type": "type.label"},
    }
    # When it runs
    outcome = run_webhook(config)
    # Then the receiver got one signed JSON request with the mapped data
    [request] = receiver.requests
    headers, body = request["headers"], request["body"]
    sent = json.loads(body)
    assert sent["document"] == {"name": "inv-7.pdf", "kind": "pdf"}
    assert sent["data"] == {"total": "118.00", "type": "invoice"}
    assert sent["sent_at"].endswith("+00:00")
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Pyq-Signature"] == sign(SECRET, headers["X-Pyq-Timestamp"], body)
    assert verify_signature(SECRET, headers["X-Pyq-Timestamp"], body, headers["X-Pyq-Signature"])
    # And a tampered body, another secret or a stale timestamp do not verify
    tampered = body.replace(b"118.00", b"999.00")
    stamp, signature = headers["X-Pyq-Timestamp"], headers["X-Pyq-Signature"]
    assert not verify_signature(SECRET, stamp, tampered, signature)
    assert not verify_signature("other", stamp, body, signature)
    assert not verify_signature(SECRET, stamp, body, signature, now=int(stamp) + 301)
    # And the output logs the one attempt
    assert outcome.output["delivered"] is True
    assert outcome.output["delivery"] == headers["X-Pyq-Delivery"]
    assert [(a["n"], a["status"], a["error"]) for a in outcome.output["attempts"]] == [(1, 200, "")]
    assert outcome.warnings == []


def test_sends_every_earlier_output_without_a_mapping_and_no_signature_without_secret(
    receiver, run_webhook
) -> None:
    outcome = run_webhook({"url": receiver.url})
    [request] = receiver.requests
    assert json.loads(request["body"])["data"] == OUTPUTS
    assert "X-Pyq-Signature" not in request["headers"]
    assert "X-Pyq-Timestamp" not in request["headers"]
    assert outcome.output["delivered"] is True


def test_a_missing_reference_sends_null_with_a_warning(receiver, run_webhook) -> None:
    outcome = run_webhook({"url": receiver.url, "payload": {"due": "fields.fields.due.value"}})
    assert json.loads(receiver.requests[0]["body"])["data"] == {"due": None}
    assert outcome.warnings == [
        "payload.due: fields.fields.due.value was not found; null was sent."
    ]


def test_retries_server_errors_with_backoff_until_delivered(receiver, run_webhook) -> None:
    # Given a receiver that answers 500 twice, then 200
    receiver.answer(500, 500, 200)
    services = WorkerServices()
    # When the webhook runs with the worker's (recording) sleep
    outcome = run_webhook({"url": receiver.url, "secret": SECRET}, services)
    # Then three attempts were made and logged, with pauses within the backoff caps
    assert [(a["n"], a["status"]) for a in outcome.output["attempts"]] == [
        (1, 500),
        (2, 500),
        (3, 200),
    ]
    assert [a["error"] for a in outcome.output["attempts"]] == [
        "The receiver answered 500: ok",
        "The receiver answered 500: ok",
        "",
    ]
    assert outcome.output["delivered"] is True
    assert len(services.pauses) == 2
    assert 0 <= services.pauses[0] <= 1
    assert 0 <= services.pauses[1] <= 2
    # And every attempt carried the same delivery id and the same body
    assert len({r["headers"]["X-Pyq-Delivery"] for r in receiver.requests}) == 1
    assert len({r["body"] for r in receiver.requests}) == 1


def test_fails_after_the_last_attempt_naming_the_answers(receiver, run_webhook) -> None:
    receiver.answer(503, 429, 502)
    services = WorkerServices()
    with pytest.raises(StepFailed) as failed:
        run_webhook({"url": receiver.url, "attempts": 3}, services)
    assert str(failed.value) == (
        "The webhook was not delivered after 3 attempts. The receiver answered 502: ok "
        "(answers: 503, 429, 502)"
    )
    # The attempts stay in the failed step's output, for the run's history.
    assert failed.value.output["delivered"] is False
    assert [a["status"] for a in failed.value.output["attempts"]] == [503, 429, 502]
    assert len(receiver.requests) == 3
    assert len(services.pauses) == 2


def test_a_client_error_is_not_retried(receiver, run_webhook) -> None:
    receiver.answer(400, body=b"bad field: total")
    services = WorkerServices()
    with pytest.raises(StepFailed) as failed:
        run_webhook({"url": receiver.url}, services)
    assert str(failed.value) == (
        "The webhook was not delivered after 1 attempt. The receiver answered 400: bad field: total"
    )
    assert len(receiver.requests) == 1
    assert services.pauses == []


def test_a_private_address_fails_at_once_without_a_request(receiver, run_webhook) -> None:
    services = WorkerServices(allow_private_urls=False)
    with pytest.raises(StepFailed) as failed:
        run_webhook({"url": receiver.url}, services)
    assert str(failed.value) == (
        "This address points to a private network, which Pyq may not call. "
        "Webhooks can only be sent to public addresses."
    )
    assert receiver.requests == []
    assert services.pauses == []


def test_a_refused_name_does_not_reveal_its_internal_address(run_webhook, monkeypatch) -> None:
    # Given a name that resolves to an address on the internal network
    def resolve(host, port, *args, **kwargs):
        assert host == "billing.internal.example"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    services = WorkerServices(allow_private_urls=False)
    # When a webhook is sent to it Then it is refused, and neither the message nor the
    # step's output says what the name resolves to
    with pytest.raises(StepFailed) as failed:
        run_webhook({"url": "http://billing.internal.example/hook"}, services)
    assert str(failed.value) == (
        "This address points to a private network, which Pyq may not call. "
        "Webhooks can only be sent to public addresses."
    )
    assert "10.0.0.5" not in repr(failed.value.__dict__)


def test_in_memory_services_refuse_private_addresses(receiver, make_context) -> None:
    # Given the in-memory services (the playground's, the command line's): no setting
    context = make_context("x", services=FakeServices())
    # When the step runs Then the loopback receiver is refused
    with pytest.raises(StepFailed):
        get_step("webhook").run(context, {"url": receiver.url})
    assert receiver.requests == []


def test_a_refused_connection_is_retried_and_logged_without_status(run_webhook) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    services = WorkerServices()
    with pytest.raises(StepFailed) as failed:
        run_webhook({"url": f"http://127.0.0.1:{port}/", "attempts": 2}, services)
    assert str(failed.value) == (
        "The webhook was not delivered after 2 attempts. Could not reach 127.0.0.1: "
        "Connection refused. (answers: no answer, no answer)"
    )
    assert len(services.pauses) == 1


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "Send to a webhook: configuration: 'url' is a required property"),
        (
            {"url": "https://hooks.example/in", "attempts": 0},
            "Send to a webhook: attempts: 0 is less than the minimum of 1",
        ),
        (
            {"url": "https://hooks.example/in", "attempts": 11},
            "Send to a webhook: attempts: 11 is greater than the maximum of 10",
        ),
        (
            {"url": "https://hooks.example/in", "timeout": 31},
            "Send to a webhook: timeout: 31 is greater than the maximum of 30",
        ),
        (
            {"url": "ftp://hooks.example/in"},
            "Send to a webhook: url: use an http:// or https:// address.",
        ),
        ({"url": "https:///in"}, "Send to a webhook: url: the address has no host name."),
        (
            {"url": "https://hooks.example/in", "payload": {"total": "Fields..x"}},
            "Send to a webhook: payload.total: 'Fields..x' is not a reference like "
            "'fields.fields.total.value' (a step id, then keys, joined by dots).",
        ),
    ],
)
def test_configuration_is_checked_when_the_pipeline_is_parsed(config, message) -> None:
    with pytest.raises(StepConfigError) as refused:
        parse_pipeline([{"step": "webhook", "config": config}])
    assert str(refused.value) == message


def test_configuration_defaults() -> None:
    [spec] = parse_pipeline([{"step": "webhook", "config": {"url": "https://hooks.example/in"}}])
    assert spec.config == {"url": "https://hooks.example/in", "attempts": 4, "timeout": 10}


def test_backoff_grows_exponentially_with_full_jitter_up_to_the_cap(monkeypatch) -> None:
    monkeypatch.setattr(webhook._random, "uniform", lambda low, high: (low, high))
    assert [backoff_seconds(n) for n in (1, 2, 3, 5, 6, 9)] == [
        (0, 1.0),
        (0, 2.0),
        (0, 4.0),
        (0, 16.0),
        (0, 30.0),
        (0, 30.0),
    ]


def test_verify_signature_rejects_malformed_input() -> None:
    body = b'{"a":1}'
    good = sign(SECRET, "1700000000", body)
    assert verify_signature(SECRET, "1700000000", body, good, now=1700000100)
    assert verify_signature(SECRET, 1700000000, body.decode(), good, now=1700000100)
    assert not verify_signature(SECRET, "1700000000", body, good, now=1700000301)
    assert not verify_signature(SECRET, "1700000000", body, good, now=1699999699)  # future
    assert not verify_signature(SECRET, "soon", body, good, now=1700000000)
    assert not verify_signature(SECRET, "1700000000", body, "sha256=ünïcode", now=1700000000)
    assert not verify_signature(SECRET, "1700000000", body, "", now=1700000000)
