"""Fixtures of the page tests (tests/automations/web)."""

import pytest

from automations.models import Workflow
from automations.workflows import create_workflow, publish
from tests.factories import FIELDS, READ


@pytest.fixture
def published_workflow(owner) -> Workflow:
    """ "Invoice intake" of the owner's organization, published once (version 1, "First cut"):
    read the text, then extract an invoice's fields."""
    flow = create_workflow(owner.org, "Invoice intake", user=owner.user, steps=[READ, FIELDS])
    publish(flow, user=owner.user, note="First cut")
    return flow
