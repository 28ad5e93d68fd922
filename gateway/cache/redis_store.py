"""The shared cache backend: entries in Redis, so every gateway process and replica reads them.

redis-py (the optional extra ``ai-gateway[redis]``) is imported only when this backend is
constructed: a gateway on the memory backend runs without it installed.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from yarl import URL

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = [
    "WARN_EVERY",
    "RedisStore",
    "redis_client",
    "redis_location",
]

_log = logging.getLogger("gateway.cache")

#: Seconds between two warnings about Redis failures: a line per request would flood the log
#: exactly while Redis is down and every request fails over to uncached.
WARN_EVERY = 30.0

_T = TypeVar("_T")


class RedisStore:
    """A :class:`~gateway.cache.store.CacheStore` in Redis, under ``prefix`` + the key.

    Every command is bounded by ``timeout`` seconds, with no retry: a cache that cannot answer at
    once is worth less than the request it would delay. Any failure (refused, timed out, a Redis
    error) makes ``get`` return ``None`` and ``put`` drop its value, adds 1 to ``errors`` and logs
    a WARNING on ``gateway.cache`` at most once per :data:`WARN_EVERY` seconds, naming Redis's
    host and port and never the URL's password. ``entries`` and ``bytes`` are ``None`` (Redis
    holds every process's writes); ``evictions`` stays 0 (Redis evicts by its own policy).
    Raises ``RuntimeError`` when the ``redis`` extra is not installed.
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
        self._client, self._failures = redis_client(url, timeout)
        self._timeout = timeout
        self._prefix = prefix
        self._clock = clock
        self._where = redis_location(url)
        self._password = URL(url).password
        self._warned_at = -math.inf
        self.entries = None
        self.bytes = None
        self.evictions = 0
        self.errors = 0

    async def get(self, key: str) -> builtins.bytes | None:
        value = await self._run(self._client.get(self._prefix + key))
        # Always bytes (the client does not decode); the check narrows redis-py's typing.
        return value if isinstance(value, builtins.bytes) else None

    async def put(self, key: str, value: builtins.bytes, ttl: float) -> None:
        """Store ``value`` for ``ttl`` seconds (to the millisecond), replacing any older value;
        a ttl under a millisecond removes the older value and stores nothing."""
        name = self._prefix + key
        milliseconds = int(ttl * 1000)
        if milliseconds > 0:
            await self._run(self._client.set(name, value, px=milliseconds))
        else:
            await self._run(self._client.delete(name))

    async def close(self) -> None:
        await self._client.aclose()

    async def _run(self, command: Awaitable[_T]) -> _T | None:
        """The command's answer, or ``None`` when it failed or took longer than the timeout."""
        try:
            async with asyncio.timeout(self._timeout):
                return await command
        except self._failures as exc:
            self._failed(exc)
            return None

    def _failed(self, exc: BaseException) -> None:
        self.errors += 1
        now = self._clock()
        if now - self._warned_at < WARN_EVERY:
            return
        self._warned_at = now
        reason = str(exc) or type(exc).__name__
        if self._password:
            # redis-py's messages name host and port only; this keeps it so if one ever quotes the URL.
            reason = reason.replace(self._password, "***")
        _log.warning(
            "cache: Redis at %s failed (%s); requests go on uncached (%d failures so far, "
            "next warning in %.0f s at the earliest)",
            self._where,
            reason,
            self.errors,
            WARN_EVERY,
        )


def redis_client(url: str, timeout: float) -> tuple[Redis, tuple[type[Exception], ...]]:
    """A client on its own pool for ``url``, and the failures its commands may raise."""
    try:
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
        from redis.exceptions import RedisError
    except ImportError as exc:
        raise RuntimeError(
            "the Redis cache backend needs the redis extra: pip install 'ai-gateway[redis]'"
        ) from exc
    # No retry, whatever the redis-py version's default (its defaults have changed between majors):
    # a cache that cannot answer at once goes uncached rather than delaying the request.
    client = Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0)
    )
    # OSError: a socket failure redis-py lets through; TimeoutError: asyncio.timeout's own.
    return client, (RedisError, OSError, TimeoutError)


def redis_location(url: str) -> str:
    """Where Redis is, for the log: host:port (a socket's path), never the user or password."""
    parsed = URL(url)
    if parsed.scheme == "unix":
        return parsed.path
    return f"{parsed.host}:{parsed.port or 6379}"
