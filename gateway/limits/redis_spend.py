"""Spend shared through Redis: every gateway process and replica charges and reads the same windows.

One hash per key and window, ``gateway:spend:<key id>:<window>``, with the fields ``requests``,
``input_tokens``, ``output_tokens`` (HINCRBY) and ``cost`` (HINCRBYFLOAT, dollars): each increment
is atomic, so N processes add up exactly. A day's or month's hash expires a day after its window
ends (Redis forgets old windows by itself); the ``total`` hash never expires.

Every command is bounded by ``timeout`` seconds, with no retry. A failure is counted in ``errors``
and logged on ``gateway.budgets`` at most once per :data:`~gateway.cache.redis_store.WARN_EVERY`
seconds, naming Redis's host and port, never the URL's password; what the caller does then (let
the request through or refuse it) is ``[budgets] on_redis_error``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from yarl import URL

from gateway.cache.redis_store import WARN_EVERY, redis_client, redis_location
from gateway.limits.periods import Window
from gateway.limits.spend import Charge, Usage

__all__ = [
    "RedisSpend",
]

_log = logging.getLogger("gateway.budgets")
_T = TypeVar("_T")
#: Seconds a window's hash outlives the window (a late charge still lands, a read still finds it).
_KEPT_AFTER = 86_400


class RedisSpend:
    """A :class:`~gateway.limits.spend.SpendStore` in Redis at ``url``."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 0.25,
        prefix: str = "gateway:spend:",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client, self._failures = redis_client(url, timeout)
        self._timeout = timeout
        self._prefix = prefix
        self._clock = clock
        self._where = redis_location(url)
        self._password = URL(url).password
        self._warned_at = -math.inf
        self.errors = 0

    async def charge(self, key_id: str, charge: Charge, windows: Sequence[Window]) -> None:
        pipe = self._client.pipeline(transaction=False)
        for current in windows:
            name = self._name(key_id, current)
            pipe.hincrby(name, "requests", charge.requests)
            pipe.hincrby(name, "input_tokens", charge.input_tokens)
            pipe.hincrby(name, "output_tokens", charge.output_tokens)
            pipe.hincrbyfloat(name, "cost", charge.cost)
            if current.ends_at is not None:
                pipe.expireat(name, int(current.ends_at) + _KEPT_AFTER)
        await self._run(pipe.execute())

    async def usage(self, key_id: str, windows: Sequence[Window]) -> list[Usage] | None:
        pipe = self._client.pipeline(transaction=False)
        for current in windows:
            pipe.hmget(self._name(key_id, current), "requests", "input_tokens", "output_tokens", "cost")
        answers = await self._run(pipe.execute())
        if answers is None:
            return None
        return [_usage(fields) for fields in answers]

    async def close(self) -> None:
        await self._client.aclose()

    def _name(self, key_id: str, current: Window) -> str:
        return f"{self._prefix}{key_id}:{current.name}"

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
            reason = reason.replace(self._password, "***")
        _log.warning(
            "budgets: Redis at %s failed (%s); %d failures so far, next warning in %.0f s at the earliest",
            self._where,
            reason,
            self.errors,
            WARN_EVERY,
        )


def _usage(fields: list[bytes | None]) -> Usage:
    requests, input_tokens, output_tokens, cost = (value or b"0" for value in fields)
    return Usage(int(requests), int(input_tokens), int(output_tokens), float(cost))
