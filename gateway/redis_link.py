"""One Redis client for one job (the cache, the semantic feed, keys, limits, budgets), with the
gateway's rules for Redis, and the throttled warning every failing dependency logs.

- Every command is bounded by the link's timeout, with no retry (whatever the redis-py version's
  default): a shared store that cannot answer at once must not hold the request up.
- A failure (refused, timed out, a Redis error) is counted in ``errors`` and logged as a WARNING at
  most once per :data:`WARN_EVERY` seconds: a line per request would flood the log exactly while
  Redis is down. The line names Redis's host and port, never the URL's user or password.

redis-py (the ``redis`` extra) is imported only when a link is made: a gateway without Redis runs
without it installed.
"""

from __future__ import annotations

import asyncio
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
    "RedisLink",
    "RedisUnavailable",
    "ThrottledWarning",
    "redis_location",
]

#: Seconds between two warnings about the same failing dependency.
WARN_EVERY = 30.0

_T = TypeVar("_T")


class ThrottledWarning:
    """Counts a dependency's failures and warns about them at most once per :data:`WARN_EVERY`:
    ``<what> (<reason>); <consequence> (<n> failures so far, next warning in 30 s at the earliest)``."""

    def __init__(
        self, logger: logging.Logger, what: str, consequence: str, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._logger = logger
        self._what = what
        self._consequence = consequence
        self._clock = clock
        self._warned_at = -math.inf
        self.errors = 0

    def failed(self, reason: str) -> None:
        """One more failure; ``reason`` must hold no secret."""
        self.errors += 1
        now = self._clock()
        if now - self._warned_at < WARN_EVERY:
            return
        self._warned_at = now
        self._logger.warning(
            "%s (%s); %s (%d failures so far, next warning in %.0f s at the earliest)",
            self._what,
            reason,
            self._consequence,
            self.errors,
            WARN_EVERY,
        )


class RedisUnavailable(Exception):
    """Redis failed a command (already counted and warned about)."""


class RedisLink:
    """A Redis client on its own pool for ``url``; its failures warn through ``warning`` (a
    :class:`ThrottledWarning` made here from ``logger``, ``what`` and ``consequence`` unless one is
    shared). Raises ``RuntimeError`` when the ``redis`` extra is not installed."""

    def __init__(
        self,
        url: str,
        timeout: float,
        warning: ThrottledWarning | None = None,
        *,
        logger: logging.Logger | None = None,
        what: str = "",
        consequence: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client, self._failures = _connect(url, timeout)
        self._timeout = timeout
        self._password = URL(url).password
        self.warning = warning or ThrottledWarning(
            logger or logging.getLogger("gateway"),
            f"{what}: Redis at {redis_location(url)} failed",
            consequence,
            clock,
        )

    @property
    def errors(self) -> int:
        return self.warning.errors

    async def call(self, command: Awaitable[_T]) -> _T:
        """The command's answer; :class:`RedisUnavailable` when it failed or took too long."""
        try:
            async with asyncio.timeout(self._timeout):
                return await command
        except self._failures as exc:
            self.failed(exc)
            raise RedisUnavailable from None

    async def run(self, command: Awaitable[_T]) -> _T | None:
        """The command's answer, or ``None`` when it failed or took too long."""
        try:
            return await self.call(command)
        except RedisUnavailable:
            return None

    async def wait(self, command: Awaitable[_T]) -> _T:
        """Like :meth:`call`, for a command that waits on purpose (a blocking read): bounded by
        the client's socket timeout only."""
        try:
            return await command
        except self._failures as exc:
            self.failed(exc)
            raise RedisUnavailable from None

    def failed(self, exc: BaseException) -> None:
        reason = str(exc) or type(exc).__name__
        if self._password:
            # redis-py's messages name host and port only; this keeps it so if one ever quotes the URL.
            reason = reason.replace(self._password, "***")
        self.warning.failed(reason)

    async def close(self) -> None:
        await self.client.aclose()


def redis_location(url: str) -> str:
    """Where Redis is, for the log: host:port (a socket's path), never the user or password."""
    parsed = URL(url)
    if parsed.scheme == "unix":
        return parsed.path
    return f"{parsed.host}:{parsed.port or 6379}"


def _connect(url: str, timeout: float) -> tuple[Redis, tuple[type[Exception], ...]]:
    try:
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
        from redis.exceptions import RedisError
    except ImportError as exc:
        raise RuntimeError("Redis needs the redis extra: pip install 'ai-gateway[redis]'") from exc
    client = Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0)
    )
    # OSError: a socket failure redis-py lets through; TimeoutError: asyncio.timeout's own.
    return client, (RedisError, OSError, TimeoutError)
