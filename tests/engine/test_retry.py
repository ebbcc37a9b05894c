"""StepTransient: the engine tries a step again for that document with exponential backoff
and jitter, logs every attempt, and fails at once on any other error. No test sleeps."""

from __future__ import annotations

from typing import ClassVar

import pytest

from automations.engine.fields import PageText
from automations.engine.pipeline import (
    MemoryStore,
    RetryPolicy,
    parse_pipeline,
    run_pipeline,
    run_pipeline_batch,
)
from automations.engine.steps import (
    DocumentInfo,
    StepContext,
    StepFailed,
    StepOutcome,
    StepTransient,
)

CALLS: list[str] = []
FAILURES: dict[str, list[Exception]] = {}  # document name -> what its next calls raise


class RemoteStep:
    """Raises the queued failures for a document, then succeeds."""

    name = "test_remote"
    kind = "deliver"
    label = "Remote"
    description = "Calls a flaky service."
    config_schema: ClassVar[dict] = {"type": "object"}

    def run(self, context: StepContext, config: dict) -> StepOutcome:
        CALLS.append(context.document.name)
        queue = FAILURES.get(context.document.name) or []
        if queue:
            raise queue.pop(0)
        return StepOutcome({"sent": True})


class RemoteBatchStep(RemoteStep):
    name = "test_remote_batch"

    def run_batch(self, contexts: list[StepContext], config: dict) -> list:
        CALLS.append("batch:" + ",".join(c.document.name for c in contexts))
        outcomes: list = []
        for c in contexts:
            queue = FAILURES.get(c.document.name) or []
            outcomes.append(queue.pop(0) if queue else StepOutcome({"sent": len(contexts)}))
        return outcomes


class AfterStep:
    name = "test_after"
    kind = "deliver"
    label = "After"
    description = "Runs after."
    config_schema: ClassVar[dict] = {"type": "object"}

    def run(self, context: StepContext, config: dict) -> StepOutcome:
        CALLS.append("after:" + context.document.name)
        return StepOutcome({})


@pytest.fixture(autouse=True)
def fake_steps(register_steps):
    register_steps(RemoteStep, RemoteBatchStep, AfterStep)
    CALLS.clear()
    FAILURES.clear()


class Clock:
    """Records the pauses instead of sleeping."""

    def __init__(self) -> None:
        self.pauses: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def policy(clock: Clock, attempts: int = 3, base: float = 1.0, jitter: float = 0.5) -> RetryPolicy:
    return RetryPolicy(attempts=attempts, base=base, sleep=clock.sleep, random=lambda: jitter)


def context(name: str = "doc.txt") -> StepContext:
    return StepContext(document=DocumentInfo(name=name, kind="txt"), pages=[PageText(1, "x")])


STEPS = [{"id": "send", "step": "test_remote"}, {"id": "after", "step": "test_after"}]


def messages(store: MemoryStore, step: str = "send") -> list[tuple[str, str]]:
    return [(line["level"], line["message"]) for line in store.logs[step]]


def test_a_transient_failure_is_tried_again_and_then_succeeds(clock):
    FAILURES["doc.txt"] = [StepTransient("The receiver answered 503."), StepTransient("Timed out")]
    store = MemoryStore()

    error = run_pipeline(parse_pipeline(STEPS), context(), store, retry=policy(clock))

    assert error is None
    assert CALLS == ["doc.txt", "doc.txt", "doc.txt", "after:doc.txt"]
    assert clock.pauses == [0.75, 1.5]  # half of 1 s and 2 s, plus half of the other half
    assert store.attempts["send"] == 3
    assert store.results["send"] == {"sent": True}
    log = messages(store)
    assert log[:3] == [
        ("info", "Started."),
        ("warning", "Attempt 1 failed: The receiver answered 503. Trying again in 0.8 s."),
        ("warning", "Attempt 2 failed: Timed out. Trying again in 1.5 s."),
    ]
    assert log[3][0] == "info"
    assert log[3][1].startswith("Finished in ")
    assert all(set(line) == {"at", "level", "message"} for line in store.logs["send"])


def test_a_step_that_stays_down_fails_after_the_last_attempt(clock):
    FAILURES["doc.txt"] = [StepTransient(f"503 number {n}.") for n in range(1, 5)]
    store = MemoryStore()

    error = run_pipeline(parse_pipeline(STEPS), context(), store, retry=policy(clock))

    assert error == "503 number 3. (tried 3 times)"
    assert CALLS == ["doc.txt"] * 3  # the next step never ran
    assert store.errors == {"send": error}
    assert store.attempts["send"] == 3
    assert len(clock.pauses) == 2
    assert messages(store)[-1] == ("error", "Failed: 503 number 3. (tried 3 times)")


