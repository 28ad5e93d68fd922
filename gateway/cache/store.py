"""Where cached answers live: the interface every backend (memory, Redis) keeps.

A backend stores opaque bytes under a key for a number of seconds. It never raises to its caller:
a backend that cannot answer (Redis down) returns ``None`` for a read and drops a write, counts
the failure in ``errors`` and logs it at most once per interval; the request goes on uncached.
"""

from __future__ import annotations

import builtins
from typing import Protocol

__all__ = [
    "CacheStore",
]


class CacheStore(Protocol):
    #: Entries and bytes held now (as far as the backend knows; Redis: this process's writes are
    #: not counted, these are ``None``), evictions and failures since start.
    entries: int | None
    # In this class's body ``bytes`` names this counter: the methods spell the type builtins.bytes.
    bytes: int | None
    evictions: int

    @property
    def errors(self) -> int:
        """Backend failures since start."""
        ...

    async def get(self, key: str) -> builtins.bytes | None:
        """The value stored under ``key`` and not expired, or ``None``."""
        ...

    async def put(self, key: str, value: builtins.bytes, ttl: float) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds (replacing any older value)."""
        ...

    async def close(self) -> None:
        """Release connections (the app's cleanup)."""
        ...
