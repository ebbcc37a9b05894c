"""Run an ordered list of steps over one document, resuming after the last finished step.

The store (the Django side keeps StepRun rows; the command line keeps a dict) records each
step's result per (run, step id): a redelivered task finds the finished steps and skips them.

A step may carry a condition: ``when`` (it runs only if its rules hold on the earlier
steps' outputs, automations.engine.conditions) or ``otherwise_of`` (it runs only when the
named earlier step was skipped because its ``when`` did not hold). A skipped step is
recorded as skipped, with the reason; references into its output find nothing. Conditions
are checked again when a run resumes: they depend only on stored outputs, so the answer is
the same.

A step that raises StepTransient is tried again for that document, after a pause that
grows with each attempt (RetryPolicy); any other StepFailed fails the document at once.
In a worker's batch any other exception (a bug, a parser's or a model's crash) fails only
the document it happened to, except those that concern the whole batch (`batch_errors`).

By role: ``check`` (parse_pipeline, check_pipeline, StepSpec), ``stores`` (StepStore,
MemoryStore, log_line), ``retry`` (RetryPolicy), ``run`` (run_pipeline, run_pipeline_batch,
decide, input_of).
"""

from __future__ import annotations

from automations.engine.pipeline.check import Problem, StepSpec, check_pipeline, parse_pipeline
from automations.engine.pipeline.retry import RetryPolicy
from automations.engine.pipeline.run import (
    MAX_INPUT_CHARS,
    decide,
    input_of,
    run_pipeline,
    run_pipeline_batch,
)
from automations.engine.pipeline.stores import MemoryStore, StepStore, log_line

__all__ = [
    "MAX_INPUT_CHARS",
    "MemoryStore",
    "Problem",
    "RetryPolicy",
    "StepSpec",
    "StepStore",
    "check_pipeline",
    "decide",
    "input_of",
    "log_line",
    "parse_pipeline",
    "run_pipeline",
    "run_pipeline_batch",
]
