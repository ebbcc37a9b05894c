"""Fixtures shared by automations' tests (tests/automations and its rooms)."""

import pytest

from automations.models import DataTable
from tests.automations.helpers import TABLE_ROWS, add_rows


@pytest.fixture
def table(org) -> DataTable:
    """A table "Expenses" with the five TABLE_ROWS, each added by its own run."""
    return add_rows(org, TABLE_ROWS)
