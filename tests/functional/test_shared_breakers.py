"""Breakers as tenants share them: ONE gateway takes every failure kind from one caller, and a healthy
fallback on the same provider and host, and a second caller's key, are never locked out by it.

The fake provider fails the ``primary`` model for tenant A's key only, in the way the current
scenario says (429, 503, reset, hang, cut before the first chunk, 400); the ``fallback`` model and
every other key are always answered.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from openai import AsyncOpenAI

from tests.conftest import GatewayFactory
from tests.fake_provider import FakeProvider, Received, sse

KEY_A, KEY_B = "sk-tenant-a-SECRET", "sk-tenant-b-SECRET"
SCENARIOS = ["429", "503", "reset", "hang", "cut", "400", "429", "reset", "cut", "503"]


def chunk(model: str, content: str) -> bytes:
    delta = {"index": 0, "delta": {"content": content}, "finish_reason": "stop"}
    return orjson.dumps({"id": "c", "object": "chat.completion.chunk", "model": model, "choices": [delta]})


def completion(model: str) -> dict[str, Any]:
    message = {"role": "assistant", "content": f"from {model}"}
    return {
        "id": "c",
        "object": "chat.completion",
        "model": model,
        "choices": [{"index": 0, "message": message}],
    }


class Provider:
    """Fails the primary model for tenant A as ``scenario`` says; answers everything else."""

    def __init__(self) -> None:
        self.scenario = "ok"

    async def __call__(self, request: web.Request, received: Received) -> web.StreamResponse:
        body: Any = received.json()
        model = body["model"]
        failing = model == "primary" and received.headers["Authorization"] == f"Bearer {KEY_A}"
        if failing and self.scenario != "ok":
            return await self._fail(request)
        if body.get("stream"):
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            await response.write(sse(chunk(model, f"from {model}")))
            return response
        return web.json_response(completion(model))

    async def _fail(self, request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        if self.scenario in ("429", "503", "400"):
            status = int(self.scenario)
            return web.json_response({"error": {"message": "no", "code": None}}, status=status)
        if self.scenario == "reset":
            request.transport.abort()
            return web.Response()
        if self.scenario == "cut":  # headers, then the connection ends before any chunk
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            request.transport.close()
            return response
        await asyncio.Event().wait()  # hang: only the gateway's per-attempt timeout ends it
        raise AssertionError("unreachable")


def config(key: str | None, custom_host: str) -> str:
    def target(model: str, **fields: Any) -> dict[str, Any]:
        credentials = {"api_key": key} if key else {}
        overrides = {"override_params": {"model": model}}
        return {"provider": "openai", "custom_host": custom_host, **credentials, **overrides, **fields}

    return json.dumps(
        {
            "strategy": {"mode": "fallback"},
            "targets": [target("primary", request_timeout=300), target("fallback")],
        }
    )


def sdk(port: int, api_key: str, config_header: str) -> AsyncOpenAI:
    headers = {"x-portkey-config": config_header}
    return AsyncOpenAI(
        base_url=f"http://127.0.0.1:{port}/v1", api_key=api_key, default_headers=headers, max_retries=0
    )


async def ask(client: AsyncOpenAI, stream: bool) -> tuple[str, str]:
    """(which config target answered, the content it gave)."""
    messages = [{"role": "user", "content": "hi"}]
    if stream:
        raw = await client.chat.completions.with_raw_response.create(
            model="m", messages=messages, stream=True
        )
        text = "".join([event.choices[0].delta.content or "" async for event in raw.parse()])
        return raw.headers["x-portkey-last-used-option-index"], text
    raw = await client.chat.completions.with_raw_response.create(model="m", messages=messages)
    content = raw.parse().choices[0].message.content or ""
    return raw.headers["x-portkey-last-used-option-index"], content


@pytest.fixture
async def tenants(
    make_gateway: GatewayFactory, fake: FakeProvider
) -> tuple[Provider, AsyncOpenAI, AsyncOpenAI, int]:
    provider = Provider()
    fake.on("POST", "/v1/chat/completions", provider)
    server = await make_gateway()
    # Tenant A names its key in the config; tenant B sends its own as Authorization.
    a = sdk(server.port, "unused", config(KEY_A, fake.base_url))
    b = sdk(server.port, KEY_B, config(None, fake.base_url))
    return provider, a, b, server.port


async def test_one_callers_failures_never_lock_out_a_healthy_fallback_or_another_key(
    tenants: tuple[Provider, AsyncOpenAI, AsyncOpenAI, int],
) -> None:
    provider, a, b, port = tenants
    for number, scenario in enumerate(SCENARIOS):
        provider.scenario = scenario
        for stream in (False, True):
            answered_by, text = await ask(a, stream)
            assert (answered_by, text) == ("config.targets[1]", "from fallback"), (number, scenario, stream)
        # Tenant B's key on the very same primary is untouched by A's failures.
        assert await ask(b, stream=number % 2 == 1) == ("config.targets[0]", "from primary"), scenario

    # And concurrently: A's traffic still failing, B's still served by the primary.
    provider.scenario = "429"
    answers = await asyncio.gather(
        *[ask(a, i % 2 == 0) for i in range(10)], *[ask(b, i % 2 == 0) for i in range(10)]
    )
    assert answers[:10] == [("config.targets[1]", "from fallback")] * 10
    assert answers[10:] == [("config.targets[0]", "from primary")] * 10

    rows = await health_rows(port)
    states = {(row["model"], row["credential"]): row for row in rows}
    assert len(states) == 3, "A's primary, A's fallback and B's primary are three targets"
    fallback = [row for (model, _), row in states.items() if model == "fallback"]
    assert [(row["state"], row["errors"]) for row in fallback] == [("closed", 0)]
    primaries = sorted(row["state"] for (model, _), row in states.items() if model == "primary")
    assert primaries == ["closed", "open"]
    shown = json.dumps(rows)
    assert KEY_A not in shown
    assert KEY_B not in shown


async def test_a_recovered_primary_is_trusted_again_for_its_own_caller_only(
    tenants: tuple[Provider, AsyncOpenAI, AsyncOpenAI, int],
) -> None:
    provider, a, b, port = tenants
    provider.scenario = "503"
    for _ in range(6):  # past the default 5 consecutive failures: A's primary is open
        assert (await ask(a, False))[0] == "config.targets[1]"
    rows = await health_rows(port)
    assert sorted((row["model"], row["state"]) for row in rows) == [
        ("fallback", "closed"),
        ("primary", "open"),
    ]
    assert (await ask(b, True))[0] == "config.targets[0]"


async def health_rows(port: int) -> list[dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/v1/health/targets") as response,
    ):
        rows: list[dict[str, Any]] = (await response.json())["targets"]
        return rows
