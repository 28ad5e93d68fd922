"""A clock the test moves: lets a breaker's cooldown pass without waiting for it."""

from __future__ import annotations


class ManualClock:
    """Monotonic seconds that stand still until :meth:`advance` moves them on."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
