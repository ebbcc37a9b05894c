"""Steps for the recovery test, imported only by the worker processes it starts
(``celery worker --include tests.e2e.blocking_steps``): importing this module registers
them. Each call is appended to the file named by PYQ_TEST_STEP_LOG, so the test can count
what ran in which process; test_block waits until the file PYQ_TEST_RELEASE exists."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import ClassVar

from automations.engine.steps import StepContext, StepFailed, StepOutcome, register

WAIT_LIMIT = 60.0  # seconds test_block waits for its release before it gives up


def _note(line: str) -> None:
    with open(os.environ["PYQ_TEST_STEP_LOG"], "a") as fh:
        fh.write(f"{line} {os.getpid()}\n")


@register
class MarkStep:
    name: ClassVar[str] = "test_mark"
    kind: ClassVar[str] = "transform"
    label: ClassVar[str] = "Mark"
    description: ClassVar[str] = "Notes that it ran."
    config_schema: ClassVar[dict] = {
        "type": "object",
        "properties": {"tag": {"type": "string", "default": "mark"}},
    }

    def run(self, context: StepContext, config: dict) -> StepOutcome:
        _note(config["tag"])
        return StepOutcome({"tag": config["tag"]})


@register
class BlockStep:
    name: ClassVar[str] = "test_block"
    kind: ClassVar[str] = "transform"
    label: ClassVar[str] = "Block"
    description: ClassVar[str] = "Waits until the test releases it."
    config_schema: ClassVar[dict] = {"type": "object"}

    def run(self, context: StepContext, config: dict) -> StepOutcome:
        _note("block-start")
        release = Path(os.environ["PYQ_TEST_RELEASE"])
        deadline = time.monotonic() + WAIT_LIMIT
        while not release.exists():
            if time.monotonic() > deadline:
                raise StepFailed("The test never released this step.")
            time.sleep(0.05)
        _note("block-end")
        return StepOutcome({"released": True})
