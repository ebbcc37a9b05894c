"""The names of the run tasks and the queue each goes to: the one routing table of runs;
and the two numbers of their delivery that settings needs (docs/architecture.md, 35).

Django-free, so that settings assembles CELERY_TASK_ROUTES from it (with catalog/routes.py).
The names are pinned to where the tasks were first defined (automations/tasks.py), so that
messages already with the broker still find their task after a move.
"""

from __future__ import annotations

PROCESS_RUN = "automations.tasks.process_run"
PROCESS_RUNS = "automations.tasks.process_runs"
RECOVER_RUNS = "automations.tasks.recover_runs"

ROUTES: dict[str, dict[str, str]] = {
    PROCESS_RUN: {"queue": "ml"},  # a run's steps load models
    PROCESS_RUNS: {"queue": "ml"},  # the runs of a multi-file upload, in batches
    RECOVER_RUNS: {"queue": "default"},  # the beat's sweep: database rows only
}

# How often the beat sends the sweeper (recovery.sweep): a run whose worker died waits at
# most its 30 s lease and this long before it is queued again.
SWEEP_SECONDS = 15.0
# Redis gives a message a worker took and never acknowledged (the worker died) to another
# after this many seconds (its visibility timeout); the sweeper nudges a queued run whose
# message went out this long ago again, since on the embedded broker it died with its worker.
REDELIVER_SECONDS = 300
