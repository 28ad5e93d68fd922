"""The expiring-value cache: one fetch per miss, failures not cached, bounded; OAuth token answers."""

from __future__ import annotations

import asyncio

import pytest

from gateway.errors import UpstreamBroken
from gateway.upstream.expiring import Expiring, ExpiringCache, access_token, remember


class Fetcher:
    def __init__(self, lifetime: float = 3600.0) -> None:
        self.calls = 0
        self.lifetime = lifetime
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self) -> Expiring[str]:
        self.calls += 1
        await self.release.wait()
        return Expiring(f"token-{self.calls}", self.lifetime)


async def test_a_cached_value_is_served_without_another_fetch() -> None:
    cache: ExpiringCache[str] = ExpiringCache()
    fetch = Fetcher()
    assert await cache.get("k", fetch) == "token-1"
    assert await cache.get("k", fetch) == "token-1"
    assert fetch.calls == 1


async def test_concurrent_misses_share_one_fetch() -> None:
    cache: ExpiringCache[str] = ExpiringCache()
    fetch = Fetcher()
    fetch.release.clear()
    waiters = [asyncio.create_task(cache.get("k", fetch)) for _ in range(5)]
    await asyncio.sleep(0)
    fetch.release.set()
    assert await asyncio.gather(*waiters) == ["token-1"] * 5
    assert fetch.calls == 1


async def test_a_value_within_the_margin_of_its_expiry_is_fetched_again() -> None:
    cache: ExpiringCache[str] = ExpiringCache(margin=300.0)
    fetch = Fetcher(lifetime=200.0)  # already inside the margin when it arrives
    assert await cache.get("k", fetch) == "token-1"
    assert await cache.get("k", fetch) == "token-2"


async def test_a_failed_fetch_raises_to_the_caller_and_is_not_cached() -> None:
    cache: ExpiringCache[str] = ExpiringCache()

    async def failing() -> Expiring[str]:
        raise UpstreamBroken("token endpoint down")

    with pytest.raises(UpstreamBroken):
        await cache.get("k", failing)
    assert await cache.get("k", Fetcher()) == "token-1"


async def test_a_cancelled_caller_does_not_cancel_the_shared_fetch() -> None:
    cache: ExpiringCache[str] = ExpiringCache()
    fetch = Fetcher()
    fetch.release.clear()
    leaving = asyncio.create_task(cache.get("k", fetch))
    staying = asyncio.create_task(cache.get("k", fetch))
    await asyncio.sleep(0)
    leaving.cancel()
    fetch.release.set()
    assert await staying == "token-1"
    assert fetch.calls == 1


async def test_the_oldest_key_leaves_a_full_cache() -> None:
    cache: ExpiringCache[str] = ExpiringCache(max_entries=2)
    fetch = Fetcher()
    for key in ("a", "b", "c"):
        await cache.get(key, fetch)
    assert await cache.get("c", fetch) == "token-3"
    assert await cache.get("a", fetch) == "token-4"  # dropped, so fetched again


def test_remember_refreshes_a_key_to_newest_and_bounds_the_dict() -> None:
    store: dict[str, int] = {}
    for key, value in (("a", 1), ("b", 2), ("a", 3), ("c", 4)):
        remember(store, key, value, 2)
    assert store == {"a": 3, "c": 4}


@pytest.mark.parametrize(
    ("body", "lifetime"),
    [
        (b'{"access_token": "t", "expires_in": 3599}', 3599.0),
        (b'{"access_token": "t", "expires_in": "86399"}', 86399.0),
    ],
)
def test_access_token_reads_numbers_and_imds_digit_strings(body: bytes, lifetime: float) -> None:
    assert access_token(body, "Entra ID") == Expiring("t", lifetime)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"access_token": "t"}',
        b'{"access_token": "", "expires_in": 1}',
        b'{"expires_in": "1h"}',
    ],
)
def test_an_answer_without_token_and_lifetime_is_a_502_naming_the_endpoint(body: bytes) -> None:
    with pytest.raises(UpstreamBroken) as caught:
        access_token(body, "Google")
    assert caught.value.status == 502
    assert "Google token endpoint" in caught.value.message
