"""Brokers a test owns, to stop and start again: a redis-server on a free port
(tests/pyq_site/processes.py), or the embedded filesystem broker in a folder of its own; and
a Celery app of Pyq's settings that sends to it, made the current app for the test, so that
runs/queue.py sends there."""

from __future__ import annotations

import shutil
from pathlib import Path

from celery import Celery

from pyq_site.celery import app as pyq_app
from tests.pyq_site.processes import REDIS_SERVER, RedisServer


class RedisBroker(RedisServer):
    """A redis-server of this test's own (nothing persisted): stopped, it refuses every
    connection, as a Redis that is down does."""

    missing = "" if REDIS_SERVER else "redis-server is not installed (apt-get install redis-server)"

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        super().__init__(folder)
        self.app: Celery | None = None

    def configure(self, app: Celery) -> None:
        app.conf.broker_url = self.url
        app.conf.broker_transport = None
        app.conf.broker_transport_options = {"visibility_timeout": 300}


class FilesystemBroker:
    """The embedded broker (pyq_site/broker.py) in a folder of this test's own: stopped,
    its folder is gone and every message fails to be written."""

    missing = ""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.app: Celery | None = None

    def start(self) -> None:
        for name in ("queue", "processed", "control"):
            (self.folder / name).mkdir(parents=True, exist_ok=True)

    def stop(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def configure(self, app: Celery) -> None:
        app.conf.broker_url = "filesystem://"
        app.conf.broker_transport = "pyq_site.broker:Transport"
        app.conf.broker_transport_options = {
            "data_folder_in": str(self.folder / "queue"),
            "data_folder_out": str(self.folder / "queue"),
            "processed_folder": str(self.folder / "processed"),
            "control_folder": str(self.folder / "control"),
            "polling_interval": 0.01,
            "store_processed": False,
        }


def app_for(broker: RedisBroker | FilesystemBroker) -> Celery:
    """A Celery app with Pyq's settings (routes, acknowledgement, limits) that sends to
    `broker` and keeps no results (broker.app); it is the current app until restore_app()."""
    app = Celery("pyq-test", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    broker.configure(app)
    app.conf.result_backend = None
    app.conf.task_always_eager = False
    app.set_current()
    broker.app = app
    return app


def restore_app() -> None:
    """Pyq's app again, as this thread's and as the default of every other thread (Celery's
    test worker, start_worker, made the test's app the default: the live server's threads
    would go on sending to the test's stopped broker)."""
    pyq_app.set_current()
    pyq_app.set_default()
