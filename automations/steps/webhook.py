"""Webhook: POST the document's results as JSON to a URL, signed, retried with backoff.

The body is ``{"document": {"name", "kind"}, "data": {...}, "sent_at": iso}``. With a
secret, each attempt carries ``X-Pyq-Timestamp: <unix seconds>`` and
``X-Pyq-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">``; receivers check it
with ``verify_signature`` below. Every request carries ``X-Pyq-Delivery``, the action's key
(``begin_action``): the same on every attempt, retry and resumption of this step of this run,
so that receivers skip a repeat by it. Requests go through automations.outbound, which
refuses private addresses unless the worker's ``allow_private_urls`` says otherwise.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import time
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

from automations import outbound
from automations.engine.refs import is_reference, lookup
from automations.engine.steps import (
    StepConfigError,
    StepContext,
    StepFailed,
    StepOutcome,
    register,
)
from automations.steps._common import ValidatingStep

logger = logging.getLogger(__name__)

BACKOFF_BASE = 1.0  # seconds
BACKOFF_CAP = 30.0
SIGNATURE_TOLERANCE = 300  # seconds a receiver should accept a timestamp for
USER_AGENT = "Pyq-Webhook/1"

_random = random.Random()  # noqa: S311  (jitter for pauses, not a secret)


@register
class WebhookStep(ValidatingStep):
    name: ClassVar[str] = "webhook"
    kind: ClassVar[str] = "deliver"
    label: ClassVar[str] = "Send to a webhook"
    description: ClassVar[str] = (
        "Posts the results as JSON to your URL, signed with your secret, and tries again "
        "with growing pauses when the receiver is down."
    )
    output_hints: ClassVar[list[str]] = ["delivered", "delivery"]
    config_schema: ClassVar[dict] = {
        "type": "object",
        "properties": {
            "url": {"type": "string", "format": "uri", "minLength": 1, "maxLength": 2000},
            "secret": {
                "type": "string",
                "maxLength": 500,
                "title": "Signing secret",
                "description": "When set, each request carries X-Pyq-Timestamp and "
                "X-Pyq-Signature (sha256 HMAC of '<timestamp>.<body>').",
            },
            "payload": {
                "type": "object",
                "x-ref": "map",
                "maxProperties": 100,
                "description": "Output name to '<step id>.<path>', e.g. "
                "'fields.fields.total.value'; by default every earlier step's output.",
                "propertyNames": {"minLength": 1, "maxLength": 100},
                "additionalProperties": {"type": "string", "maxLength": 300},
            },
            "attempts": {"type": "integer", "minimum": 1, "maximum": 10, "default": 4},
            "timeout": {"type": "number", "minimum": 1, "maximum": 30, "default": 10},
        },
        "required": ["url"],
        "additionalProperties": False,
    }

    @classmethod
    def check(cls, config: dict) -> None:
        try:
            parts = urlsplit(config["url"])
            parts.port  # noqa: B018  (raises ValueError for a bad port)
        except ValueError as exc:
            raise StepConfigError(f"{cls.label}: url: {exc}.") from None
        if parts.scheme.lower() not in ("http", "https"):
            raise StepConfigError(f"{cls.label}: url: use an http:// or https:// address.")
        if not parts.hostname:
            raise StepConfigError(f"{cls.label}: url: the address has no host name.")
        if parts.username or parts.password:
            raise StepConfigError(
                f"{cls.label}: url: remove the user name and password from the address; "
                "use the signing secret to prove requests come from Pyq."
            )
        for name, reference in (config.get("payload") or {}).items():
            if not is_reference(reference):
                raise StepConfigError(
                    f"{cls.label}: payload.{name}: {reference!r} is not a reference like "
                    "'fields.fields.total.value' (a step id, then keys, joined by dots)."
                )

    def run(self, context: StepContext, config: dict) -> StepOutcome:
        config = self.validate(config)
        data, warnings = build_payload(context.outputs, config.get("payload"))
        body = encode_body(context, data)
        action = context.services.begin_action("webhook")  # recorded before the first request
        delivery = action.key
        wait = context.services.sleep
        allow_private = context.services.allow_private_urls
        attempts: list[dict] = []
        host = urlsplit(config["url"]).hostname
        for n in range(1, config["attempts"] + 1):
            headers = request_headers(body, config.get("secret"), delivery)
            attempt, transient = _attempt(config, body, headers, allow_private, n)
            attempts.append(attempt)
            logger.info(
                "webhook %s attempt %d to %s: status %s %s",
                delivery,
                n,
                host,
                attempt["status"],
                attempt["error"],
            )
            if attempt["error"] == "":
                output = _output(True, delivery, attempts, action.repeat)
                return StepOutcome(output=output, warnings=warnings)
            if not transient or n == config["attempts"]:
                break
            wait(backoff_seconds(n))
        failed = _output(False, delivery, attempts, action.repeat)
        raise StepFailed(_failure_message(attempts), output=failed)


def _output(delivered: bool, delivery: str, attempts: list[dict], repeat: bool) -> dict:
    """The step's output; `repeat` only when a restarted step sent again with the same id."""
    output = {"delivered": delivered, "delivery": delivery, "attempts": attempts}
    return {**output, "repeat": True} if repeat else output


