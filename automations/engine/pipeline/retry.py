"""How often a step that raises StepTransient is tried, and the pauses between tries."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

_random = random.Random()  # noqa: S311  (jitter for pauses, not a secret)


@dataclass(frozen=True)
class RetryPolicy:
    """How often a step that raises StepTransient is tried, and the pauses between tries:
    exponential (base, 2 x base, 4 x base ... up to cap seconds), each pause a random
    time between half and all of that, so that documents failing together (a receiver
    that is down) do not all come back at the same moment."""

    attempts: int = 3
    base: float = 1.0
    cap: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    random: Callable[[], float] = _random.random

    def delay(self, attempt: int) -> float:
        """The pause after failed attempt `attempt` (1, 2, ...)."""
        ceiling = min(self.cap, self.base * 2 ** (attempt - 1))
        return ceiling / 2 + self.random() * ceiling / 2
