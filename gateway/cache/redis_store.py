"""The shared cache backend: entries in Redis, so every gateway process and replica reads them."""

from __future__ import annotations

import builtins
import logging
import time
from collections.abc import Callable

from gateway.redis_link import RedisLink

__all__ = [
    "RedisStore",
]

_log = logging.getLogger("gateway.cache")


class RedisStore:
    """A :class:`~gateway.cache.store.CacheStore` in Redis, under ``prefix`` + the key.

    Every command is bounded by ``timeout`` seconds, with no retry: a cache that cannot answer at
    once is worth less than the request it would delay (``redis_link.py``). Any failure makes
    ``get`` return ``None`` and ``put`` drop its value, counts in ``errors`` and warns on
    ``gateway.cache`` at most once per interval, never with the URL's password. ``entries`` and
    ``bytes`` are ``None`` (Redis holds every process's writes); ``evictions`` stays 0 (Redis
    evicts by its own policy). Raises ``RuntimeError`` when the ``redis`` extra is not installed.
    """

    entries: int | None
    bytes: int | None

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 0.25,
        prefix: str = "gateway:cache:",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._link = RedisLink(
            url, timeout, logger=_log, what="cache", consequence="requests go on uncached", clock=clock
        )
        self._prefix = prefix
        self.entries = None
        self.bytes = None
        self.evictions = 0

    @property
    def errors(self) -> int:
        return self._link.errors

    async def get(self, key: str) -> builtins.bytes | None:
        value = await self._link.run(self._link.client.get(self._prefix + key))
        # Always bytes (the client does not decode); the check narrows redis-py's typing.
        return value if isinstance(value, builtins.bytes) else None

    async def put(self, key: str, value: builtins.bytes, ttl: float) -> None:
        """Store ``value`` for ``ttl`` seconds (to the millisecond), replacing any older value;
        a ttl under a millisecond removes the older value and stores nothing."""
        name = self._prefix + key
        milliseconds = int(ttl * 1000)
        if milliseconds > 0:
            await self._link.run(self._link.client.set(name, value, px=milliseconds))
        else:
            await self._link.run(self._link.client.delete(name))

    async def close(self) -> None:
        await self._link.close()
