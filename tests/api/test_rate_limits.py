"""API rate limits per key and per organization, and the predict endpoint's concurrency slots.

The clock of the limits' windows is fixed by the `clock` fixture: no test waits or races one.
"""

from __future__ import annotations

import datetime
import json
from contextlib import ExitStack

import pytest
from django.conf import settings as django_settings
from django.core.cache import caches
from django.db import connection

from api import models_api, ratelimit
from automations.models import Document
from catalog.concurrency import model_slot
from catalog.services import PlaygroundError
from pyq_site import env
from tests.accounts.test_login_limits import stored_cache_keys
from tests.api.callers import caller_for

pytestmark = pytest.mark.django_db

MODELS_URL = "/api/v1/models"
DOCUMENTS_URL = "/api/v1/documents"
PREDICT_URL = "/api/v1/models/minilm-classifier/predict"
WINDOW_START = 1_800_000_000.0  # a multiple of 60: a minute's window starts here


class Clock:
    def __init__(self) -> None:
        self.now = WINDOW_START + 10

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fixed = Clock()
    monkeypatch.setattr(ratelimit, "_now", fixed)
    return fixed


@pytest.fixture
def limits(settings, clock):
    """Small limits: 3 a minute per key, 5 a minute per organization."""
    settings.PYQ_API_RATE_PER_KEY = (3, 60)
    settings.PYQ_API_RATE_PER_ORG = (5, 60)
    return settings


def rate_headers(response) -> tuple[str, str, str]:
    return (
        response["RateLimit-Limit"],
        response["RateLimit-Remaining"],
        response["RateLimit-Reset"],
    )


# --- Per key ----------------------------------------------------------------------------------


def test_every_response_says_where_the_key_stands(api, limits):
    responses = [api.get(MODELS_URL), api.get("/api/v1/runs/999"), api.post(MODELS_URL)]

    assert [r.status_code for r in responses] == [200, 404, 405]
    assert [rate_headers(r) for r in responses] == [
        ("3", "2", "50"),
        ("3", "1", "50"),
        ("3", "0", "50"),
    ]


def test_a_key_past_its_limit_gets_429_with_retry_after_and_nothing_is_stored(api, limits, owner):
    for _ in range(3):
        assert api.get(MODELS_URL).status_code == 200

    # When the key sends a fourth request in the same minute, an upload
    refused = api.post(DOCUMENTS_URL, {"file": _text_file()})

    # Then it is refused with the API's error shape, when to come back, and its standing
    assert refused.status_code == 429
    assert refused["Retry-After"] == "50"
    assert rate_headers(refused) == ("3", "0", "50")
    assert refused.json() == {
        "error": {
            "code": "rate_limited",
            "message": "Too many requests: this API key may send 3 a minute. "
            "Try again in 50 seconds.",
        }
    }
    assert not Document.objects.filter(organization=owner.org).exists()


def test_the_next_window_lets_the_key_in_again(api, limits, clock):
    for _ in range(4):
        api.get(MODELS_URL)
    clock.now = WINDOW_START + 59
    assert api.get(MODELS_URL)["Retry-After"] == "1"

    clock.now = WINDOW_START + 60

    response = api.get(MODELS_URL)
    assert response.status_code == 200
    assert rate_headers(response) == ("3", "2", "60")


def test_keys_have_their_own_counts(api, owner, limits):
    other = caller_for(owner)
    for _ in range(3):
        api.get(MODELS_URL)
    assert api.get(MODELS_URL).status_code == 429

    response = other.get(MODELS_URL)

    assert response.status_code == 200


def test_an_unauthenticated_request_is_refused_before_counting(client, limits):
    response = client.get(MODELS_URL)
    assert response.status_code == 401
    assert "RateLimit-Limit" not in response


# --- Per organization -------------------------------------------------------------------------


