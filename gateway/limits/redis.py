"""The shared rate limiter: every process and replica admits against the same counters in Redis.

One Lua script per admission (EVALSHA, loaded on first use and again after a Redis restart) checks
every limit of the request and charges them all or none, atomically, with Redis's own clock
(``TIME``), so N gateway processes together admit the limit, not N times it. A rate is one key
holding its GCRA TAT in milliseconds (``limits/gcra.py``'s arithmetic, in Lua), expiring once its
quota is whole again. A concurrency limit is a sorted set of leases scored by their expiry: a
slot's lease is renewed while its request runs and dropped when it ends, and a crashed process's
slots come back when their leases lapse (:data:`LEASE` seconds at most).

Every command is bounded by a timeout, with no retry; a failure is counted in ``errors`` and
logged on ``gateway.limits`` at most once per :data:`~gateway.redis_link.WARN_EVERY`
seconds (Redis's host and port, never the URL's password). What a failed admission means (admit
or refuse) is the stage's choice (``[rate_limits] on_redis_error``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from gateway.limits.gcra import Decision
from gateway.limits.limiter import PERIOD, Check
from gateway.redis_link import RedisLink

if TYPE_CHECKING:
    from redis.commands.core import AsyncScript

__all__ = [
    "LEASE",
    "MAX_PENDING",
    "RedisLimiter",
]

_log = logging.getLogger("gateway.limits")
_T = TypeVar("_T")

#: Seconds a concurrency slot's lease lasts without renewal; renewed every third of it.
LEASE = 60.0
#: Releases and corrections on their way to Redis at once; more are dropped (and counted): a
#: dropped release frees its slot when the lease lapses, a dropped correction keeps the estimate.
MAX_PENDING = 1024

# Shared by the scripts: Redis's clock in milliseconds.
_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
"""

#: KEYS: the counters. ARGV: lease id, lease ms, period ms, then (kind, limit, cost) per key, kind
#: ``r`` (a rate) or ``c`` (concurrency). Returns {allowed, remaining, retry ms (-1: never),
#: reset ms} per key; charges all or none.
_ADMIT = (
    _NOW
    + """
local lease, lease_ms, period = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local out, tats, ok = {}, {}, true
for i, key in ipairs(KEYS) do
  local kind, limit, cost = ARGV[1 + i * 3], tonumber(ARGV[2 + i * 3]), tonumber(ARGV[3 + i * 3])
  if kind == 'r' then
    local interval = period / limit
    local base = math.max(tonumber(redis.call('GET', key) or '0'), now)
    local tat = base + cost * interval
    local allowed_at = tat - period
    if allowed_at > now + 0.000001 then
      ok = false
      local retry = -1
      if cost <= limit then retry = math.ceil(allowed_at - now) end
      local left = math.max(0, math.floor((now + period - base) / interval + 0.000001))
      out[i] = {0, left, retry, math.ceil(base - now)}
    else
      tats[i] = tat
      local left = math.max(0, math.floor((now + period - tat) / interval + 0.000001))
      out[i] = {1, left, 0, math.ceil(tat - now)}
    end
  else
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
    local held = redis.call('ZCARD', key)
    if held < limit then
      out[i] = {1, limit - held - 1, 0, 0}
    else
      ok = false
      out[i] = {0, 0, 1000, 1000}
    end
  end
end
if ok then
  for i, key in ipairs(KEYS) do
    if tats[i] then
      redis.call('SET', key, string.format('%.3f', tats[i]), 'PX', math.ceil(tats[i] - now) + 1000)
    else
      redis.call('ZADD', key, now + lease_ms, lease)
      redis.call('PEXPIRE', key, lease_ms)
    end
  end
end
return out
"""
)

#: KEYS: rates. ARGV: period ms, tokens (negative: a refund), then the limit per key.
_CHARGE = (
    _NOW
    + """
local period, tokens = tonumber(ARGV[1]), tonumber(ARGV[2])
for i, key in ipairs(KEYS) do
  local interval = period / tonumber(ARGV[2 + i])
  local tat = math.max(math.max(tonumber(redis.call('GET', key) or '0'), now) + tokens * interval, now)
  redis.call('SET', key, string.format('%.3f', tat), 'PX', math.ceil(tat - now) + 1000)
end
"""
)

