"""Routing configs (x-portkey-config): modes, nesting, overrides, named configs and validation."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from openai import AsyncOpenAI

from gateway.config.settings import load_settings
from tests.conftest import GatewayFactory
from tests.fake_provider import FakeProvider, Received, sse

CHAT: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
COMPLETION = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m", "choices": []}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def target(fake: FakeProvider, **fields: Any) -> dict[str, Any]:
    return {"provider": "openai", "api_key": f"sk-{fake.port}", "custom_host": fake.base_url, **fields}


def answers(status: int, body: dict[str, Any] | None = None) -> Callable[..., Awaitable[web.StreamResponse]]:
    async def respond(request: web.Request, received: Received) -> web.StreamResponse:
        return web.json_response(body or {"error": {"message": f"status {status}"}}, status=status)

    return respond


async def call(
    http: aiohttp.ClientSession, gateway_url: str, config: dict[str, Any] | str, **extra: str
) -> tuple[int, Any, aiohttp.typedefs.LooseHeaders]:
    header = config if isinstance(config, str) else json.dumps(config)
    async with http.post(
        f"{gateway_url}/v1/chat/completions", json=CHAT, headers={"x-portkey-config": header, **extra}
    ) as response:
        return response.status, await response.json(), response.headers


async def test_single_target_config_sends_the_targets_key_and_names_it(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider
) -> None:
    fake.on("POST", "/v1/chat/completions", answers(200, COMPLETION))
    status, body, headers = await call(http, gateway_url, target(fake))
    assert (status, body) == (200, COMPLETION)
    assert fake.last.headers["Authorization"] == f"Bearer sk-{fake.port}"
    assert headers["x-portkey-last-used-option-index"] == "config"
    assert headers["x-portkey-provider"] == "openai"


async def test_fallback_moves_on_after_a_failing_status(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    fake.on("POST", "/v1/chat/completions", answers(503))
    fake_b.on("POST", "/v1/chat/completions", answers(200, COMPLETION))
    config = {"strategy": {"mode": "fallback"}, "targets": [target(fake), target(fake_b)]}
    status, body, headers = await call(http, gateway_url, config)
    assert (status, body) == (200, COMPLETION)
    assert headers["x-portkey-last-used-option-index"] == "config.targets[1]"
    assert headers["x-portkey-retry-attempt-count"] == "0"
    assert len(fake.received) == len(fake_b.received) == 1
    assert fake_b.last.json() == CHAT


async def test_fallback_keeps_a_status_outside_its_on_status_codes(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    fake.on("POST", "/v1/chat/completions", answers(500, {"error": {"message": "boom"}}))
    config = {
        "strategy": {"mode": "fallback", "on_status_codes": [429]},
        "targets": [target(fake), target(fake_b)],
    }
    status, body, _ = await call(http, gateway_url, config)
    assert (status, body) == (500, {"error": {"message": "boom"}})
    assert fake_b.received == []


async def test_fallback_moves_on_when_the_first_target_cannot_be_reached(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = {"provider": "openai", "custom_host": f"http://127.0.0.1:{closed.getsockname()[1]}/v1"}
    fake.on("POST", "/v1/chat/completions", answers(200, COMPLETION))
    config = {"strategy": {"mode": "fallback"}, "targets": [dead, target(fake)]}
    status, body, headers = await call(http, gateway_url, config)
    assert (status, body) == (200, COMPLETION)
    assert headers["x-portkey-last-used-option-index"] == "config.targets[1]"


async def test_fallback_moves_on_when_a_targets_request_timeout_passes(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    async def silent(request: web.Request, received: Received) -> web.StreamResponse:
        await asyncio.sleep(30)
        raise AssertionError("the gateway should have given up")

    fake.on("POST", "/v1/chat/completions", silent)
    fake_b.on("POST", "/v1/chat/completions", answers(200, COMPLETION))
    config = {
        "strategy": {"mode": "fallback"},
        "targets": [target(fake, request_timeout=200), target(fake_b)],
    }
    status, body, _ = await asyncio.wait_for(call(http, gateway_url, config), 10)
    assert (status, body) == (200, COMPLETION)


async def test_streams_fall_back_before_anything_reaches_the_client(
    gateway_url: str, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    stream = sse(b'{"choices":[{"index":0,"delta":{"content":"hi"}}]}')

    async def streams(request: web.Request, received: Received) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(stream)
        return response

    fake.on("POST", "/v1/chat/completions", answers(429))
    fake_b.on("POST", "/v1/chat/completions", streams)
    config = {"strategy": {"mode": "fallback"}, "targets": [target(fake), target(fake_b)]}
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{gateway_url}/v1/chat/completions",
            json={**CHAT, "stream": True},
            headers={"x-portkey-config": json.dumps(config)},
        ) as response,
    ):
        assert response.status == 200
        assert await response.read() == stream


async def test_loadbalance_follows_the_weights_and_skips_weight_zero(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    for provider in (fake, fake_b):
        provider.on("POST", "/v1/chat/completions", answers(200, COMPLETION))
    config = {
        "strategy": {"mode": "loadbalance"},
        "targets": [target(fake, weight=3), target(fake_b, weight=1)],
    }
    for _ in range(200):
        await call(http, gateway_url, config)
    # Expected 150 of 200 (standard deviation ~6): these bounds fail only on a broken weighting.
    assert 110 <= len(fake.received) <= 190
    assert len(fake.received) + len(fake_b.received) == 200
    disabled = {"strategy": {"mode": "loadbalance"}, "targets": [target(fake, weight=0), target(fake_b)]}
    for _ in range(20):
        await call(http, gateway_url, disabled)
    assert len(fake.received) + len(fake_b.received) == 220
    assert len(fake_b.received) >= 20


CONDITIONAL = {
    "strategy": {
        "mode": "conditional",
        "conditions": [
            {"query": {"metadata.plan": {"$eq": "paid"}}, "then": "paid"},
            {
                "query": {
                    "$and": [{"params.model": {"$in": ["gpt-4o-mini"]}}, {"metadata.team": {"$regex": "^ml"}}]
                },
                "then": "paid",
            },
        ],
        "default": "free",
    },
}


@pytest.mark.parametrize(
    ("metadata", "paid_requests"),
    [({"plan": "paid"}, 1), ({"plan": "free"}, 0), ({"team": "ml-research"}, 1), ({"team": "web"}, 0)],
)
async def test_conditional_routing_on_metadata_and_params(
    metadata: dict[str, str],
    paid_requests: int,
    http: aiohttp.ClientSession,
    gateway_url: str,
    fake: FakeProvider,
    fake_b: FakeProvider,
) -> None:
    for provider in (fake, fake_b):
        provider.on("POST", "/v1/chat/completions", answers(200, COMPLETION))
    config = {**CONDITIONAL, "targets": [target(fake, name="paid"), target(fake_b, name="free")]}
    status, _, _ = await call(http, gateway_url, config, **{"x-portkey-metadata": json.dumps(metadata)})
    assert status == 200
    assert (len(fake.received), len(fake_b.received)) == (paid_requests, 1 - paid_requests)


async def test_conditional_without_a_match_or_default_is_a_400(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider
) -> None:
    config = {
        "strategy": {
            "mode": "conditional",
            "conditions": [{"query": {"metadata.plan": "paid"}, "then": "a"}],
        },
        "targets": [target(fake, name="a")],
    }
    status, body, _ = await call(http, gateway_url, config)
    assert status == 400
    assert body["error"]["code"] == "no_matching_condition"
    assert fake.received == []


async def test_nested_configs_and_inherited_override_params(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    fake.on("POST", "/v1/chat/completions", answers(503))
    fake_b.on("POST", "/v1/chat/completions", answers(200, COMPLETION))
    config = {
        "strategy": {"mode": "fallback"},
        "override_params": {"temperature": 0.2},
        "targets": [
            {
                "strategy": {"mode": "loadbalance"},
                "targets": [target(fake, override_params={"model": "gpt-4o"})],
            },
            target(fake_b, override_params={"model": "backup-model"}),
        ],
    }
    status, _, headers = await call(http, gateway_url, config)
    assert status == 200
    assert headers["x-portkey-last-used-option-index"] == "config.targets[1]"
    assert fake.last.json() == {**CHAT, "model": "gpt-4o", "temperature": 0.2}
    assert fake_b.last.json() == {**CHAT, "model": "backup-model", "temperature": 0.2}


async def test_named_config_from_the_settings_file(
    tmp_path: Path, make_gateway: GatewayFactory, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    settings_file = tmp_path / "gateway.toml"
    settings_file.write_text(
        f"""
        [configs.resilient]
        strategy = {{ mode = "fallback", on_status_codes = [429, 503] }}
        targets = [
          {{ provider = "openai", api_key = "sk-a", custom_host = "{fake.base_url}" }},
          {{ provider = "openai", api_key = "sk-b", custom_host = "{fake_b.base_url}" }},
        ]
        """,
        encoding="utf-8",
    )
    server = await make_gateway(load_settings(str(settings_file), environ={}))
    fake.on("POST", "/v1/chat/completions", answers(429))
    fake_b.on("POST", "/v1/chat/completions", answers(200, COMPLETION))
    sdk = AsyncOpenAI(
        base_url=f"http://127.0.0.1:{server.port}/v1",
        api_key="unused",
        default_headers={"x-portkey-config": "resilient"},
        max_retries=0,
    )
    async with sdk:
        completion = await sdk.chat.completions.create(**CHAT)
    assert completion.id == COMPLETION["id"]
    assert fake_b.last.headers["Authorization"] == "Bearer sk-b"


@pytest.mark.parametrize(
    ("config", "where"),
    [
        ({"strategy": {"mode": "roundrobin"}, "targets": [{"provider": "openai"}]}, "config.strategy.mode"),
        (
            {"strategy": {"mode": "loadbalance"}, "targets": [{"provider": "openai", "weight": "heavy"}]},
            "config.targets[0].weight",
        ),
        ({"strategy": {"mode": "fallback"}, "targets": []}, "config.targets"),
        (
            {
                "strategy": {
                    "mode": "conditional",
                    "conditions": [{"query": {"metadata.x": {"$near": 1}}, "then": "a"}],
                },
                "targets": [{"provider": "openai", "name": "a"}],
            },
            "config.strategy.conditions[0].query.metadata.x.$near",
        ),
        ({"provider": "openai", "retry": {"attempts": "many"}}, "config.retry.attempts"),
        (
            {"strategy": {"mode": "fallback"}, "targets": [{"provider": "openai"}, {"provider": "grok"}]},
            "config.targets[1].provider",
        ),
        ("{not json", "not valid JSON"),
        ("no-such-config", "No config named 'no-such-config'"),
    ],
)
async def test_bad_configs_are_a_400_naming_the_field(
    config: dict[str, Any] | str, where: str, http: aiohttp.ClientSession, gateway_url: str
) -> None:
    status, body, _ = await call(http, gateway_url, config)
    assert status == 400
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["param"] == "x-portkey-config"
    assert where in body["error"]["message"]
