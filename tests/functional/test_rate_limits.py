"""Gateway keys' rate limits through the wire: requests, tokens and concurrency per key and per
model, 429s before any upstream byte with Retry-After and the x-ratelimit-* headers, slots given
back when a client goes away, and the counts shared through Redis by several processes."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.appkeys import RECORDER
from gateway.config.settings import ProviderSettings, Settings
from gateway.limits.caller import GatewayKey, RateLimits, VirtualKey, key_digest
from tests.conftest import GatewayFactory, settings_with
from tests.fake_provider import FakeProvider, Received, sse
from tests.functional.gateway_process import eventually, free_port, gateway_env, start_gateway

TEAM_A = "gk-team-a-0123456789abcdef"
TEAM_B = "gk-team-b-0123456789abcdef"
PROVIDER_KEY = "sk-provider-held-by-the-gateway"


def settings(fake: FakeProvider, a: GatewayKey, **sections: dict[str, Any]) -> Settings:
    b = GatewayKey("team-b", "Team B", key_digest(TEAM_B), limits=RateLimits(requests_per_minute=100))
    base = settings_with(
        keys={"enabled": True, **sections.pop("keys", {})},
        providers={"openai": ProviderSettings(api_key=PROVIDER_KEY, base_url=fake.base_url)},
        **sections,
    )
    return dataclasses.replace(base, gateway_keys={"team-a": a, "team-b": b})


def key_a(**limits: int) -> GatewayKey:
    return GatewayKey("team-a", "Team A", key_digest(TEAM_A), limits=RateLimits(**limits))


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def chat(
    http: aiohttp.ClientSession, port: int, key: str = TEAM_A, **body: Any
) -> tuple[int, dict[str, Any], Any]:
    payload = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], **body}
    async with http.post(
        f"http://127.0.0.1:{port}/v1/chat/completions",
        json=payload,
        headers={"Authorization": f"Bearer {key}", "x-portkey-provider": "openai"},
    ) as response:
        answer = await response.json() if response.content_type == "application/json" else {}
        return response.status, answer, response.headers


async def with_provider_limits(request: web.Request, received: Received) -> web.StreamResponse:
    answer = {"choices": [{"message": {"role": "assistant", "content": "ok"}}]}
    return web.json_response(answer, headers={"x-ratelimit-remaining-requests": "4999"})


async def test_over_requests_per_minute_is_a_429_naming_the_limit_with_retry_after(
    make_gateway: GatewayFactory, fake: FakeProvider, http: aiohttp.ClientSession
) -> None:
    fake.on("POST", "/v1/chat/completions", with_provider_limits)
    server = await make_gateway(settings(fake, key_a(requests_per_minute=2)))
    remaining = []
    for _ in range(2):
        status, _, headers = await chat(http, server.port)
        assert status == 200
        remaining.append(headers["x-gateway-ratelimit-remaining-requests"])
        assert headers["x-gateway-ratelimit-limit-requests"] == "2"
        assert headers["x-ratelimit-remaining-requests"] == "4999"  # the provider's, untouched
    assert remaining == ["1", "0"]
    client = openai.AsyncOpenAI(
        api_key=TEAM_A,
        base_url=f"http://127.0.0.1:{server.port}/v1",
        default_headers={"x-portkey-provider": "openai"},
        max_retries=0,
    )
    with pytest.raises(openai.RateLimitError) as refused:
        await client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    error = refused.value
    assert error.code == "rate_limit_exceeded"
    assert error.param == "gateway_keys.team-a.limits.requests_per_minute"
    assert "team-a" in error.message
    assert TEAM_A not in error.message
    headers = error.response.headers
    assert 1 <= int(headers["Retry-After"]) <= 30  # the first of two comes back within 30 s
    assert headers["x-ratelimit-limit-requests"] == "2"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-ratelimit-reset-requests"].endswith("s")
    assert len(fake.received) == 2
    await client.close()


async def test_limits_are_per_key_and_per_model(
    make_gateway: GatewayFactory, fake: FakeProvider, http: aiohttp.ClientSession
) -> None:
    key = dataclasses.replace(key_a(), model_limits={"gpt-4o": RateLimits(requests_per_minute=1)})
    server = await make_gateway(settings(fake, key))
    assert (await chat(http, server.port, model="gpt-4o"))[0] == 200
    status, body, _ = await chat(http, server.port, model="gpt-4o")
    assert status == 429
    assert body["error"]["param"] == "gateway_keys.team-a.model_limits.gpt-4o.requests_per_minute"
    assert "model gpt-4o" in body["error"]["message"]
    # Other models of the key, and other keys on the same model, are not limited by it.
    assert (await chat(http, server.port, model="gpt-4o-mini"))[0] == 200
    results = await asyncio.gather(*(chat(http, server.port, TEAM_B, model="gpt-4o") for _ in range(5)))
    assert [status for status, _, _ in results] == [200] * 5


async def test_tokens_are_estimated_before_and_corrected_from_the_usage_after(
    make_gateway: GatewayFactory, fake: FakeProvider, http: aiohttp.ClientSession
) -> None:
    async def small_usage(request: web.Request, received: Received) -> web.StreamResponse:
        return web.json_response(
            {
                "choices": [{"message": {"role": "assistant", "content": "ok"}}],
                "usage": {"prompt_tokens": 12, "completion_tokens": 8, "total_tokens": 20},
            }
        )

    fake.on("POST", "/v1/chat/completions", small_usage)
    server = await make_gateway(settings(fake, key_a(tokens_per_minute=1000)))
    # Estimated at 600 + 2 tokens: two do not fit in 1000 unless the first is corrected to 20.
    first = await chat(http, server.port, max_tokens=600)
    assert first[0] == 200
    assert first[2]["x-gateway-ratelimit-remaining-tokens"] == "398"
    await server.app[RECORDER].flush()  # the usage is decoded off the request path
    second = await chat(http, server.port, max_tokens=600)
    assert second[0] == 200
    # 20 (or, not yet corrected, 602) used: 992 more do not fit.
    third = await chat(http, server.port, max_tokens=990)
    assert third[0] == 429
    assert third[1]["error"]["type"] == "tokens"
    assert third[1]["error"]["param"] == "gateway_keys.team-a.limits.tokens_per_minute"
    assert int(third[2]["Retry-After"]) >= 1
    assert third[2]["x-ratelimit-limit-tokens"] == "1000"
    too_large = await chat(http, server.port, max_tokens=5000)
    assert too_large[0] == 429
    assert "too large" in too_large[1]["error"]["message"]
    assert "Retry-After" not in too_large[2]
    assert len(fake.received) == 2


async def test_a_concurrency_slot_is_released_when_the_client_goes_away(
    make_gateway: GatewayFactory, fake: FakeProvider, http: aiohttp.ClientSession
) -> None:
    hold = asyncio.Event()

    async def slow(request: web.Request, received: Received) -> web.StreamResponse:
        if len(fake.received) == 1:
            await hold.wait()
        return web.json_response({"choices": []})

    fake.on("POST", "/v1/chat/completions", slow)
    server = await make_gateway(settings(fake, key_a(concurrent_requests=1)))
    first = asyncio.create_task(chat(http, server.port))
    await eventually(lambda: fake.received, 5, "the first request upstream")
    status, body, headers = await chat(http, server.port)
    assert status == 429
    assert body["error"]["code"] == "concurrency_limit_exceeded"
    assert body["error"]["param"] == "gateway_keys.team-a.limits.concurrent_requests"
    assert headers["Retry-After"] == "1"
    first.cancel()  # the client goes away: the gateway's handler is cancelled
    await eventually(lambda: fake.received[0].disconnected.is_set(), 5, "the upstream request cancelled")
    assert (await chat(http, server.port))[0] == 200
    hold.set()


async def test_streams_count_against_concurrent_streams_while_they_stream(
    make_gateway: GatewayFactory, fake: FakeProvider, http: aiohttp.ClientSession
) -> None:
    done = asyncio.Event()

    async def stream(request: web.Request, received: Received) -> web.StreamResponse:
        if not received.json().get("stream"):  # type: ignore[attr-defined]
            return web.json_response({"choices": []})
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b'data: {"choices": [{"delta": {"content": "a"}}]}\n\n')
        await done.wait()
        await response.write(sse())
        return response

    fake.on("POST", "/v1/chat/completions", stream)
    server = await make_gateway(settings(fake, key_a(concurrent_streams=1)))
    url = f"http://127.0.0.1:{server.port}/v1/chat/completions"
    headers = {"Authorization": f"Bearer {TEAM_A}", "x-portkey-provider": "openai"}
    body = {"model": "m", "messages": [], "stream": True}
    async with http.post(url, json=body, headers=headers) as streaming:
        assert streaming.status == 200
        await streaming.content.readline()
        refused = await chat(http, server.port, stream=True)
        assert refused[0] == 429
        assert refused[1]["error"]["param"] == "gateway_keys.team-a.limits.concurrent_streams"
        assert (await chat(http, server.port))[0] == 200  # not a stream: not limited by it
        done.set()
        await streaming.read()
    await eventually(lambda: _streams_again(http, server), 5, "the stream's slot back")


async def _streams_again(http: aiohttp.ClientSession, server: TestServer) -> bool:
    status, _, _ = await chat(http, server.port, stream=True)
    return status != 429


async def test_keys_without_limits_get_no_limit_headers(
    make_gateway: GatewayFactory, fake: FakeProvider, http: aiohttp.ClientSession
) -> None:
    server = await make_gateway(settings(fake, key_a()))
    status, _, headers = await chat(http, server.port)
    assert status == 200
    assert not [name for name in headers if "ratelimit" in name.lower()]


@pytest.mark.parametrize(("choice", "expected"), [("open", 200), ("closed", 503)])
async def test_with_redis_down_the_setting_decides(
    make_gateway: GatewayFactory,
    fake: FakeProvider,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
    choice: str,
    expected: int,
) -> None:
    down = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    server = await make_gateway(
        settings(
            fake,
            key_a(requests_per_minute=1),
            keys={"redis_url": down},
            rate_limits={"backend": "redis", "on_redis_error": choice},
        )
    )
    results = [await chat(http, server.port) for _ in range(3)]
    assert [status for status, _, _ in results] == [expected] * 3
    if choice == "closed":
        assert results[0][1]["error"]["code"] == "rate_limits_unavailable"
    warnings = [record for record in caplog.records if record.name == "gateway.limits"]
    assert len(warnings) == 1
    async with http.get(f"http://127.0.0.1:{server.port}/metrics") as response:
        series = await response.text()
    assert "gateway_rate_limit_errors_total 3.0" in series
    assert "hunter2" not in caplog.text + series


async def test_two_gateway_processes_sharing_redis_admit_the_limit_not_twice_it(
    tmp_path: Path, fake: FakeProvider, http: aiohttp.ClientSession, redis_url: str
) -> None:
    limit = 5
    config = tmp_path / "gateway.toml"
    config.write_text(
        f"""
