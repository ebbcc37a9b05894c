"""Property-based: schemathesis sends requests made from the OpenAPI schema to every
operation but predict (it runs models) and checks that each answer is documented: its status,
its JSON against its schema, no server error, 405 for methods the schema does not list, and
requests the schema refuses are refused. schemathesis is a dev dependency (make install);
the test is skipped only where it is missing. It found the schema's mistakes and a 500 on
PostgreSQL (runs' since/until offsets) when it was written."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

schemathesis = pytest.importorskip("schemathesis")

from django.core.signals import request_finished, request_started  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.db import close_old_connections  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import negative_data_rejection, positive_data_acceptance  # noqa: E402

from api.openapi import schema as openapi_schema  # noqa: E402

APP = get_wsgi_application()
SCHEMA = schemathesis.openapi.from_dict(openapi_schema())
SCHEMA.app = APP  # requests go to Pyq's WSGI application, in this process


@pytest.fixture
def key(api, published, sent, settings) -> Iterator[str]:
    """The owner's key, with a published workflow to find; no rate limit. The WSGI handler
    closes the database connection after each request, which would close the test's
    transaction: not while this runs."""
    settings.ALLOWED_HOSTS = ["*"]
    settings.PYQ_API_RATE_PER_KEY = None
    settings.PYQ_API_RATE_PER_ORG = None
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield api.raw
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@SCHEMA.exclude(path_regex="predict").parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_answers_match_the_schema(case, key):
    # Not checked: that every request the schema allows is accepted. A file's contents and
    # since <= until are rules a schema cannot say; uploads may also answer 413 to too much.
    excluded = [positive_data_acceptance]
    if case.method == "POST":
        excluded.append(negative_data_rejection)
    case.call_and_validate(
        headers={"Authorization": f"Bearer {key}"}, app=APP, excluded_checks=excluded
    )
