"""Spend shared through Redis: every gateway process and replica charges and reads the same windows.

One hash per key and window, ``gateway:spend:<key id>:<window>``, with the fields ``requests``,
``input_tokens``, ``output_tokens`` (HINCRBY) and ``cost`` (HINCRBYFLOAT, dollars): each increment
is atomic, so N processes add up exactly. A day's or month's hash expires a day after its window
ends (Redis forgets old windows by itself); the ``total`` hash never expires.

Every command is bounded by ``timeout`` seconds, with no retry. A failure is counted in ``errors``
and logged on ``gateway.budgets`` at most once per :data:`~gateway.redis_link.WARN_EVERY`
seconds, naming Redis's host and port, never the URL's password; what the caller does then (let
the request through or refuse it) is ``[budgets] on_redis_error``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from gateway.limits.periods import Window
from gateway.limits.spend import Charge, Usage
from gateway.redis_link import RedisLink

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
        self._link = RedisLink(
            url,
            timeout,
            logger=_log,
            what="budgets",
            consequence="a charge is lost, a check does what on_redis_error says",
            clock=clock,
        )
        self._client = self._link.client
        self._prefix = prefix

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
        await self._link.close()

    def _name(self, key_id: str, current: Window) -> str:
        return f"{self._prefix}{key_id}:{current.name}"

    @property
    def errors(self) -> int:
        """Redis failures since start."""
        return self._link.errors

    async def _run(self, command: Awaitable[_T]) -> _T | None:
        """The command's answer, or ``None`` when it failed or took longer than the timeout."""
        return await self._link.run(command)


def _usage(fields: list[bytes | None]) -> Usage:
    requests, input_tokens, output_tokens, cost = (value or b"0" for value in fields)
    return Usage(int(requests), int(input_tokens), int(output_tokens), float(cost))
