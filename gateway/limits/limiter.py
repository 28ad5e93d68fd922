"""What the rate limiter asks a backend (memory or Redis), and the backends' contract; pure data.

A request is admitted against every limit that applies to it at once (its gateway key's, the
key's for its model): either each one allows it and each is charged, or none is charged. The
backends keep that all-or-nothing atomically (``limits/memory.py`` in one event-loop step,
``limits/redis.py`` in one Lua script).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from gateway.limits.gcra import Decision

__all__ = [
    "CONCURRENCY_KINDS",
    "PERIOD",
    "RATE_KINDS",
    "Check",
    "Limiter",
]

#: Limits counted over a minute (GCRA, ``limits/gcra.py``), and limits on what is in flight.
RATE_KINDS = frozenset({"requests_per_minute", "tokens_per_minute"})
CONCURRENCY_KINDS = frozenset({"concurrent_requests", "concurrent_streams"})
#: Seconds a per-minute limit counts over.
PERIOD = 60.0


@dataclass(frozen=True, slots=True)
class Check:
    """One limit one request is admitted against."""

    #: The backend's name for the counter (``key:team-a:model:gpt-4o:tokens_per_minute``).
    key: str
    #: One of :data:`RATE_KINDS` or :data:`CONCURRENCY_KINDS`.
    kind: str
    limit: int
    #: Units this request takes: 1, or its estimated tokens for ``tokens_per_minute``.
    cost: int
    #: Whose limit, for the 429's message: ``gateway key team-a, model gpt-4o``.
    owner: str
    #: Where the settings set it, the 429's ``param``: ``gateway_keys.team-a.limits.requests_per_minute``.
    path: str

    @property
    def is_rate(self) -> bool:
        return self.kind in RATE_KINDS


class Limiter(Protocol):
    """A rate limiter's backend. Nothing here raises for a backend failure: ``admit`` answers
    ``None``, the others drop their work, and ``errors`` counts each failure."""

    @property
    def errors(self) -> int:
        """Backend failures since start."""
        ...

    async def admit(self, checks: Sequence[Check], lease: str) -> tuple[Decision, ...] | None:
        """Each check's decision, in order. When all allow, each rate is charged its cost and each
        concurrency check holds a slot under ``lease`` until :meth:`release` (or, in Redis, until
        the lease expires: a crashed process does not hold slots for ever); when any refuses,
        nothing is charged or held. ``None``: the backend could not answer."""
        ...

    def release(self, checks: Sequence[Check], lease: str) -> None:
        """Give back the slots ``lease`` holds for the concurrency ``checks`` (once per admitted
        lease: ``limits/stage.py``'s ticket sees to it); never blocks."""
        ...

    def charge(self, checks: Sequence[Check], tokens: int) -> None:
        """Add ``tokens`` (negative: a refund) to each rate of ``checks`` without deciding
        anything (an estimate corrected); never blocks."""
        ...

    async def close(self) -> None: ...
