"""Capped exponential backoff with full jitter.

Full jitter (a delay drawn uniformly from zero to the current cap) spreads the reconnects of a
rack full of agents after a server restart instead of having them all retry in lock step.
"""

from __future__ import annotations

import random


class Backoff:
    def __init__(
        self,
        initial: float = 0.5,
        maximum: float = 30.0,
        factor: float = 2.0,
        rng: random.Random | None = None,
    ) -> None:
        if initial <= 0 or maximum < initial or factor < 1:
            raise ValueError("need 0 < initial <= maximum and factor >= 1")
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.attempts = 0
        self._rng = rng or random.Random()

    def cap(self) -> float:
        """The upper bound of the next delay."""
        # Bound the exponent: factor ** attempts overflows a float long before anyone notices.
        exponent = min(self.attempts, 64)
        return min(self.maximum, self.initial * self.factor**exponent)

    def next_delay(self) -> float:
        delay = self._rng.uniform(0, self.cap())
        self.attempts += 1
        return delay

    def reset(self) -> None:
        self.attempts = 0
