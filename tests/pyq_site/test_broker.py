"""The embedded filesystem broker: a message appears in the queue folder only once whole."""

from __future__ import annotations

import json
import multiprocessing
import os
import uuid

import pytest
from django.conf import settings
from kombu import Connection

from pyq_site import broker


def connection(folder) -> Connection:
    return Connection(
        "filesystem://",
        transport=broker.Transport,
        transport_options={
            "data_folder_in": str(folder),
            "data_folder_out": str(folder),
            "control_folder": str(folder / "control"),
        },
    )


def test_a_message_is_renamed_into_place_after_it_is_written(tmp_path, monkeypatch):
    # A queue of its own: kombu keeps the bindings it made per transport class, for every
    # folder, so a "default" bound by another test's connection would not be bound here.
    name = f"q{uuid.uuid4().hex}"
    seen: list[tuple[list[str], dict]] = []
    real_replace = os.replace

    def replace(src, dst):
        # what a consumer polling the folder could take at this moment, and the file's content
        visible = [n for n in os.listdir(tmp_path) if n.endswith(f".{name}.msg")]
        with open(src) as fh:
            seen.append((visible, json.loads(fh.read())))
        real_replace(src, dst)

    monkeypatch.setattr(broker.os, "replace", replace)
    with connection(tmp_path) as conn:
        queue = conn.SimpleQueue(name)
        queue.put({"run": 42, "text": "x" * 100_000})

        [(visible, payload)] = seen
        assert visible == []  # nothing a consumer could read half
        assert payload["properties"]["delivery_info"]["routing_key"] == name
        assert (
            [n for n in os.listdir(tmp_path) if ".msg" in n]
            == [n for n in os.listdir(tmp_path) if n.endswith(f".{name}.msg")]
            != []
        )
        message = queue.get(timeout=1)
        assert message.payload == {"run": 42, "text": "x" * 100_000}
        message.ack()
        queue.close()


def produce(folder, count: int) -> None:
    with connection(folder) as conn:
        queue = conn.SimpleQueue("default")
        for n in range(count):
            queue.put({"n": n, "pad": "y" * 1_000_000})  # large: each write takes a while
        queue.close()


def test_a_consumer_polling_while_another_process_writes_reads_every_message_whole(tmp_path):
    count = 20
    producer = multiprocessing.get_context("spawn").Process(target=produce, args=(tmp_path, count))
    producer.start()
    try:
        with connection(tmp_path) as conn:
            queue = conn.SimpleQueue("default")
            got = []
            while len(got) < count:
                message = queue.get(timeout=30)
                got.append(message.payload["n"])
                message.ack()
            queue.close()
    finally:
        producer.join(timeout=30)
    assert sorted(got) == list(range(count))
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".part")]


@pytest.mark.skipif(
    not settings.CELERY_BROKER_URL.startswith("filesystem"), reason="another broker is set"
)
def test_pyq_uses_it_for_the_filesystem_broker():
    from pyq_site.celery import app

    with app.connection_for_write() as conn:
        assert isinstance(conn.transport, broker.Transport)
