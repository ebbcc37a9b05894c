"""How a step says it cannot go on: a configuration to fix, a failure to show, one to retry.

Pure Python. automations.engine.steps re-exports these names (steps import them from there).
"""

from __future__ import annotations


class StepConfigError(ValueError):
    """A configuration a person must fix; the message names the field."""


class StepFailed(Exception):
    """The step could not do its work; the message is shown to the user as it is.

    `output` keeps what the step did before it failed (a webhook's attempts), for the run's
    history."""

    def __init__(self, message: str, output: dict | None = None) -> None:
        super().__init__(message)
        self.output = output or {}


class StepTimeout(StepFailed):
    pass


class StepTransient(StepFailed):
    """The step failed for a reason that may pass (a remote 503, a timeout, a lock): the
    engine tries it again for that document, with growing pauses, a few times."""