[keys]
enabled = true
redis_url = "{redis_url}"
[rate_limits]
backend = "redis"
# The burst comes at once after start-up: a loaded machine's loop lag would shed some of it (503).
[limits]
max_loop_lag = 0.0
[providers.openai]
api_key = "{PROVIDER_KEY}"
base_url = "{fake.base_url}"
[gateway_keys.shared-{tmp_path.name}]
key = "{TEAM_A}"
limits = {{ requests_per_minute = {limit} }}
"""
    )
    gateways = [
        start_gateway(tmp_path, "--config", str(config), env=gateway_env(), port=free_port())
        for _ in range(2)
    ]
    try:
        for gateway in gateways:
            await gateway.wait_ready()
        statuses = await asyncio.gather(*(chat(http, gateways[i % 2].port) for i in range(4 * limit)))
        admitted = sum(1 for status, _, _ in statuses if status == 200)
        assert admitted == limit
        assert {status for status, _, _ in statuses} == {200, 429}
        assert len(fake.received) == limit
    finally:
        for gateway in gateways:
            gateway.kill()


async def test_a_virtual_keys_limit_is_shared_by_every_key_that_uses_it(
    make_gateway: GatewayFactory, fake: FakeProvider, http: aiohttp.ClientSession
) -> None:
    shared = VirtualKey(
        "openai-shared", "openai", api_key=PROVIDER_KEY, limits=RateLimits(requests_per_minute=2)
    )
    base = settings(fake, key_a())
    server = await make_gateway(dataclasses.replace(base, virtual_keys={"openai-shared": shared}))

    async def through_the_virtual_key(key: str) -> tuple[int, dict[str, Any]]:
        async with http.post(
            f"http://127.0.0.1:{server.port}/v1/chat/completions",
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
            headers={"Authorization": f"Bearer {key}", "x-portkey-virtual-key": "openai-shared"},
        ) as response:
            return response.status, await response.json()

    assert [(await through_the_virtual_key(key))[0] for key in (TEAM_A, TEAM_B)] == [200, 200]
    status, body = await through_the_virtual_key(TEAM_A)
    assert status == 429
    assert "virtual key openai-shared" in body["error"]["message"]
    assert body["error"]["param"] == "virtual_keys.openai-shared.limits.requests_per_minute"
    assert PROVIDER_KEY not in str(body)
    assert (await chat(http, server.port or 0, TEAM_B))[0] == 200  # the key's own traffic is not limited
