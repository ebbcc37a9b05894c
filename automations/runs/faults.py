"""What goes wrong for a whole batch of runs and what for one document, in words a person reads.

The runs of a batch share a worker, a database connection and a time limit: when one of those
fails (BATCH_ERRORS) every run of the batch stops, and the task's retry (or the time limit's
message) speaks for all of them. Anything else that goes wrong concerns one document (its
file is gone, a parser or a model crashed on it, its results could not be saved) and fails
its run alone, with its reason, while the other runs of the batch go on (ADR 32).
"""

from __future__ import annotations

from celery.exceptions import SoftTimeLimitExceeded
from django.db import InterfaceError, OperationalError

BATCH_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,  # the database went away: the task retries, the runs resume
    InterfaceError,
    SoftTimeLimitExceeded,  # the run time limit: every run of the batch ran past it
)

MISSING_FILE = (
    "This document's file is missing from storage (it was deleted or moved after the "
    "upload), so it cannot be read. Upload it again."
)


def fault(while_: str, exc: BaseException) -> str:
    """The message of a run that failed on our side, without the exception's own words
    (they may name paths or internals); the log has the traceback."""
    return (
        f"Something went wrong on our side while {while_} ({type(exc).__name__}). "
        "It has been logged; retry the run later."
    )