#: KEYS: slot sets. ARGV: lease id, lease ms. Extends the lease where it is still held.
_RENEW = (
    _NOW
    + """
for _, key in ipairs(KEYS) do
  if redis.call('ZADD', key, 'XX', 'CH', now + tonumber(ARGV[2]), ARGV[1]) == 1 then
    redis.call('PEXPIRE', key, ARGV[2])
  end
end
"""
)


class RedisLimiter:
    """:class:`~gateway.limits.limiter.Limiter` in Redis at ``url`` (keys under ``prefix``).
    :meth:`start` begins renewing the leases held; :meth:`close` stops it. Raises
    ``RuntimeError`` when the ``redis`` extra is not installed."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 0.25,
        prefix: str = "gateway:limits:",
        lease: float = LEASE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._link = RedisLink(
            url,
            timeout,
            logger=_log,
            what="rate limits",
            consequence="a check does what on_redis_error says",
            clock=clock,
        )
        self._client = self._link.client
        self._prefix = prefix
        self._lease_ms = str(int(lease * 1000))
        self._lease = lease
        self._admit: AsyncScript = self._client.register_script(_ADMIT)
        self._charge: AsyncScript = self._client.register_script(_CHARGE)
        self._renew: AsyncScript = self._client.register_script(_RENEW)
        #: Leases held by this process's requests, and their slot sets: renewed until released.
        self._held: dict[str, list[str]] = {}
        self._pending: set[asyncio.Task[Any]] = set()
        self._renewing: asyncio.Task[None] | None = None
        #: Background commands dropped for want of room (Redis too slow to keep up).
        self.dropped = 0

    def start(self) -> None:
        self._renewing = asyncio.get_running_loop().create_task(self._renew_leases())

    async def admit(self, checks: Sequence[Check], lease: str) -> tuple[Decision, ...] | None:
        keys = [self._prefix + check.key for check in checks]
        args: list[str | int] = [lease, self._lease_ms, int(PERIOD * 1000)]
        for check in checks:
            args += ["r" if check.is_rate else "c", check.limit, check.cost]
        answer = await self._run(self._admit(keys=keys, args=args))
        if answer is None:
            return None
        decisions = tuple(_decision(*row) for row in answer)
        slots = [key for key, check in zip(keys, checks, strict=True) if not check.is_rate]
        if slots and all(decision.allowed for decision in decisions):
            self._held[lease] = slots
        return decisions

    def release(self, checks: Sequence[Check], lease: str) -> None:
        slots = self._held.pop(lease, None)
        if slots:
            self._background(self._zrem(slots, lease))

    def charge(self, checks: Sequence[Check], tokens: int) -> None:
        keys = [self._prefix + check.key for check in checks]
        args: list[str | int] = [int(PERIOD * 1000), tokens, *(check.limit for check in checks)]
        self._background(self._run(self._charge(keys=keys, args=args)))

    async def close(self) -> None:
        if self._renewing is not None:
            self._renewing.cancel()
            await asyncio.gather(self._renewing, return_exceptions=True)
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        await self._link.close()

    async def _zrem(self, slots: list[str], lease: str) -> None:
        pipe = self._client.pipeline(transaction=False)
        for key in slots:
            pipe.zrem(key, lease)
        await self._run(pipe.execute())

    async def _renew_leases(self) -> None:
        while True:
            await asyncio.sleep(self._lease / 3)
            for lease, slots in list(self._held.items()):
                await self._run(self._renew(keys=slots, args=[lease, self._lease_ms]))

    def _background(self, work: Coroutine[Any, Any, object]) -> None:
        if len(self._pending) >= MAX_PENDING:
            work.close()
            self.dropped += 1
            return
        task = asyncio.get_running_loop().create_task(work)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    @property
    def errors(self) -> int:
        """Redis failures since start, and background commands dropped."""
        return self._link.errors + self.dropped

    async def _run(self, command: Awaitable[_T]) -> _T | None:
        """The command's answer, or ``None`` when it failed or took longer than the timeout."""
        return await self._link.run(command)


def _decision(allowed: int, remaining: int, retry_ms: int, reset_ms: int) -> Decision:
    retry = math.inf if retry_ms < 0 else retry_ms / 1000
    return Decision(bool(allowed), int(remaining), retry, reset_ms / 1000)
