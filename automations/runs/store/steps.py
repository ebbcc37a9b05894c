"""Step results as StepRun rows, one per (run, position), written through the batch's
BatchWriter, and the action a step begins outside Pyq, written at once.

Idempotent: a redelivered task skips the finished steps, and a step whose worker was lost
starts again on its own row, keeping what it logged and the action it began.
"""

from __future__ import annotations

from typing import Protocol

from django.utils import timezone

from automations.engine.pipeline import StepSpec, log_line
from automations.engine.steps import StepFailed, StepOutcome
from automations.models import Run, StepRun
from automations.runs.store.batch import BatchWriter


class CurrentStep(Protocol):
    """The run's services, told which step runs now (its artifacts are filed under it, its
    actions are recorded on its row)."""

    current_step: str
    current_row: StepRun | None


class StepRunStore:
    """Step results as StepRun rows, one per (run, position).

    The run's step rows come with the run (prefetched); a step that starts makes one row
    (or reuses the row of an earlier attempt) and its end changes it. The writes go through
    the batch's BatchWriter, which sends them when the engine flushes. Log lines the engine
    adds are kept with the step's next change of state.
    """

    def __init__(self, run: Run, services: CurrentStep, writer: BatchWriter | None = None) -> None:
        self.run = run
        self.services = services
        self.writer = writer or BatchWriter([run])
        self.rows = {row.position: row for row in run.steps.all()}
        self.current: dict[str, StepRun] = {}  # step id -> its row in this execution
        self.pending: dict[str, list[dict]] = {}  # log lines not written yet
        self.position = 0
        self.reported = False  # whether the engine was told this run's writes failed

    def flush(self) -> None:
        """Send the batch's gathered writes; StepFailed, once, when this run's could not be
        made (the engine fails the document with the reason)."""
        self.writer.flush()
        reason = self.writer.broken.get(self.run.pk)
        if reason and not self.reported:
            self.reported = True
            raise StepFailed(reason)

    def finished_output(self, spec: StepSpec) -> dict | None:
        for row in self.rows.values():
            if row.step_id == spec.id and row.status == StepRun.Status.SUCCEEDED:
                return row.output
        return None

    def log(self, spec: StepSpec, level: str, message: str) -> None:
        self.pending.setdefault(spec.id, []).append(log_line(level, message))

    def started(self, position: int, spec: StepSpec, input: dict) -> None:
        self.position = position
        self._check_not_canceled()
        self.services.current_step = spec.id
        earlier = self.rows.get(position)
        history: list[dict] = []
        attempts = 0
        same_step = earlier is not None and earlier.step_id == spec.id
        if same_step and earlier is not None and earlier.status == StepRun.Status.RUNNING:
            # The worker that ran this step before was lost: keep what it logged.
            history = [
                *earlier.log,
                log_line("warning", "The worker running this step stopped; it starts again."),
            ]
            attempts = earlier.attempts
        kept: dict = {} if same_step else {"action": {}}  # the action begun by this step is kept
        self._write(
            position,
            spec,
            status=StepRun.Status.RUNNING,
            started_at=timezone.now(),
            finished_at=None,
            error="",
            input=input,
            output={},
            warnings=[],
            seconds=None,
            attempts=attempts + 1,
            log=[*history, *self.pending.pop(spec.id, [])],
            **kept,
        )
        self.services.current_row = self.current[spec.id]
        self.writer.beat.add(self.run.pk)

    def retrying(self, spec: StepSpec, attempt: int) -> None:
        self.writer.flush()  # a pause follows: show the attempt (and see a cancel) first
        self._check_not_canceled(fresh=True)
        row = self.current[spec.id]
        self.writer.update(
            row, {"attempts": attempt, "log": [*row.log, *self.pending.pop(spec.id, [])]}
        )
        self.writer.beat.add(self.run.pk)

    def skipped(self, position: int, spec: StepSpec, reason: str, input: dict) -> None:
        now = timezone.now()
        self._write(
            position,
            spec,
            status=StepRun.Status.SKIPPED,
            started_at=now,
            finished_at=now,
            error="",
            input=input,
            output={},
            warnings=[],
            seconds=0.0,
            attempts=0,
            log=self.pending.pop(spec.id, []),
        )

    def succeeded(self, spec: StepSpec, outcome: StepOutcome, seconds: float) -> None:
        self._finish_step(
            spec,
            status=StepRun.Status.SUCCEEDED,
            output=outcome.output,
            warnings=outcome.warnings,
            seconds=seconds,
        )
        if outcome.warnings:
            self.writer.update_run(self.run, {"warnings": [*self.run.warnings, *outcome.warnings]})

    def failed(
        self, spec: StepSpec, message: str, seconds: float, output: dict | None = None
    ) -> None:
        self._finish_step(
            spec, status=StepRun.Status.FAILED, error=message, output=output or {}, seconds=seconds
        )

    def _finish_step(self, spec: StepSpec, *, seconds: float, **changes) -> None:
        row = self.current[spec.id]
        changes.update(
            finished_at=timezone.now(),
            seconds=round(seconds, 3),
            log=[*row.log, *self.pending.pop(spec.id, [])],
        )
        self.writer.update(row, changes)

    def _write(self, position: int, spec: StepSpec, **fields) -> None:
        """The row at this position becomes this step's (a row of an earlier attempt, or
        of a step an earlier version had there, is reused)."""
        fields.update(step_id=spec.id, step=spec.step)
        row = self.rows.get(position)
        if row is not None:
            self.writer.update(row, fields)
        else:
            row = StepRun(run=self.run, position=position, **fields)
            self.writer.create(row)
            self.rows[position] = row
        self.current[spec.id] = row

    def _check_not_canceled(self, fresh: bool = False) -> None:
        if fresh:
            self.writer._canceled = None
        if self.writer.canceled(self.run.pk, self.position):
            raise StepFailed("The run was canceled.")


def record_action(row: StepRun, kind: str, key: str) -> bool:
    """Write on the step's row, at once (not with the batch), that the step is about to act
    outside Pyq with `key`, so that a resumed step knows it may have acted. True when an
    earlier execution of the step began the same action: this one is a repeat."""
    earlier = row.action if row.action.get("key") == key else {}
    executions = earlier.get("executions", 0) + 1
    row.action = {
        "kind": kind,
        "key": key,
        "executions": executions,
        "began_at": earlier.get("began_at") or timezone.now().isoformat(timespec="seconds"),
    }
    changes: dict = {"action": row.action}
    if executions > 1:
        row.log = [*row.log, log_line("warning", repeat_line(kind, key))]
        changes["log"] = row.log
    StepRun.objects.filter(pk=row.pk).update(**changes)
    return executions > 1


def repeat_line(kind: str, key: str) -> str:
    """What the step's log says when it acts again after a restart."""
    return (
        f"This step had begun its {kind} before its worker stopped; it acts again with the "
        f"same key {key}, by which the receiver can tell the repeat."
    )