def _attempt(
    config: dict, body: bytes, headers: dict, allow_private: bool, n: int
) -> tuple[dict, bool]:
    """One request: its log entry and whether another try may help."""
    began = time.monotonic()
    status: int | None = None
    try:
        response = outbound.post_json(
            config["url"],
            body,
            headers,
            timeout=config["timeout"],
            allow_private=allow_private,
        )
    except outbound.OutboundBlocked as exc:
        # Never say which address the name resolved to (that would map the private
        # network for whoever configures the URL); the operator's log has it.
        logger.warning("webhook to %s refused: %s is private", exc.host, exc.address)
        raise StepFailed(
            f"{outbound.BLOCKED_MESSAGE} Webhooks can only be sent to public addresses."
        ) from None
    except outbound.OutboundError as exc:
        error, transient = str(exc), exc.transient
    else:
        status = response.status
        transient = response.transient
        error = "" if 200 <= status < 300 else _status_error(response)
    seconds = round(time.monotonic() - began, 3)
    return {"n": n, "status": status, "error": error, "seconds": seconds}, transient


def _status_error(response: outbound.Response) -> str:
    error = f"The receiver answered {response.status}"
    if 300 <= response.status < 400:
        return error + " (only 307 and 308 redirects are followed)."
    text = " ".join(response.body_preview[:2000].decode("utf-8", "replace").split())[:200]
    return f"{error}: {text}" if text else error + "."


def _failure_message(attempts: list[dict]) -> str:
    last = attempts[-1]
    tries = "1 attempt" if len(attempts) == 1 else f"{len(attempts)} attempts"
    message = f"The webhook was not delivered after {tries}. {last['error']}"
    if len(attempts) > 1:
        answers = ", ".join(str(a["status"]) if a["status"] else "no answer" for a in attempts)
        message += f" (answers: {answers})"
    return message


def build_payload(outputs: dict[str, Any], mapping: dict[str, str] | None) -> tuple[dict, list]:
    """The ``data`` object: each mapped name's referenced value (null and a warning when
    the reference finds nothing), or every earlier step's output without a mapping."""
    if not mapping:
        return dict(outputs), []
    data: dict[str, Any] = {}
    warnings: list[str] = []
    for name, reference in mapping.items():
        found, value = lookup(outputs, reference)
        if not found:
            warnings.append(f"payload.{name}: {reference} was not found; null was sent.")
        data[name] = value
    return data, warnings


def encode_body(context: StepContext, data: dict) -> bytes:
    document = {"name": context.document.name, "kind": context.document.kind}
    sent_at = datetime.now(UTC).isoformat(timespec="seconds")
    body = {"document": document, "data": data, "sent_at": sent_at}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def request_headers(body: bytes, secret: str | None, delivery: str) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Pyq-Delivery": delivery,  # the same on every attempt and resumption: skip repeats
    }
    if secret:
        timestamp = str(int(time.time()))
        headers["X-Pyq-Timestamp"] = timestamp
        headers["X-Pyq-Signature"] = sign(secret, timestamp, body)
    return headers


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def backoff_seconds(attempt: int) -> float:
    """Exponential backoff with full jitter: a random pause up to base * 2^(attempt-1),
    capped, so that many failing deliveries do not all come back at once."""
    return _random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1)))


def verify_signature(
    secret: str,
    timestamp: str | int,
    body: bytes | str,
    signature: str,
    *,
    tolerance: int = SIGNATURE_TOLERANCE,
    now: float | None = None,
) -> bool:
    """Check a webhook request (receivers may copy this function; it needs only hashlib,
    hmac and time): the X-Pyq-Signature header ``signature`` must be the HMAC of
    ``"<timestamp>.<body>"`` with ``secret``, and the X-Pyq-Timestamp within
    ``tolerance`` seconds of now, so a recorded request cannot be replayed later."""
    stamp = str(timestamp)
    try:
        sent = int(stamp)
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - sent) > tolerance:
        return False
    raw = body.encode() if isinstance(body, str) else body
    digest = hmac.new(secret.encode(), stamp.encode() + b"." + raw, hashlib.sha256)
    expected = f"sha256={digest.hexdigest()}".encode()
    return hmac.compare_digest(expected, (signature or "").encode())
