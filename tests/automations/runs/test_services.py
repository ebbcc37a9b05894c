"""The worker's services keep the whole contract steps are written against."""

from __future__ import annotations

import inspect

import pytest

from automations.engine.ports import StepServices
from automations.runs.services import RunServices
from tests.engine.test_ports import MEMBERS, parameters


@pytest.mark.parametrize("member", MEMBERS)
def test_run_services_keep_every_member_with_its_signature(member: str) -> None:
    promised = getattr(StepServices, member)
    kept = getattr(RunServices, member)
    assert isinstance(kept, property) == isinstance(promised, property)
    if inspect.isfunction(promised):
        assert parameters(kept) == parameters(promised)
