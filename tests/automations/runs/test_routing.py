"""Where Celery sends each task: asked of its router, as a worker's producer does."""

from __future__ import annotations

import pytest
from django.conf import settings

from pyq_site.celery import app

PYQ_PREFIXES = ("automations.", "catalog.")


def queue_of(name: str) -> str:
    return app.amqp.router.route({}, name)["queue"].name


def pyq_tasks() -> list[str]:
    app.loader.import_default_modules()  # what a worker imports at start
    return sorted(name for name in app.tasks if name.startswith(PYQ_PREFIXES))


def test_pyq_registers_exactly_these_tasks_under_their_pinned_names():
    assert pyq_tasks() == [
        "automations.tasks.process_run",
        "automations.tasks.process_runs",
        "automations.tasks.recover_runs",
        "catalog.tasks.predict_task",
    ]


@pytest.mark.parametrize(
    "name",
    [
        "automations.tasks.process_run",
        "automations.tasks.process_runs",  # every upload of several files
        "catalog.tasks.predict_task",
    ],
)
def test_tasks_that_run_models_go_to_the_ml_queue(name):
    assert queue_of(name) == "ml"


def test_the_beats_tasks_go_to_the_default_queue():
    names = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert names == {"automations.tasks.recover_runs"}
    assert {queue_of(name) for name in names} == {"default"}


def test_every_task_of_pyq_has_an_explicit_route():
    assert sorted(settings.CELERY_TASK_ROUTES) == pyq_tasks()
    assert "training" not in {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}


def test_the_registered_tasks_are_the_moved_ones():
    """The pinned names lead to the code in automations/runs/tasks.py and catalog/tasks.py."""
    assert app.tasks["automations.tasks.process_run"].__module__ == "automations.runs.tasks"
    assert app.tasks["catalog.tasks.predict_task"].__module__ == "catalog.tasks"
