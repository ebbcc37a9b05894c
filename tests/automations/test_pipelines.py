"""The workflow templates (automations/pipelines.py) are valid pipelines."""

import pytest

from automations.engine.pipeline import parse_pipeline
from automations.pipelines import WORKFLOW_TEMPLATES


@pytest.mark.parametrize("slug", sorted(WORKFLOW_TEMPLATES))
def test_every_template_is_a_valid_pipeline(slug):
    steps = parse_pipeline(WORKFLOW_TEMPLATES[slug]["steps"])
    assert steps[0].step == "extract_text"
    assert WORKFLOW_TEMPLATES[slug]["name"]
