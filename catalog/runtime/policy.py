"""Which models a deployment may load, and how many it keeps loaded.

Tenants choose models by name from a list (the catalog); they never name a file path or a
Hugging Face id the operator has not listed. This module is the runtime's half of that rule
(pure Python, no Django): the loaders in this package call it, so a bad name that reached a
worker anyway (an old stored draft, a hand-made message) is refused before anything is read.

Operator settings (environment variables, read when asked so tests and workers agree):

- ``PYQ_ALLOW_HUB_MODELS`` (default false): models may be loaded by Hugging Face id;
- ``PYQ_HUB_MODELS``: the comma-separated ids that may then be loaded (nothing else);
- ``PYQ_MODELS_DIR``: the folder of the operator's own models (trained heads, fine-tuned
  versions); the packaged models are always allowed;
- ``PYQ_MODEL_CACHE_SIZE`` (default 4): embedding models a process keeps loaded at once.
"""

from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Generic, TypeVar

__all__ = [
    "DEFAULT_EMBEDDER",
    "PACKAGED_EMBEDDER_ALIASES",
    "LruCache",
    "ModelRefused",
    "allowed_hub_ids",
    "check_classifier_name",
    "check_embedder_name",
    "embedder_choices",
    "hub_models_allowed",
    "looks_like_path",
    "model_cache_size",
    "operator_models_dir",
]

DEFAULT_EMBEDDER = "minilm"
# The packaged MiniLM, by the names people know it by (compared without case).
PACKAGED_EMBEDDER_ALIASES = frozenset(
    {"minilm", "all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}
)
DEFAULT_CACHE_SIZE = 4
_TRUE = {"1", "true", "yes", "on"}
# A trained classifier's name: a folder name made of these, never a path.
CLASSIFIER_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}$")
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


class ModelRefused(ValueError):
    """A model name this deployment does not offer; the message says what to choose."""


# --- operator settings ----------------------------------------------------------------------


def hub_models_allowed() -> bool:
    """PYQ_ALLOW_HUB_MODELS: whether models may come from Hugging Face by id (off by default)."""
    return os.environ.get("PYQ_ALLOW_HUB_MODELS", "").strip().lower() in _TRUE


def allowed_hub_ids() -> tuple[str, ...]:
    """The Hugging Face ids the operator listed (PYQ_HUB_MODELS), when hub models are on."""
    if not hub_models_allowed():
        return ()
    raw = os.environ.get("PYQ_HUB_MODELS", "")
    ids = (item.strip() for item in raw.split(","))
    return tuple(dict.fromkeys(i for i in ids if _HUB_ID.match(i)))


def operator_models_dir() -> Path | None:
    """PYQ_MODELS_DIR: the operator's own models (trained heads, fine-tuned versions)."""
    raw = os.environ.get("PYQ_MODELS_DIR", "").strip()
    return Path(raw).expanduser().resolve() if raw else None


def model_cache_size() -> int:
    """PYQ_MODEL_CACHE_SIZE: embedding models one process keeps loaded (at least 1)."""
    try:
        return max(1, int(os.environ.get("PYQ_MODEL_CACHE_SIZE", "") or DEFAULT_CACHE_SIZE))
    except ValueError:
        return DEFAULT_CACHE_SIZE


# --- names people may choose ----------------------------------------------------------------


def embedder_choices() -> list[str]:
    """What a step's ``model`` may name: the packaged MiniLM, then the listed hub ids."""
    return [DEFAULT_EMBEDDER, *allowed_hub_ids()]


def looks_like_path(name: str) -> bool:
    """A file path in any usual form: absolute, home, relative with a dot or a backslash."""
    text = name.strip()
    return (
        text.startswith(("/", "~", ".", "\\"))
        or "\\" in text
        or "/." in text
        or "//" in text
        or text.count("/") > 1
        or bool(re.match(r"^[A-Za-z]:", text))  # C:\ or C:/
    )


def check_embedder_name(name: object) -> str:
    """Return ``name`` when a step may use it as its embedding model; else ModelRefused,
    in people's words and naming what may be chosen."""
    choices = ", ".join(embedder_choices())
    if not isinstance(name, str) or not name.strip():
        raise ModelRefused(f"choose a model: {choices}.")
    text = name.strip()
    if text.lower() in PACKAGED_EMBEDDER_ALIASES:
        return text
    if looks_like_path(text):
        raise ModelRefused(
            f"models are chosen from the catalog, not named by a file path ({text!r}); "
            f"choose one of: {choices}."
        )
    if text in allowed_hub_ids():
        return text
    if "/" in text:
        raise ModelRefused(
            f"{text!r} is not in this deployment's catalog (models are not loaded from "
            f"Hugging Face or a folder by name); choose one of: {choices}."
        )
    raise ModelRefused(f"there is no model called {text!r}; choose one of: {choices}.")


def check_classifier_name(name: object) -> str:
    """Return ``name`` when it has the shape of a trained classifier's name (lower-case
    letters, digits, - and _); whether it exists is the loader's question."""
    if isinstance(name, str) and CLASSIFIER_NAME.match(name):
        return name
    if isinstance(name, str) and (looks_like_path(name) or "/" in name):
        raise ModelRefused(
            f"trained classifiers are chosen from the catalog by name, not by a file path "
            f"or a Hugging Face id ({name!r})."
        )
    shown = repr(name) if isinstance(name, str) else "this value"
    raise ModelRefused(
        f"{shown} is not the name of a trained classifier (names are lower-case letters, "
        "digits, - and _)."
    )


def is_inside(path: Path, roots: list[Path]) -> bool:
    """Whether ``path`` (resolved, links followed) lies in one of ``roots``."""
    resolved = path.expanduser().resolve()
    return any(resolved == root or root in resolved.parents for root in roots)


# --- a bounded cache ------------------------------------------------------------------------

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LruCache(Generic[K, V]):
    """At most ``size()`` entries, the least recently used dropped first; thread-safe, and
    one load per key even when threads race for it (the load runs under the lock)."""

    def __init__(self, size: Callable[[], int]) -> None:
        self._size = size
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.RLock()

    def get_or_load(self, key: K, load: Callable[[], V]) -> V:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            value = load()
            self._items[key] = value
            while len(self._items) > max(1, self._size()):
                self._items.popitem(last=False)
            return value

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def loaded(self) -> list[K]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