def test_a_permanent_failure_fails_at_once(clock):
    FAILURES["doc.txt"] = [StepFailed("The receiver answered 400: bad field.")]
    store = MemoryStore()

    error = run_pipeline(parse_pipeline(STEPS), context(), store, retry=policy(clock))

    assert error == "The receiver answered 400: bad field."
    assert CALLS == ["doc.txt"]
    assert clock.pauses == []
    assert store.attempts["send"] == 1
    assert messages(store) == [
        ("info", "Started."),
        ("error", "Failed: The receiver answered 400: bad field."),
    ]


def test_a_transient_failure_then_a_permanent_one_stops_there(clock):
    FAILURES["doc.txt"] = [StepTransient("503."), StepFailed("401: wrong secret.")]
    store = MemoryStore()

    error = run_pipeline(parse_pipeline(STEPS), context(), store, retry=policy(clock))

    assert error == "401: wrong secret."
    assert store.attempts["send"] == 2


def test_one_attempt_means_no_retry(clock):
    FAILURES["doc.txt"] = [StepTransient("503.")]
    store = MemoryStore()

    error = run_pipeline(parse_pipeline(STEPS), context(), store, retry=policy(clock, attempts=1))

    assert error == "503."  # not "(tried 1 times)"
    assert clock.pauses == []


def test_the_failed_output_of_the_last_attempt_is_kept(clock):
    FAILURES["doc.txt"] = [
        StepTransient("503.", output={"n": 1}),
        StepTransient("503.", output={"n": 2}),
    ]
    store = MemoryStore()
    recorded: list = []
    store.failed = lambda spec, message, seconds, output=None: recorded.append(output)  # type: ignore[method-assign]

    run_pipeline(parse_pipeline(STEPS), context(), store, retry=policy(clock, attempts=2))

    assert recorded == [{"n": 2}]


def test_in_a_batch_only_the_documents_that_failed_are_tried_again_together(clock):
    FAILURES["b.txt"] = [StepTransient("busy.")]
    FAILURES["c.txt"] = [StepTransient("busy."), StepTransient("busy.")]
    FAILURES["d.txt"] = [StepFailed("refused.")]
    steps = parse_pipeline([{"id": "send", "step": "test_remote_batch"}])
    items = [(context(name), MemoryStore()) for name in ("a.txt", "b.txt", "c.txt", "d.txt")]

    errors = run_pipeline_batch(steps, items, retry=policy(clock))

    assert errors == [None, None, None, "refused."]
    assert CALLS == ["batch:a.txt,b.txt,c.txt,d.txt", "batch:b.txt,c.txt", "c.txt"]
    assert clock.pauses == [0.75, 1.5]  # one pause per round, not per document
    assert [store.attempts["send"] for _, store in items] == [1, 2, 3, 1]


@pytest.mark.parametrize(
    ("attempt", "jitter", "delay"),
    [
        (1, 0.0, 0.5),
        (1, 1.0, 1.0),
        (2, 0.0, 1.0),
        (3, 0.5, 3.0),
        (5, 1.0, 16.0),
        (6, 1.0, 30.0),  # 32 capped at 30
        (10, 0.0, 15.0),
    ],
)
def test_delays_grow_exponentially_with_jitter_up_to_the_cap(attempt, jitter, delay):
    assert RetryPolicy(base=1.0, cap=30.0, random=lambda: jitter).delay(attempt) == delay


def test_jittered_delays_stay_between_half_and_all_of_the_step():
    retry = RetryPolicy(base=2.0)

    for attempt in (1, 2, 3):
        ceiling = 2.0 * 2 ** (attempt - 1)
        delays = [retry.delay(attempt) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 100  # really random


def test_a_zero_base_never_pauses(clock):
    FAILURES["doc.txt"] = [StepTransient("busy.")]

    run_pipeline(parse_pipeline(STEPS), context(), MemoryStore(), retry=policy(clock, base=0))

    assert clock.pauses == [0.0]


def test_the_default_policy_reads_three_attempts_from_one_second():
    retry = RetryPolicy()

    assert (retry.attempts, retry.base, retry.cap) == (3, 1.0, 30.0)


def test_step_transient_is_a_step_failure():
    assert issubclass(StepTransient, StepFailed)
    assert StepTransient("x", output={"a": 1}).output == {"a": 1}
