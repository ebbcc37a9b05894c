"""What a batch of runs writes: step rows through one BatchWriter, and the pages read.

Idempotent: each step's result is a StepRun row per (run, step); a redelivered task skips
the finished steps, and extract_text resumes after the last stored page.

``batch`` gathers a batch's writes, ``steps`` keeps a run's step rows, ``pages`` stores and
loads the pages read.
"""

from automations.runs.store.batch import BatchWriter
from automations.runs.store.pages import load_pages, page_fields, page_text, pages_of, save_page
from automations.runs.store.steps import CurrentStep, StepRunStore, record_action

__all__ = [
    "BatchWriter",
    "CurrentStep",
    "StepRunStore",
    "load_pages",
    "page_fields",
    "page_text",
    "pages_of",
    "record_action",
    "save_page",
]
