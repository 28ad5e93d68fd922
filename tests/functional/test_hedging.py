"""Hedged requests: a slow target gets a parallel backup; the first ready answers, the other is cut."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

from tests.fake_provider import FakeProvider, Received

CHAT: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
CHUNK = b'data: {"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":"stop"}]}\n\n'
DONE = b"data: [DONE]\n\n"


def hedged(mode: str, *fakes: FakeProvider, after_ms: int = 100) -> dict[str, str]:
    targets = [{"provider": "openai", "api_key": "sk-x", "custom_host": fake.base_url} for fake in fakes]
    config = {"strategy": {"mode": mode, "hedge_after_ms": after_ms}, "targets": targets}
    return {"x-portkey-config": json.dumps(config)}


def answering(name: str, after: float = 0.0) -> Callable[..., Awaitable[web.StreamResponse]]:
    async def respond(request: web.Request, received: Received) -> web.StreamResponse:
        await asyncio.sleep(after)
        return web.json_response({"id": name})

    return respond


def streaming(after: float) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Headers at once, the first chunk after ``after`` seconds."""

    async def respond(request: web.Request, received: Received) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await asyncio.sleep(after)
        await response.write(CHUNK + DONE)
        return response

    return respond


async def post(gateway_url: str, headers: dict[str, str], stream: bool = False) -> tuple[int, bytes, str]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{gateway_url}/v1/chat/completions", json={**CHAT, "stream": stream}, headers=headers
        ) as response,
    ):
        body = await asyncio.wait_for(response.read(), 10)
        return response.status, body, response.headers.get("x-portkey-last-used-option-index", "")


async def test_a_slow_primary_is_hedged_and_the_backup_wins(
    gateway_url: str, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    fake.on("POST", "/v1/chat/completions", answering("primary", after=5))
    fake_b.on("POST", "/v1/chat/completions", answering("backup"))
    status, body, where = await post(gateway_url, hedged("fallback", fake, fake_b))
    assert (status, json.loads(body)["id"], where) == (200, "backup", "config.targets[1]")
    # The loser is cancelled and its connection closed, not left running for five seconds.
    await asyncio.wait_for(fake.last.disconnected.wait(), 5)


async def test_a_fast_primary_never_starts_the_backup(
    gateway_url: str, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    fake.on("POST", "/v1/chat/completions", answering("primary"))
    status, body, _ = await post(gateway_url, hedged("fallback", fake, fake_b, after_ms=2000))
    assert (status, json.loads(body)["id"]) == (200, "primary")
    assert fake_b.received == []


async def test_streams_race_to_their_first_chunk(
    gateway_url: str, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    fake.on("POST", "/v1/chat/completions", streaming(after=5))
    fake_b.on("POST", "/v1/chat/completions", streaming(after=0))
    status, body, where = await post(gateway_url, hedged("fallback", fake, fake_b), stream=True)
    assert (status, body, where) == (200, CHUNK + DONE, "config.targets[1]")
    await asyncio.wait_for(fake.last.disconnected.wait(), 5)


async def test_a_hedged_loadbalance_races_a_second_pick(
    gateway_url: str, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    for provider, name in ((fake, "a"), (fake_b, "b")):
        provider.on("POST", "/v1/chat/completions", answering(name, after=5 if name == "a" else 0))
    for _ in range(4):  # whichever is picked first, the fast one answers
        status, body, _ = await post(gateway_url, hedged("loadbalance", fake, fake_b))
        assert (status, json.loads(body)["id"]) == (200, "b")


async def test_when_both_hedged_targets_fail_the_caller_gets_the_failure(
    gateway_url: str, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    arrived: list[None] = []
    both_in = asyncio.Event()

    async def unavailable(request: web.Request, received: Received) -> web.StreamResponse:
        # Fail only once the hedge is out too: both attempts are in flight when the failures come.
        arrived.append(None)
        if len(arrived) == 2:
            both_in.set()
        await asyncio.wait_for(both_in.wait(), 10)
        return web.json_response({"error": {"message": "down"}}, status=503)

    fake.on("POST", "/v1/chat/completions", unavailable)
    fake_b.on("POST", "/v1/chat/completions", unavailable)
    status, body, _ = await post(gateway_url, hedged("fallback", fake, fake_b))
    assert status == 503
    assert json.loads(body)["error"]["message"] == "down"
