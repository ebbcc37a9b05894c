"""Where a run's step results go: the StepStore protocol, a step's log line, and the
in-memory store of one-off runs (command line, playground)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

from automations.engine.pipeline.check import StepSpec
from automations.engine.steps import StepOutcome


def log_line(level: str, message: str) -> dict:
    """One entry of a step's log: {"at": ISO time, "level": info|warning|error, "message"}."""
    at = datetime.now(UTC).isoformat(timespec="milliseconds")
    return {"at": at, "level": level, "message": message}


class StepStore(Protocol):
    """Where a run's step results go. `log` lines are kept with the step's next write
    (started, retrying, skipped, succeeded, failed). A store may also gather its writes
    and offer `flush()`, which the engine calls before a step runs, before a pause between
    attempts and after the step ends; it raises StepFailed when this document's writes
    could not be made, and the document fails with that message."""

    def finished_output(self, spec: StepSpec) -> dict | None: ...
    def log(self, spec: StepSpec, level: str, message: str) -> None: ...
    def started(self, position: int, spec: StepSpec, input: dict) -> None: ...
    def retrying(self, spec: StepSpec, attempt: int) -> None: ...
    def skipped(self, position: int, spec: StepSpec, reason: str, input: dict) -> None: ...
    def succeeded(self, spec: StepSpec, outcome: StepOutcome, seconds: float) -> None: ...
    def failed(
        self, spec: StepSpec, message: str, seconds: float, output: dict | None = None
    ) -> None: ...


class MemoryStore:
    """A store for one-off runs (command line, playground): results live in a dict."""

    def __init__(self) -> None:
        self.results: dict[str, dict] = {}
        self.errors: dict[str, str] = {}
        self.warnings: dict[str, list[str]] = {}
        self.skips: dict[str, str] = {}  # step id -> why it was skipped
        self.inputs: dict[str, dict] = {}
        self.logs: dict[str, list[dict]] = {}
        self.attempts: dict[str, int] = {}

    def finished_output(self, spec: StepSpec) -> dict | None:
        return self.results.get(spec.id)

    def log(self, spec: StepSpec, level: str, message: str) -> None:
        self.logs.setdefault(spec.id, []).append(log_line(level, message))

    def started(self, position: int, spec: StepSpec, input: dict) -> None:
        self.inputs[spec.id] = input
        self.attempts[spec.id] = 1

    def retrying(self, spec: StepSpec, attempt: int) -> None:
        self.attempts[spec.id] = attempt

    def skipped(self, position: int, spec: StepSpec, reason: str, input: dict) -> None:
        self.skips[spec.id] = reason
        self.inputs[spec.id] = input

    def succeeded(self, spec: StepSpec, outcome: StepOutcome, seconds: float) -> None:
        self.results[spec.id] = outcome.output
        self.warnings[spec.id] = outcome.warnings

    def failed(
        self, spec: StepSpec, message: str, seconds: float, output: dict | None = None
    ) -> None:
        self.errors[spec.id] = message
