"""Fixtures of tests/pyq_site: a redis-server of the test's own (tests/pyq_site/processes.py)."""

from __future__ import annotations

import pytest

from tests.pyq_site.processes import RedisServer


@pytest.fixture
def redis_server(tmp_path):
    """A running redis-server on a free loopback port; the test may stop and start it."""
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()
