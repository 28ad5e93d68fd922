"""The lean client's per-host cap: places per origin, taken in turn, given back, left when cancelled."""

from __future__ import annotations

import asyncio

import pytest

from gateway.upstream.host_cap import HostCap


async def taken(task: asyncio.Task[None]) -> bool:
    """Whether ``task`` got its place (after letting the loop run what is ready)."""
    for _ in range(3):
        await asyncio.sleep(0)
    return task.done()


async def test_places_beyond_the_cap_wait_and_go_in_the_order_they_came() -> None:
    cap = HostCap(2)
    await cap.take("a")
    await cap.take("a")
    waiting = [asyncio.create_task(cap.take("a")) for _ in range(3)]
    assert [await taken(task) for task in waiting] == [False, False, False]
    cap.give_back("a")
    assert [await taken(task) for task in waiting] == [True, False, False]
    cap.give_back("a")
    assert [await taken(task) for task in waiting] == [True, True, False]


async def test_origins_are_capped_apart() -> None:
    cap = HostCap(1)
    await cap.take("a")
    other = asyncio.create_task(cap.take("b"))
    assert await taken(other)


async def test_a_waiter_cancelled_leaves_the_queue_and_the_next_gets_the_place() -> None:
    cap = HostCap(1)
    await cap.take("a")
    leaving, staying = asyncio.create_task(cap.take("a")), asyncio.create_task(cap.take("a"))
    await taken(staying)
    leaving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leaving
    cap.give_back("a")
    assert await taken(staying)


async def test_a_place_handed_to_a_waiter_cancelled_just_then_goes_to_the_next() -> None:
    cap = HostCap(1)
    await cap.take("a")
    leaving, staying = asyncio.create_task(cap.take("a")), asyncio.create_task(cap.take("a"))
    await taken(staying)
    cap.give_back("a")  # handed to ``leaving``, which has not run yet...
    leaving.cancel()  # ...and is cancelled before it does
    with pytest.raises(asyncio.CancelledError):
        await leaving
    assert await taken(staying)


async def test_nothing_is_kept_for_an_origin_once_its_requests_are_over() -> None:
    cap = HostCap(1)
    await cap.take("a")
    waiting = asyncio.create_task(cap.take("a"))
    leaving = asyncio.create_task(cap.take("a"))
    await taken(waiting)
    leaving.cancel()
    cap.give_back("a")
    await waiting
    cap.give_back("a")
    with pytest.raises(asyncio.CancelledError):
        await leaving
    # The per-origin bookkeeping is private; many callers' hosts must not pile up in it.
    assert (cap._busy, cap._queues) == ({}, {})
    await cap.take("a")  # and the origin starts afresh


def test_a_cap_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        HostCap(0)
