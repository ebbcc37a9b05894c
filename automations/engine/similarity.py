"""Near-duplicates by cosine similarity: the one rule the worker's document store and the
in-memory one (automations/engine/ports.py) answer `find_similar` with. Pure numpy."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
import numpy.typing as npt

# Above 0.95 two MiniLM document vectors are the same document re-sent, re-scanned or
# with a changed date or amount; different documents of one template score lower.
DEFAULT_THRESHOLD = 0.95


def near_duplicates(
    vector: Sequence[float],
    candidates: Sequence[tuple[Hashable, npt.ArrayLike]],
    threshold: float = DEFAULT_THRESHOLD,
    limit: int = 5,
) -> list[dict]:
    """The candidates whose cosine similarity to ``vector`` is at least ``threshold``.

    Returns up to ``limit`` ``{"document": id, "score": rounded cosine}``, best first
    (ties keep the candidates' order). Vectors need not be normalised.
    """
    if not candidates:
        return []
    query = _unit(np.asarray(vector, dtype=np.float32))
    matrix = np.asarray([c[1] for c in candidates], dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1)
    scores = matrix @ query / np.where(norms == 0, 1.0, norms)
    order = np.argsort(-scores, kind="stable")
    hits = [
        {"document": candidates[i][0], "score": round(float(scores[i]), 4)}
        for i in order
        if scores[i] >= threshold
    ]
    return hits[:limit]


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector
