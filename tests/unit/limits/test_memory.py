"""The one-process limiter: all the limits of a request or none, slots held until released."""

from __future__ import annotations

from gateway.limits.limiter import Check
from gateway.limits.memory import MemoryLimiter
from tests.clock import ManualClock


def rpm(key: str, limit: int) -> Check:
    return Check(key, "requests_per_minute", limit, 1, "gateway key k", "gateway_keys.k.limits.x")


def slots(key: str, limit: int) -> Check:
    return Check(key, "concurrent_requests", limit, 1, "gateway key k", "gateway_keys.k.limits.y")


async def test_a_request_refused_by_one_limit_is_charged_to_none() -> None:
    limiter = MemoryLimiter(ManualClock())
    wide, narrow = rpm("wide", 10), rpm("narrow", 1)
    assert [d.allowed for d in await limiter.admit([wide, narrow], "a")] == [True, True]
    assert [d.allowed for d in await limiter.admit([wide, narrow], "b")] == [True, False]
    # "wide" was not charged for the refused request: 9 of 10 are left, then 8.
    assert (await limiter.admit([wide], "c"))[0].remaining == 8


async def test_slots_are_held_until_released() -> None:
    limiter = MemoryLimiter(ManualClock())
    two = slots("c", 2)
    assert (await limiter.admit([two], "a"))[0].allowed
    assert (await limiter.admit([two], "b"))[0].allowed
    refused = (await limiter.admit([two], "c"))[0]
    assert not refused.allowed
    assert refused.retry_after == 1.0
    limiter.release([two], "a")
    assert (await limiter.admit([two], "d"))[0].allowed


async def test_the_rate_comes_back_with_the_clock() -> None:
    clock = ManualClock()
    limiter = MemoryLimiter(clock)
    one = rpm("r", 1)
    assert (await limiter.admit([one], "a"))[0].allowed
    assert not (await limiter.admit([one], "b"))[0].allowed
    clock.advance(60)
    assert (await limiter.admit([one], "c"))[0].allowed


async def test_charge_corrects_a_token_estimate() -> None:
    limiter = MemoryLimiter(ManualClock())
    tokens = Check("t", "tokens_per_minute", 1000, 900, "gateway key k", "p")
    assert (await limiter.admit([tokens], "a"))[0].allowed
    limiter.charge([tokens], -800)  # the answer used 100
    assert (await limiter.admit([tokens], "b"))[0].allowed
