"""Trained classifiers: a linear head (multinomial logistic regression) on frozen sentence
embeddings. Small (labels x 384 numbers), trained in seconds on a CPU, and on a fixed set of
labels far more accurate than zero-shot (banking77: 0.93 against 0.63).

A head lives in a folder: head.npz (weight, bias) and meta.json (labels, the embedding model,
training facts, metrics, and the SHA-256 of head.npz, checked on load).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from catalog.runtime.policy import LruCache, ModelRefused, check_classifier_name, is_inside

PACKAGED = Path(__file__).resolve().parents[1] / "models"
# Heads are small (labels x 384 numbers); this many stay loaded per process.
HEAD_CACHE_SIZE = 32
_cache: LruCache[str, LinearHead] = LruCache(lambda: HEAD_CACHE_SIZE)


class HeadError(ValueError):
    """A head that is missing, damaged or does not fit its embedding model."""


@dataclass
class LinearHead:
    labels: list[str]
    weight: np.ndarray  # (labels, dimension)
    bias: np.ndarray  # (labels,)
    embedder: str = "minilm"
    meta: dict = field(default_factory=dict)

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        logits = vectors @ self.weight.T + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def save(self, folder: Path, **meta) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "head.npz"
        np.savez(path, weight=self.weight.astype(np.float32), bias=self.bias.astype(np.float32))
        self.meta = {**self.meta, **meta}
        document = {
            "labels": self.labels,
            "embedder": self.embedder,
            "sha256": _sha256(path),
            **self.meta,
        }
        (folder / "meta.json").write_text(json.dumps(document, indent=2) + "\n")
        return folder


def train_head(
    vectors: np.ndarray,
    targets: list[str],
    *,
    embedder: str = "minilm",
    c: float = 10.0,
    max_iter: int = 200,
) -> LinearHead:
    """Multinomial logistic regression with L2 (strength 1 / C, as scikit-learn), by L-BFGS."""
    import torch

    labels = sorted(set(targets))
    index = {label: i for i, label in enumerate(labels)}
    x = torch.tensor(vectors, dtype=torch.float32)
    y = torch.tensor([index[t] for t in targets])
    linear = torch.nn.Linear(x.shape[1], len(labels))
    optimizer = torch.optim.LBFGS(
        linear.parameters(), max_iter=max_iter, line_search_fn="strong_wolfe"
    )

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(linear(x), y, reduction="sum")
        loss = loss + 0.5 / c * linear.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return LinearHead(
        labels=labels,
        weight=linear.weight.detach().numpy().copy(),
        bias=linear.bias.detach().numpy().copy(),
        embedder=embedder,
    )


def head_folder(slug: str) -> Path:
    """Trained heads ship in catalog/models/<slug>; PYQ_MODELS_DIR holds the operator's own.

    ``slug`` is a name, never a path: anything else, or a folder that leads outside those
    two places (a link), is refused."""
    try:
        check_classifier_name(slug)
    except ModelRefused as exc:
        raise HeadError(str(exc)[:1].upper() + str(exc)[1:]) from None
    roots = [Path(os.environ.get("PYQ_MODELS_DIR") or PACKAGED).resolve(), PACKAGED.resolve()]
    for root in roots:
        folder = root / slug
        if (folder / "meta.json").exists() and is_inside(folder, [root]):
            return folder
    raise HeadError(f"There is no trained classifier called {slug!r}.")


def load_head(slug: str) -> LinearHead:
    """Load a trained head once per process (at most HEAD_CACHE_SIZE kept), checking its
    checksum."""
    return _cache.get_or_load(slug, lambda: _read_head(slug))


def _read_head(slug: str) -> LinearHead:
    folder = head_folder(slug)
    try:
        meta = json.loads((folder / "meta.json").read_text())
        path = folder / "head.npz"
        if _sha256(path) != meta.get("sha256"):
            raise HeadError(f"The trained classifier {slug!r} is damaged (checksum mismatch).")
        with np.load(path) as arrays:
            weight, bias = arrays["weight"], arrays["bias"]
        labels = meta["labels"]
        embedder = meta["embedder"]
    except HeadError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise HeadError(f"The trained classifier {slug!r} is damaged ({exc}).") from exc
    if weight.shape[0] != len(labels):
        raise HeadError(f"The trained classifier {slug!r} does not match its labels.")
    return LinearHead(labels, weight, bias, embedder, meta)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