def test_the_organization_limit_counts_all_its_keys_together(api, owner, outsider_api, limits):
    limits.PYQ_API_RATE_PER_KEY = (10, 60)
    second = caller_for(owner)
    for caller in (api, api, second, second):
        assert caller.get(MODELS_URL).status_code == 200
    last = api.get(MODELS_URL)  # the fifth of the organization: its limit
    assert last.status_code == 200
    assert rate_headers(last) == ("5", "0", "50")  # the organization has less left than the key

    refused = second.get(MODELS_URL)

    assert refused.status_code == 429
    assert refused["Retry-After"] == "50"
    assert refused.json()["error"]["message"] == (
        "Too many requests: your organization's API keys together may send 5 a minute. "
        "Try again in 50 seconds."
    )
    # Another organization is not affected
    assert outsider_api.get(MODELS_URL).status_code == 200


def test_a_key_past_its_own_limit_does_not_spend_the_organizations(api, owner, limits):
    for _ in range(3):
        api.get(MODELS_URL)
    for _ in range(10):
        assert api.get(MODELS_URL).status_code == 429

    response = caller_for(owner).get(MODELS_URL)

    assert response.status_code == 200
    assert rate_headers(response) == ("5", "1", "50")  # the organization: 4 of 5 used


def test_limits_turned_off_send_no_headers(api, settings):
    settings.PYQ_API_RATE_PER_KEY = None
    settings.PYQ_API_RATE_PER_ORG = None

    responses = [api.get(MODELS_URL) for _ in range(200)]

    assert {r.status_code for r in responses} == {200}
    assert "RateLimit-Limit" not in responses[-1]


def test_the_default_limits():
    assert django_settings.PYQ_API_RATE_PER_KEY == (120, 60)
    assert django_settings.PYQ_API_RATE_PER_ORG == (600, 60)
    assert django_settings.PYQ_ORG_MAX_PREDICT == 4


# --- The counters live in the shared cache ----------------------------------------------------


