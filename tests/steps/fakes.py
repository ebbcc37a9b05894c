"""Services for step tests: the in-memory ones, recording what a step asks of the world."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from automations.engine.ports import MemoryServices


@dataclass
class FakeServices(MemoryServices):
    """The in-memory services (automations/engine/ports.py), recording what steps ask, with
    a mailer, a table and a document store that answer as the worker's would."""

    shared_embedder: Any = None
    similar: list[dict] = field(default_factory=list)
    saved: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    calls: list[tuple] = field(default_factory=list)
    sent: list[dict] = field(default_factory=list)
    rows: list[tuple[str, dict]] = field(default_factory=list)
    pauses: list[float] = field(default_factory=list)

    def embedder(self, ref: str) -> Any:
        self.calls.append(("embedder", ref))
        return self.shared_embedder

    def save_artifact(self, filename: str, data: bytes, content_type: str) -> str:
        self.saved[filename] = (data, content_type)
        return f"artifact://{filename}"

    def find_similar(self, vector: list[float], threshold: float, limit: int) -> list[dict]:
        self.calls.append(("find_similar", vector, threshold, limit))
        return list(self.similar)

    def store_embedding(self, vector: list[float], model: str = "minilm") -> None:
        self.calls.append(("store_embedding", vector))

    def send_email(self, **message: Any) -> dict:
        self.sent.append(message)
        return {"message_id": f"<{len(self.sent)}@pyq.test>"}

    def append_table_row(self, table: str, values: dict) -> dict:
        self.rows.append((table, values))
        return {"table": table, "row": 40 + len(self.rows)}

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
