"""loadbalance beyond weights: least requests in flight, and lowest recent latency."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.fake_provider import FakeProvider, Received

CHAT: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def balanced(balance: str, *fakes: FakeProvider) -> dict[str, str]:
    targets = [{"provider": "openai", "api_key": "sk-x", "custom_host": fake.base_url} for fake in fakes]
    config = {"strategy": {"mode": "loadbalance", "balance": balance}, "targets": targets}
    return {"x-portkey-config": json.dumps(config)}


async def ask(gateway_url: str, headers: dict[str, str]) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{gateway_url}/v1/chat/completions", json=CHAT, headers=headers) as response,
    ):
        return response.status, await response.json()


def held_until(
    release: asyncio.Event, arrivals: asyncio.Queue[None]
) -> Callable[..., Awaitable[web.StreamResponse]]:
    async def respond(request: web.Request, received: Received) -> web.StreamResponse:
        arrivals.put_nowait(None)
        await release.wait()
        return web.json_response({"id": "x"})

    return respond


def delayed(seconds: float) -> Callable[..., Awaitable[web.StreamResponse]]:
    async def respond(request: web.Request, received: Received) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return web.json_response({"id": "x"})

    return respond


async def test_least_inflight_sends_the_next_request_to_the_idle_target(
    gateway_url: str, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    release = asyncio.Event()
    arrivals: asyncio.Queue[None] = asyncio.Queue()
    for provider in (fake, fake_b):
        provider.on("POST", "/v1/chat/completions", held_until(release, arrivals))
    headers = balanced("least-inflight", fake, fake_b)
    first = asyncio.create_task(ask(gateway_url, headers))
    await asyncio.wait_for(arrivals.get(), 10)
    second = asyncio.create_task(ask(gateway_url, headers))
    await asyncio.wait_for(arrivals.get(), 10)
    assert (len(fake.received), len(fake_b.received)) == (1, 1)  # the busy one was passed over
    release.set()
    assert [(await task)[0] for task in (first, second)] == [200, 200]


async def test_latency_balancing_prefers_the_faster_target_once_both_are_measured(
    gateway_url: str, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    fake.on("POST", "/v1/chat/completions", delayed(0.2))
    fake_b.on("POST", "/v1/chat/completions", delayed(0))
    headers = balanced("latency", fake, fake_b)
    for _ in range(2):  # each unmeasured target is tried once
        assert (await ask(gateway_url, headers))[0] == 200
    assert (len(fake.received), len(fake_b.received)) == (1, 1)
    for _ in range(5):
        assert (await ask(gateway_url, headers))[0] == 200
    assert (len(fake.received), len(fake_b.received)) == (1, 6)


@pytest.mark.parametrize(
    ("strategy", "problem"),
    [
        ({"mode": "loadbalance", "balance": "fastest"}, "expected one of"),
        ({"mode": "fallback", "balance": "latency"}, "only a loadbalance"),
    ],
)
async def test_bad_balance_settings_are_a_400(
    strategy: dict[str, str], problem: str, gateway_url: str, fake: FakeProvider
) -> None:
    config = {"strategy": strategy, "targets": [{"provider": "openai", "custom_host": fake.base_url}]}
    status, body = await ask(gateway_url, {"x-portkey-config": json.dumps(config)})
    assert status == 400
    assert "config.strategy.balance" in body["error"]["message"]
    assert problem in body["error"]["message"]
