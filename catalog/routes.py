"""The names of the catalog's Celery tasks and the queue each goes to (see catalog/tasks.py).

Django-free, so that settings assembles CELERY_TASK_ROUTES from it (with
automations/runs/routes.py).
"""

from __future__ import annotations

PREDICT = "catalog.tasks.predict_task"

ROUTES: dict[str, dict[str, str]] = {
    PREDICT: {"queue": "ml"},  # the playground's and the predict API's model calls
}
