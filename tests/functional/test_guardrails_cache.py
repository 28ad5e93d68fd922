"""Guardrails and the response cache together: input hooks run before the lookup (a denied request
is denied whatever the cache holds) and output hooks run on cached answers as on fresh ones (a
stored answer was stored as the provider gave it: redaction applies to every HIT too)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from tests.conftest import GatewayFactory
from tests.fake_provider import FakeProvider, Received
from tests.functional.test_cache import headers

SECRET_ANSWER = "The code is 4242-1111."
REDACT = {"default.regexReplace": {"rule": r"\d{4}-\d{4}", "redactText": "[CODE]"}}
DENY_HELLO = {"default.regexMatch": {"rule": "hello", "not": True}, "deny": True}


@pytest.fixture
def provider_calls(fake: FakeProvider) -> list[int]:
    calls: list[int] = []

    async def respond(request: web.Request, received: Received) -> web.StreamResponse:
        calls.append(1)
        message = {"role": "assistant", "content": SECRET_ANSWER}
        return web.json_response(
            {
                "id": "c",
                "object": "chat.completion",
                "created": 1,
                "model": "gpt-4o-mini",
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            }
        )

    fake.on("POST", "/v1/chat/completions", respond)
    return calls


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def send(
    http: aiohttp.ClientSession, port: int, sent: dict[str, str], text: str = "hello there", **body: Any
) -> tuple[int, str, bytes]:
    async with http.post(
        f"http://127.0.0.1:{port}/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}], **body},
        headers=sent,
    ) as response:
        raw = await response.read()
        status = (response.status, response.headers.get("x-portkey-cache-status", ""), raw)
    await asyncio.sleep(0.02)  # stores run off the request path
    return status


async def test_output_hooks_redact_a_cached_answer_as_they_redact_a_fresh_one(
    make_gateway: GatewayFactory, http: aiohttp.ClientSession, fake: FakeProvider, provider_calls: list[int]
) -> None:
    server = await make_gateway()
    config = json.dumps({"cache": {"mode": "simple"}, "output_guardrails": [REDACT]})
    for expected_cache in ("MISS", "HIT"):
        status, cache_status, raw = await send(http, server.port or 0, headers(fake, config=config))
        answer = orjson.loads(raw)
        assert (status, cache_status) == (200, expected_cache)
        assert answer["choices"][0]["message"]["content"] == "The code is [CODE]."
        assert answer["hook_results"]["after_request_hooks"][0]["transformed"] is True
        assert b"4242" not in raw
    assert len(provider_calls) == 1


async def test_a_streamed_hit_is_redacted_too(
    make_gateway: GatewayFactory, http: aiohttp.ClientSession, fake: FakeProvider, provider_calls: list[int]
) -> None:
    server = await make_gateway()
    config = json.dumps({"cache": {"mode": "simple"}, "output_guardrails": [REDACT]})
    await send(http, server.port or 0, headers(fake, config=config))
    status, cache_status, raw = await send(http, server.port or 0, headers(fake, config=config), stream=True)
    assert (status, cache_status) == (200, "HIT")
    assert b"[CODE]" in raw
    assert b"4242" not in raw
    assert raw.rstrip().endswith(b"data: [DONE]")
    assert len(provider_calls) == 1


async def test_a_denying_input_hook_denies_a_request_the_cache_could_answer(
    make_gateway: GatewayFactory, http: aiohttp.ClientSession, fake: FakeProvider, provider_calls: list[int]
) -> None:
    server = await make_gateway()
    plain = json.dumps({"cache": {"mode": "simple"}})
    guarded = json.dumps({"cache": {"mode": "simple"}, "input_guardrails": [DENY_HELLO]})
    assert (await send(http, server.port or 0, headers(fake, config=plain)))[:2] == (200, "MISS")
    assert (await send(http, server.port or 0, headers(fake, config=plain)))[:2] == (200, "HIT")
    status, _, raw = await send(http, server.port or 0, headers(fake, config=guarded))
    assert status == 446
    assert SECRET_ANSWER.encode() not in raw
    assert len(provider_calls) == 1
