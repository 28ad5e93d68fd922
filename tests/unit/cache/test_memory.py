"""MemoryStore: LRU bounded in bytes with a ttl per entry, driven by a clock the test moves."""

from __future__ import annotations

from gateway.cache.memory import MemoryStore
from tests.clock import ManualClock


def store(max_bytes: int = 1000) -> tuple[MemoryStore, ManualClock]:
    clock = ManualClock()
    return MemoryStore(max_bytes, clock=clock), clock


async def test_a_stored_value_is_read_back_until_its_ttl_runs_out() -> None:
    cache, clock = store()
    await cache.put("k", b"answer", ttl=10)
    clock.advance(9.9)
    assert await cache.get("k") == b"answer"
    clock.advance(0.1)
    assert await cache.get("k") is None


async def test_an_unknown_key_reads_as_absent() -> None:
    cache, _ = store()
    assert await cache.get("nothing") is None


async def test_an_expired_entry_is_dropped_and_its_bytes_freed() -> None:
    cache, clock = store()
    await cache.put("k", b"12345", ttl=1)
    await cache.put("j", b"1", ttl=100)
    clock.advance(2)
    assert await cache.get("k") is None
    assert (cache.entries, cache.bytes) == (1, 2)


async def test_each_entry_has_its_own_ttl() -> None:
    cache, clock = store()
    await cache.put("short", b"a", ttl=1)
    await cache.put("long", b"b", ttl=60)
    clock.advance(30)
    assert await cache.get("short") is None
    assert await cache.get("long") == b"b"


async def test_the_least_recently_used_entry_is_evicted_for_room() -> None:
    # Each entry is 1 byte of key + 9 of value = 10 bytes; three fit in 30.
    cache, _ = store(max_bytes=30)
    for key in "abc":
        await cache.put(key, b"v" * 9, ttl=60)
    await cache.put("d", b"v" * 9, ttl=60)
    assert await cache.get("a") is None
    assert [await cache.get(key) for key in "bcd"] == [b"v" * 9] * 3
    assert (cache.entries, cache.bytes, cache.evictions) == (3, 30, 1)


async def test_a_read_makes_an_entry_the_most_recently_used() -> None:
    cache, _ = store(max_bytes=30)
    for key in "abc":
        await cache.put(key, b"v" * 9, ttl=60)
    assert await cache.get("a") == b"v" * 9
    await cache.put("d", b"v" * 9, ttl=60)
    assert await cache.get("a") == b"v" * 9
    assert await cache.get("b") is None


async def test_eviction_frees_as_many_entries_as_a_large_value_needs() -> None:
    cache, _ = store(max_bytes=30)
    for key in "abc":
        await cache.put(key, b"v" * 9, ttl=60)
    await cache.put("big", b"x" * 22, ttl=60)
    assert [await cache.get(key) for key in "abc"] == [None, None, None]
    assert await cache.get("big") == b"x" * 22
    assert (cache.entries, cache.bytes, cache.evictions) == (1, 25, 3)


async def test_expired_entries_pushed_out_for_room_are_not_counted_as_evictions() -> None:
    cache, clock = store(max_bytes=20)
    await cache.put("a", b"v" * 9, ttl=1)
    await cache.put("b", b"v" * 9, ttl=60)
    clock.advance(5)
    await cache.put("c", b"v" * 9, ttl=60)
    assert cache.evictions == 0
    await cache.put("d", b"v" * 9, ttl=60)
    assert cache.evictions == 1
    assert await cache.get("b") is None


async def test_a_put_replaces_the_value_its_size_and_its_ttl() -> None:
    cache, clock = store()
    await cache.put("k", b"old value", ttl=1)
    await cache.put("k", b"new", ttl=60)
    clock.advance(30)
    assert await cache.get("k") == b"new"
    assert (cache.entries, cache.bytes, cache.evictions) == (1, 4, 0)


async def test_a_value_larger_than_the_bound_is_not_stored() -> None:
    cache, _ = store(max_bytes=30)
    await cache.put("a", b"v" * 9, ttl=60)
    await cache.put("huge", b"x" * 40, ttl=60)
    assert await cache.get("huge") is None
    assert await cache.get("a") == b"v" * 9
    assert (cache.entries, cache.bytes, cache.evictions) == (1, 10, 0)


async def test_an_oversize_replacement_drops_the_older_value() -> None:
    cache, _ = store(max_bytes=30)
    await cache.put("k", b"old", ttl=60)
    await cache.put("k", b"x" * 40, ttl=60)
    assert await cache.get("k") is None
    assert (cache.entries, cache.bytes) == (0, 0)


async def test_a_zero_ttl_stores_nothing() -> None:
    cache, _ = store()
    await cache.put("k", b"v", ttl=0)
    assert await cache.get("k") is None
    assert (cache.entries, cache.bytes) == (0, 0)


async def test_the_key_counts_in_bytes_by_its_utf8_length() -> None:
    cache, _ = store()
    await cache.put("é", b"12", ttl=60)
    assert cache.bytes == 4


async def test_close_empties_the_store() -> None:
    cache, _ = store()
    await cache.put("k", b"v", ttl=60)
    await cache.close()
    assert await cache.get("k") is None
    assert (cache.entries, cache.bytes, cache.errors) == (0, 0, 0)
