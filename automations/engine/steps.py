"""The step registry and the contract every step keeps.

A step is a small object with a name, a kind (what the builder groups it under), a JSON
schema for its configuration, and `run(context, config) -> StepOutcome`. Steps are pure
Python: whatever they need from the outside world (storing a page, finding similar
documents, the embedding model) they ask of `StepContext.services`, which keeps the typed
contract of automations/engine/ports.py.

The engine imports no step: the built-in steps register themselves when `automations.steps`
is imported, which the automations app does in its `ready()`. Code that runs without Django
(bench scripts, a plain Python shell) imports `automations.steps` itself.
"""

from __future__ import annotations

import contextlib
import re
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar, Protocol, TypeVar

import jsonschema

from automations.engine.errors import StepConfigError, StepFailed, StepTimeout, StepTransient
from automations.engine.fields import PageText
from automations.engine.ports import MemoryServices, StepServices

__all__ = [
    "KINDS",
    "REGISTRY",
    "DocumentInfo",
    "Step",
    "StepConfigError",
    "StepContext",
    "StepFailed",
    "StepFunction",
    "StepOutcome",
    "StepTimeout",
    "StepTransient",
    "all_steps",
    "config_errors",
    "get_step",
    "register",
    "time_limit",
    "validate_config",
]

KINDS = ("read", "understand", "extract", "transform", "deliver")


@dataclass
class DocumentInfo:
    name: str
    kind: str  # pdf, png, ... (automations.engine.filetypes)
    path: str | None = None  # a local copy of the file, for steps that read it
    page_count: int = 0


@dataclass
class StepContext:
    document: DocumentInfo
    pages: list[PageText] = field(default_factory=list)
    outputs: dict[str, dict] = field(default_factory=dict)  # earlier steps' outputs, by id
    # What the step may ask of the world (automations/engine/ports.py); without one, the
    # run keeps everything in memory (the playground, the command line, tests).
    services: StepServices = field(default_factory=MemoryServices)
    cache: dict = field(default_factory=dict)  # work steps share within a run (embeddings)


@dataclass
class StepOutcome:
    output: dict
    warnings: list[str] = field(default_factory=list)
    pages: list[PageText] | None = None  # a read step hands the pages to the next steps


class Step(Protocol):
    """A step. It may also offer `run_batch(contexts, config) -> list[StepOutcome |
    StepFailed]`, one entry per context, to handle many documents in one model call."""

    name: ClassVar[str]
    kind: ClassVar[str]
    label: ClassVar[str]
    description: ClassVar[str]
    config_schema: ClassVar[dict]

    def run(self, context: StepContext, config: dict) -> StepOutcome: ...


REGISTRY: dict[str, Step] = {}
_S = TypeVar("_S", bound=Step)


def register(cls: type[_S]) -> type[_S]:
    """Class decorator: add one instance of a step class to the registry."""
    assert cls.kind in KINDS, cls.kind
    jsonschema.Draft202012Validator.check_schema(cls.config_schema)
    REGISTRY[cls.name] = cls()
    return cls


def get_step(name: str) -> Step:
    try:
        return REGISTRY[name]
    except KeyError:
        raise StepConfigError(
            f"There is no step called {name!r}; choose one of {', '.join(sorted(REGISTRY))}."
        ) from None


def all_steps() -> dict[str, Step]:
    return dict(REGISTRY)


def validate_config(step: Step, config: dict | None) -> dict:
    """Fill defaults and check a step's configuration against its schema."""
    config, errors = config_errors(step, config)
    if errors:
        raise StepConfigError(errors[0][1])
    return config


def config_errors(step: Step, config: dict | None) -> tuple[dict, list[tuple[str, str]]]:
    """The configuration with defaults filled, and every place it breaks the schema as
    (path, message): ("url", "Send to a webhook: url: 'x' is not a 'uri'"); the path is
    "" for the configuration as a whole."""
    config = dict(config or {})
    for key, spec in step.config_schema.get("properties", {}).items():
        if key not in config and "default" in spec:
            config[key] = spec["default"]
    validator = jsonschema.Draft202012Validator(step.config_schema)
    errors = sorted(validator.iter_errors(config), key=_path_key)
    found = []
    for error in errors:
        path = ".".join(str(p) for p in error.absolute_path)
        if error.validator == "required" and not path:
            missing = _REQUIRED.match(error.message)
            path = missing.group(1) if missing else path
        where = ".".join(str(p) for p in error.absolute_path) or "configuration"
        found.append((path, f"{step.label}: {where}: {error.message}"))
    return config, found


_REQUIRED = re.compile(r"^'([^']+)' is a required property$")


def _path_key(error: jsonschema.ValidationError) -> list[tuple[int, int | str]]:
    # Errors in path order (the first one is what a person fixes first); list indexes and
    # keys in one path never compare with each other.
    return [(0, p) if isinstance(p, int) else (1, str(p)) for p in error.absolute_path]


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Fail a step that runs past `seconds` (only where signals work: the main thread)."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum, frame):
        raise StepTimeout(f"This step took longer than its {seconds:g} s limit and was stopped.")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


StepFunction = Callable[[StepContext, dict], StepOutcome]