def test_the_counters_are_in_the_shared_store(api, limits):
    api.get(MODELS_URL)
    api.get(MODELS_URL)
    prefix = f"{django_settings.CACHES['default']['KEY_PREFIX']}:1:"

    # The store itself holds them (Redis, or the database's cache table) ...
    keys = stored_cache_keys(f"{prefix}api-rate:")
    window = int(WINDOW_START // 60)
    assert keys == [
        f"{prefix}api-rate:key:{api.key.pk}:60:{window}",
        f"{prefix}api-rate:org:{api.key.organization_id}:60:{window}",
    ]
    # ... and a new connection, as another process or a restarted one makes, reads the counts
    fresh = caches.create_connection("default")
    assert [fresh.get(key.removeprefix(prefix)) for key in keys] == [2, 2]
    fresh.close()
    assert rate_headers(api.get(MODELS_URL))[1] == "0"


# --- Predict concurrency --------------------------------------------------------------------


@pytest.fixture
def model_calls(monkeypatch) -> list[str]:
    """The calls that reached the model runner, which answers at once."""
    calls: list[str] = []

    def fake_run_model(org, slug, *, text=None, upload=None, options=None):
        calls.append(text)
        return {
            "error": "",
            "output": {"label": "invoice"},
            "warnings": [],
            "pages": 1,
            "artifacts": [],
        }

    monkeypatch.setattr(models_api, "run_model", fake_run_model)
    return calls


def predict(caller, text: str = "Invoice INV-1"):
    return caller.post(PREDICT_URL, json.dumps({"text": text}), content_type="application/json")


def test_predictions_past_the_organizations_concurrency_limit_get_429(
    api, owner, outsider_api, settings, model_calls
):
    settings.PYQ_ORG_MAX_PREDICT = 2
    with ExitStack() as running:
        # Given two predictions of the organization running
        assert [running.enter_context(model_slot(owner.org)) for _ in range(2)] == [
            True,
            True,
        ]

        # When a third arrives, by any of its keys
        refused = predict(caller_for(owner))

        # Then it is refused, with when to try again, and never reaches a model
        assert refused.status_code == 429
        assert refused["Retry-After"] == "5"
        assert refused.json()["error"] == {
            "code": "too_many_predictions",
            "message": "Your organization already has 2 model calls running, the most at once. "
            "Try again in a few seconds.",
        }
        assert "RateLimit-Limit" in refused
        assert model_calls == []
        # while another organization predicts
        assert predict(outsider_api, "other").status_code == 200
        assert model_calls == ["other"]

    # Once one finishes, a prediction runs and gives its slot back
    assert predict(api).status_code == 200
    with model_slot(owner.org) as first, model_slot(owner.org) as second:
        assert (first, second) == (True, True)


def test_a_running_prediction_holds_its_slot(api, owner, settings, monkeypatch):
    settings.PYQ_ORG_MAX_PREDICT = 1
    seen: list[int] = []

    def run_model_that_calls_again(org, slug, **kwargs):
        seen.append(predict(caller_for(owner)).status_code)  # while this one runs
        return {"error": "", "output": {}, "warnings": [], "pages": 1, "artifacts": []}

    monkeypatch.setattr(models_api, "run_model", run_model_that_calls_again)

    assert predict(api).status_code == 200
    assert seen == [429]


def test_a_failed_prediction_gives_its_slot_back(api, owner, settings, monkeypatch):
    settings.PYQ_ORG_MAX_PREDICT = 1

    def unavailable(org, slug, **kwargs):
        raise PlaygroundError("The model did not answer in time.", status=503)

    monkeypatch.setattr(models_api, "run_model", unavailable)
    assert predict(api).status_code == 503

    with model_slot(owner.org) as free:
        assert free is True


def test_a_slot_left_by_a_crashed_process_expires(owner, settings):
    settings.PYQ_ORG_MAX_PREDICT = 1
    settings.PYQ_PLAYGROUND_TIMEOUT = 120
    held = model_slot(owner.org)
    assert held.__enter__() is True  # and not left yet, as when the process died
    try:
        seconds = stored_expiry(f"model-calls:{owner.org.pk}:0")
    finally:
        held.__exit__(None, None, None)

    assert 170 <= seconds <= 180  # the longest a prediction may wait, and a minute


def stored_expiry(key: str) -> float:
    """Seconds until `key` expires, read from the store itself."""
    config = django_settings.CACHES["default"]
    full_key = f"{config['KEY_PREFIX']}:1:{key}"
    if config["BACKEND"].endswith("RedisCache"):
        import redis

        client = redis.Redis.from_url(config["LOCATION"])
        try:
            return client.ttl(full_key)
        finally:
            client.close()
    from django.utils import timezone

    with connection.cursor() as cursor:
        cursor.execute("SELECT expires FROM pyq_cache WHERE cache_key = %s", [full_key])
        (expires,) = cursor.fetchone()
    if timezone.is_naive(expires):
        expires = timezone.make_aware(expires, datetime.UTC)
    return (expires - timezone.now()).total_seconds()


# --- The setting's format ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "rate"),
    [
        ("120/minute", (120, 60)),
        ("10/second", (10, 1)),
        ("5000/hour", (5000, 3600)),
        ("20000/day", (20000, 86400)),
        ("30/m", (30, 60)),
        (" 7 / s ", (7, 1)),
        ("off", None),
        ("0", None),
    ],
)
def test_env_rate_reads_a_rate(monkeypatch, raw, rate):
    errors: list = []
    monkeypatch.setattr(env, "CONFIG_ERRORS", errors)
    monkeypatch.setenv("PYQ_T", raw)
    assert env.env_rate("PYQ_T", "1/minute") == rate
    assert errors == []


@pytest.mark.parametrize("raw", ["120", "abc", "0/minute", "12/fortnight", "-3/minute", "²/minute"])
def test_env_rate_refuses_anything_else_and_keeps_the_default(monkeypatch, raw):
    errors: list = []
    monkeypatch.setattr(env, "CONFIG_ERRORS", errors)
    monkeypatch.setenv("PYQ_T", raw)
    assert env.env_rate("PYQ_T", "120/minute") == (120, 60)
    assert [(e.id, e.variable) for e in errors] == [("pyq.E001", "PYQ_T")]
    assert "is not a rate; use e.g. 120/minute, or off." in errors[0].message


def _text_file():
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("note.txt", b"Invoice INV-1 total 10 EUR", "text/plain")
