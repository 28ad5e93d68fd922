"""The shared limiter against a real redis-server: all or nothing, leases that lapse, failures."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from gateway.limits.limiter import Check
from gateway.limits.redis import RedisLimiter
from tests.functional.gateway_process import free_port


def check(kind: str, limit: int, cost: int = 1) -> Check:
    # Each test's own counters: the session's Redis is shared.
    return Check(f"test:{uuid.uuid4().hex}:{kind}", kind, limit, cost, "gateway key k", "p")


async def test_every_limit_allows_and_is_charged_or_none_is(redis_url: str) -> None:
    limiter = RedisLimiter(redis_url)
    try:
        wide, narrow = check("requests_per_minute", 10), check("requests_per_minute", 1)
        first = await limiter.admit([wide, narrow], "a")
        assert first is not None
        assert [(d.allowed, d.remaining) for d in first] == [(True, 9), (True, 0)]
        second = await limiter.admit([wide, narrow], "b")
        assert second is not None
        assert [d.allowed for d in second] == [True, False]
        assert 0 < second[1].retry_after <= 60
        third = await limiter.admit([wide], "c")
        assert third is not None
        assert third[0].remaining == 8
    finally:
        await limiter.close()


async def test_a_slot_comes_back_on_release_or_when_its_lease_lapses(redis_url: str) -> None:
    limiter = RedisLimiter(redis_url, lease=0.3)
    try:
        one = check("concurrent_requests", 1)
        assert (await limiter.admit([one], "a") or ())[0].allowed
        assert not (await limiter.admit([one], "b") or ())[0].allowed
        limiter.release([one], "a")
        await asyncio.sleep(0.05)
        assert (await limiter.admit([one], "c") or ())[0].allowed
        # "c" is never released (as if its process crashed): its lease lapses.
        crashed = RedisLimiter(redis_url, lease=0.3)
        await asyncio.sleep(0.4)
        assert (await crashed.admit([one], "d") or ())[0].allowed
        await crashed.close()
    finally:
        await limiter.close()


async def test_a_held_lease_is_renewed_while_its_request_runs(redis_url: str) -> None:
    limiter = RedisLimiter(redis_url, lease=0.3)
    limiter.start()
    try:
        one = check("concurrent_streams", 1)
        assert (await limiter.admit([one], "a") or ())[0].allowed
        await asyncio.sleep(0.6)  # twice the lease: renewed every 0.1 s meanwhile
        assert not (await limiter.admit([one], "b") or ())[0].allowed
    finally:
        await limiter.close()


async def test_a_token_estimate_is_corrected(redis_url: str) -> None:
    limiter = RedisLimiter(redis_url)
    try:
        tokens = check("tokens_per_minute", 1000, cost=900)
        assert (await limiter.admit([tokens], "a") or ())[0].allowed
        assert not (await limiter.admit([tokens], "b") or ())[0].allowed
        limiter.charge([tokens], -800)
        await asyncio.sleep(0.05)
        assert (await limiter.admit([tokens], "c") or ())[0].allowed
    finally:
        await limiter.close()


async def test_unreachable_redis_answers_none_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    limiter = RedisLimiter(f"redis://:hunter2@127.0.0.1:{free_port()}/0")
    try:
        for _ in range(3):
            assert await limiter.admit([check("requests_per_minute", 5)], "a") is None
        assert limiter.errors == 3
        assert len([r for r in caplog.records if r.name == "gateway.limits"]) == 1
        assert "hunter2" not in caplog.text
    finally:
        await limiter.close()
