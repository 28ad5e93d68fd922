"""The in-process cache backend: an LRU bounded in bytes, each entry with its own expiry.

One instance per gateway process (created by the app, closed in its cleanup); nothing is shared
between worker processes — Redis is the backend for that. Every operation is O(1) and never awaits,
so no lock is needed on the event loop.
"""

from __future__ import annotations

import builtins
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import NamedTuple

__all__ = [
    "MemoryStore",
]


class _Entry(NamedTuple):
    value: bytes
    expires_at: float
    size: int


class MemoryStore:
    """A :class:`~gateway.cache.store.CacheStore` in this process's memory.

    An entry's size is its key's UTF-8 length plus its value's length; the sum over the entries
    held stays at or below ``max_bytes``. A ``put`` that needs room drops the least recently used
    entries first (a ``get`` hit makes an entry the most recently used). An entry whose ttl has run
    out reads as absent and is dropped at that read; one nobody reads again leaves with the LRU
    order. ``evictions`` counts entries dropped for room before their ttl ran out; ``errors`` stays
    0 (memory cannot fail a read or a write).
    """

    entries: int | None
    bytes: int | None

    def __init__(self, max_bytes: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._max_bytes = max_bytes
        self._clock = clock
        # Insertion order is the LRU order: the front is the least recently used entry.
        self._items: OrderedDict[str, _Entry] = OrderedDict()
        self._size = 0
        self.entries = 0
        self.bytes = 0
        self.evictions = 0
        self.errors = 0

    async def get(self, key: str) -> builtins.bytes | None:
        entry = self._items.get(key)
        if entry is None:
            return None
        if self._clock() >= entry.expires_at:
            self._drop(key)
            return None
        self._items.move_to_end(key)
        return entry.value

    async def put(self, key: str, value: builtins.bytes, ttl: float) -> None:
        """Store ``value`` for ``ttl`` seconds, replacing any older value under ``key``.

        A value that can never fit (key and value over ``max_bytes``) or a ttl of 0 or less is not
        stored, and the older value goes all the same: the caller asked for it to be replaced.
        """
        if key in self._items:
            self._drop(key)
        size = len(key.encode()) + len(value)
        if size > self._max_bytes or ttl <= 0:
            return
        now = self._clock()
        self._make_room(size, now)
        self._items[key] = _Entry(value, now + ttl, size)
        self._size += size
        self._count()

    async def close(self) -> None:
        self._items.clear()
        self._size = 0
        self._count()

    def _make_room(self, size: int, now: float) -> None:
        while self._size + size > self._max_bytes:
            _, entry = self._items.popitem(last=False)
            self._size -= entry.size
            if entry.expires_at > now:
                self.evictions += 1

    def _drop(self, key: str) -> None:
        self._size -= self._items.pop(key).size
        self._count()

    def _count(self) -> None:
        # The protocol's counters are plain attributes (Redis has None for them); kept in step here.
        self.entries = len(self._items)
        self.bytes = self._size
