"""Fixtures of the API tests: another organization's caller (the owner's, `api`, is in
tests/conftest.py; ApiCaller and caller_for in tests/api/callers.py)."""

from __future__ import annotations

import pytest

from tests.api.callers import ApiCaller, caller_for


@pytest.fixture
def outsider_api(outsider) -> ApiCaller:
    """An API key of another organization."""
    return caller_for(outsider)
