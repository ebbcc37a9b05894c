import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pyq_site.settings")
# Torch's OpenMP threads spin while they wait by default; on a worker that shares its cores
# with other processes that made a warm classify call 5x slower (bench/latency.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

app = Celery("pyq")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# The run tasks live in automations/runs/tasks.py (names pinned to automations.tasks.*).
app.autodiscover_tasks(["automations.runs"])
