"""The rate limiter of one process: GCRA TATs and slot counts in dicts.

Atomic for free: :meth:`MemoryLimiter.admit` never awaits, so no other request runs between its
checks and its charges. The dicts hold one entry per limit that was used; limits come from the
settings and the admin API (not from callers), so they stay as small as the key list.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from gateway.limits.gcra import Decision, Rate, charge, decide
from gateway.limits.limiter import PERIOD, Check

__all__ = [
    "MemoryLimiter",
]


class MemoryLimiter:
    """:class:`~gateway.limits.limiter.Limiter` for one process; ``clock`` is monotonic seconds.
    Leases never expire here: the process that holds a slot is the one that counts it."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tats: dict[str, float] = {}
        self._slots: dict[str, int] = {}
        self.errors = 0

    async def admit(self, checks: Sequence[Check], lease: str) -> tuple[Decision, ...]:
        now = self._clock()
        tats: dict[str, float] = {}
        decisions = []
        for check in checks:
            if check.is_rate:
                tats[check.key], decision = decide(
                    self._tats.get(check.key, 0.0), now, Rate(check.limit, PERIOD), check.cost
                )
            else:
                decision = _slot(self._slots.get(check.key, 0), check.limit)
            decisions.append(decision)
        if all(decision.allowed for decision in decisions):
            self._tats.update(tats)
            for check in checks:
                if not check.is_rate:
                    self._slots[check.key] = self._slots.get(check.key, 0) + 1
        return tuple(decisions)

    def release(self, checks: Sequence[Check], lease: str) -> None:
        for check in checks:
            held = self._slots.get(check.key, 0)
            if held > 1:
                self._slots[check.key] = held - 1
            else:
                self._slots.pop(check.key, None)

    def charge(self, checks: Sequence[Check], tokens: int) -> None:
        now = self._clock()
        for check in checks:
            tat = self._tats.get(check.key, 0.0)
            self._tats[check.key] = charge(tat, now, Rate(check.limit, PERIOD), tokens)

    async def close(self) -> None:
        return None


def _slot(in_use: int, limit: int) -> Decision:
    """A concurrency slot: free while fewer than ``limit`` are held. When none is, when one will
    be is unknown (a request ends when it ends): one second is the hint."""
    if in_use < limit:
        return Decision(True, limit - in_use - 1, 0.0, 0.0)
    return Decision(False, 0, 1.0, 1.0)
