"""``upstream.limit_per_host`` for the lean client: at most so many requests in flight per origin.

As aiohttp's connector counts it: a request holds one of its origin's places from before it takes
a connection until its answer was read (or it failed); idle pooled connections hold none. The
others wait their turn, first come first served, each one free to leave (cancelled: its place in
the queue goes, and a place handed to it just then goes on to the next). Nothing is kept for an
origin with nothing in flight, so callers naming many hosts leave nothing behind. The queue is as
long as the requests waiting, which admission caps (``limits.max_in_flight``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Hashable

__all__ = [
    "HostCap",
]


class HostCap:
    """Places per origin (any hashable key); :meth:`take` one, :meth:`give_back` it once."""

    __slots__ = ("_busy", "_cap", "_queues")

    def __init__(self, cap: int) -> None:
        if cap < 1:
            raise ValueError("a per-host cap is at least 1")
        self._cap = cap
        #: Places taken per origin (handed-over ones included); absent: none.
        self._busy: dict[Hashable, int] = {}
        #: Who waits for a place, per origin; absent: nobody.
        self._queues: dict[Hashable, deque[asyncio.Future[None]]] = {}

    async def take(self, key: Hashable) -> None:
        """One of ``key``'s places, once one is free and everyone before has had theirs."""
        busy = self._busy.get(key, 0)
        if busy < self._cap and key not in self._queues:
            self._busy[key] = busy + 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queues.setdefault(key, deque()).append(waiter)
        try:
            await waiter  # a place handed over by give_back: the count already holds it
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.give_back(key)  # handed over as this waiter left: the next one's
            else:
                self._leave(key, waiter)
            raise

    def give_back(self, key: Hashable) -> None:
        """The place of a request that is over: to the first one still waiting, else freed."""
        queue = self._queues.get(key)
        handed = False
        while queue and not handed:
            waiter = queue.popleft()
            if not waiter.done():  # (a cancelled one is done: it leaves by itself)
                waiter.set_result(None)
                handed = True
        if queue is not None and not queue:
            del self._queues[key]
        if handed:
            return
        busy = self._busy[key] - 1
        if busy:
            self._busy[key] = busy
        else:
            del self._busy[key]

    def _leave(self, key: Hashable, waiter: asyncio.Future[None]) -> None:
        queue = self._queues.get(key)
        if queue is None:
            return
        with contextlib.suppress(ValueError):  # give_back may have dropped it already
            queue.remove(waiter)
        if not queue:
            del self._queues[key]
