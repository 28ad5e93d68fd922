"""Budgets and usage per gateway key through the wire: a key that spent its budget gets a 429
``budget_exceeded`` (non-streamed, streamed, and abandoned streams all charged), what was in flight
still completes (the overshoot, measured), usage per key after known traffic (the admin API's
``usage`` and the metrics), and two gateway processes sharing one budget through a real Redis."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import aiohttp
import openai
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.appkeys import BUDGETS, CHARGER, RECORDER
from gateway.config.settings import ProviderSettings, Settings
from gateway.limits.caller import Budget, GatewayKey, key_digest
from gateway.limits.periods import window
from tests.conftest import GatewayFactory, settings_with
from tests.fake_provider import FakeProvider, Received, sse
from tests.functional.gateway_process import eventually, free_port, gateway_env, start_gateway

TEAM_KEY = "gk-team-a-0123456789abcdef"
OTHER_KEY = "gk-team-b-0123456789abcdef"
MODEL = "budget-test-model"
#: $0.001 an input token, $0.002 an output token: 10 in + 5 out = $0.02 a request.
PRICES = {"openai": {"models": {MODEL: {"input": 1000.0, "output": 2000.0}}}}
USAGE = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
COST = 0.02
CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}


def answer_json(request: web.Request, received: Received) -> Awaitable[web.StreamResponse]:
    async def respond() -> web.StreamResponse:
        message = {"role": "assistant", "content": "ok"}
        choice = {"index": 0, "message": message, "finish_reason": "stop"}
        body = {"id": "c1", "object": "chat.completion", "model": MODEL, "choices": [choice], "usage": USAGE}
        return web.json_response(body)

    return respond()


def chunk(content: str | None, finish: str | None = None, usage: dict[str, int] | None = None) -> bytes:
    choices = (
        [] if content is None else [{"index": 0, "delta": {"content": content}, "finish_reason": finish}]
    )
    return orjson.dumps(
        {"id": "c1", "object": "chat.completion.chunk", "model": MODEL, "choices": choices, "usage": usage}
    )


async def answer_stream(request: web.Request, received: Received) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    await response.write(sse(chunk("o"), chunk("k", "stop"), chunk(None, usage=USAGE)))
    return response


def answers(fake: FakeProvider) -> None:
    """JSON or a stream with its usage, as the request asks."""

    async def respond(request: web.Request, received: Received) -> web.StreamResponse:
        asked = received.json()
        assert isinstance(asked, dict)
        return await (answer_stream if asked.get("stream") else answer_json)(request, received)

    fake.on("POST", "/v1/chat/completions", respond)


def pricing_file(tmp_path: Path) -> str:
    path = tmp_path / "prices.json"
    path.write_bytes(orjson.dumps(PRICES))
    return str(path)


def team(*budgets: Budget) -> dict[str, GatewayKey]:
    return {
        "team-a": GatewayKey("team-a", "Team A", key_digest(TEAM_KEY), budgets=budgets),
        "team-b": GatewayKey("team-b", "Team B", key_digest(OTHER_KEY)),
    }


def budget_settings(
    tmp_path: Path, fake: FakeProvider, *budgets: Budget, **sections: dict[str, Any]
) -> Settings:
    settings = settings_with(
        keys={"enabled": True},
        pricing={"file": pricing_file(tmp_path)},
        providers={"openai": ProviderSettings(api_key="sk-held-by-the-gateway", base_url=fake.base_url)},
        **sections,
    )
    return dataclasses.replace(settings, gateway_keys=team(*budgets))


async def accounted(server: TestServer) -> None:
    """Every finished request's record and charge reached the spend store."""
    await server.app[RECORDER].flush()
    await server.app[CHARGER].flush()


async def post(
    server: TestServer | str, key: str = TEAM_KEY, body: dict[str, Any] = CHAT
) -> tuple[int, dict[str, Any], Any]:
    base = server if isinstance(server, str) else f"http://127.0.0.1:{server.port}"
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{base}/v1/chat/completions",
            json=body,
            headers={"x-portkey-provider": "openai", "Authorization": f"Bearer {key}"},
        ) as response,
    ):
        text = await response.read()
        parsed = orjson.loads(text) if response.content_type == "application/json" else {}
        return response.status, parsed, response.headers


async def test_non_streamed_traffic_spends_a_daily_budget_then_429s_with_retry_after_until_midnight(
    make_gateway: GatewayFactory, fake: FakeProvider, tmp_path: Path
) -> None:
    answers(fake)
    server = await make_gateway(budget_settings(tmp_path, fake, Budget(0.05, "day")))
    statuses = []
    for _ in range(3):  # $0.02 each: 0.02, 0.04, then 0.06 spent
        statuses.append((await post(server))[0])
        await accounted(server)
    status, body, headers = await post(server)
    now = time.time()
    assert statuses == [200, 200, 200]
    assert status == 429
    error = body["error"]
    assert (error["type"], error["code"]) == ("insufficient_quota", "budget_exceeded")
    assert "team-a" in error["message"]
    assert "day budget of $0.05" in error["message"]
    assert "$0.0600 spent" in error["message"]
    ends = window("day", now).ends_at
    assert ends is not None
    assert abs(int(headers["Retry-After"]) - (ends - now)) <= 2
    assert len(fake.received) == 3
    # Another key's traffic goes on: one tenant's budget never touches another's.
    assert (await post(server, OTHER_KEY))[0] == 200


async def test_the_openai_sdk_raises_its_rate_limit_error_for_a_spent_total_budget_without_retry_after(
    make_gateway: GatewayFactory, fake: FakeProvider, tmp_path: Path
) -> None:
    answers(fake)
    server = await make_gateway(budget_settings(tmp_path, fake, Budget(0.01, "total")))
    sdk = openai.AsyncOpenAI(
        base_url=f"http://127.0.0.1:{server.port}/v1",
        api_key=TEAM_KEY,
        default_headers={"x-portkey-provider": "openai"},
        max_retries=0,
    )
    await sdk.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    await accounted(server)
    with pytest.raises(openai.RateLimitError) as refused:
        await sdk.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    await sdk.close()
    assert refused.value.code == "budget_exceeded"
    assert "total budget of $0.01" in refused.value.message
    assert "Retry-After" not in refused.value.response.headers


async def test_streamed_traffic_is_charged_from_the_usage_chunk_and_spends_the_budget(
    make_gateway: GatewayFactory, fake: FakeProvider, tmp_path: Path
) -> None:
    answers(fake)
    server = await make_gateway(budget_settings(tmp_path, fake, Budget(0.03, "month")))
    streamed = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    statuses = []
    for _ in range(3):
        statuses.append((await post(server, body=streamed))[0])
        await accounted(server)
    assert statuses == [200, 200, 429]
    usage = await server.app[BUDGETS].usage("team-a")
    assert usage["usage"]["month"]["cost_usd"] == pytest.approx(2 * COST)
    assert usage["usage"]["month"]["output_tokens"] == 10


async def test_a_stream_the_client_abandons_is_charged_by_estimate_and_spends_the_budget(
    make_gateway: GatewayFactory, fake: FakeProvider, tmp_path: Path
) -> None:
    gone = asyncio.Event()
    events = 40

    async def long_stream(request: web.Request, received: Received) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for _ in range(events):
            await response.write(b"data: " + chunk("word") + b"\n\n")
        try:
            await asyncio.sleep(30)  # the usage would come at the end: the client leaves first
        finally:
            gone.set()
        return response

    fake.on("POST", "/v1/chat/completions", long_stream)
    server = await make_gateway(budget_settings(tmp_path, fake, Budget(0.05, "total")))
    body = orjson.dumps({**CHAT, "stream": True})
    read = b""
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"http://127.0.0.1:{server.port}/v1/chat/completions",
            data=body,
            headers={
                "x-portkey-provider": "openai",
                "Authorization": f"Bearer {TEAM_KEY}",
                "Content-Type": "application/json",
            },
        ) as response,
    ):
        while read.count(b"data:") < events:
            read += await response.content.readany()
    await asyncio.wait_for(gone.wait(), 10)
    await eventually(lambda: _charged(server), 10, "the abandoned stream's charge")
    usage = (await server.app[BUDGETS].usage("team-a"))["usage"]["total"]
    # Estimated: input ≈ body bytes / 4, output ≈ one token per event delivered.
    assert usage["input_tokens"] == -(-len(body) // 4)
    assert events <= usage["output_tokens"] <= events + 1
    assert usage["cost_usd"] == pytest.approx(usage["input_tokens"] * 0.001 + usage["output_tokens"] * 0.002)
    assert usage["cost_usd"] > 0.05
    status, refused, _ = await post(server)
    assert (status, refused["error"]["code"]) == (429, "budget_exceeded")


async def _charged(server: TestServer) -> bool:
    await server.app[RECORDER].flush()
    await server.app[CHARGER].flush()
    usage = await server.app[BUDGETS].usage("team-a")
    return bool(usage["usage"]["total"]["cost_usd"])


async def test_requests_in_flight_when_the_budget_is_reached_complete_and_the_overshoot_is_bounded(
    make_gateway: GatewayFactory, fake: FakeProvider, tmp_path: Path
) -> None:
    concurrency = 5
    arrived = 0
    all_in = asyncio.Event()

    async def held(request: web.Request, received: Received) -> web.StreamResponse:
        nonlocal arrived
        arrived += 1
        if arrived == concurrency:
            all_in.set()
        await all_in.wait()
        return await answer_json(request, received)

    fake.on("POST", "/v1/chat/completions", held)
    amount = 0.03  # spent after two requests: every one of the five was admitted before that
    server = await make_gateway(budget_settings(tmp_path, fake, Budget(amount, "day")))
    results = await asyncio.gather(*(post(server) for _ in range(concurrency)))
    await accounted(server)
    assert [status for status, _, _ in results] == [200] * concurrency
    spent = (await server.app[BUDGETS].usage("team-a", team(Budget(amount, "day"))["team-a"].budgets))[
        "budgets"
    ][0]
    overshoot = spent["spent_usd"] - amount
    # The documented bound: the requests in flight times the largest request's cost.
    assert spent["spent_usd"] == pytest.approx(concurrency * COST)
    assert 0 < overshoot <= concurrency * COST
    assert spent["remaining_usd"] == 0.0
    assert (await post(server))[0] == 429


async def test_usage_per_key_after_known_traffic_in_the_usage_answer_and_the_metrics(
    make_gateway: GatewayFactory, fake: FakeProvider, tmp_path: Path
) -> None:
    answers(fake)
    server = await make_gateway(budget_settings(tmp_path, fake, Budget(10.0, "month")))
    streamed = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    traffic = [(TEAM_KEY, CHAT)] * 3 + [(TEAM_KEY, streamed), (OTHER_KEY, CHAT)]
    await asyncio.gather(*(post(server, key, body) for key, body in traffic))
    await accounted(server)
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{server.port}/admin/keys/team-a/usage") as response,
    ):
        assert response.status == 200
        usage = await response.json()
    now = time.time()
    for period in ("day", "month", "total"):
        assert {
            k: v for k, v in usage["usage"][period].items() if k not in ("window", "resets_at", "cost_usd")
        } == {
            "requests": 4,
            "input_tokens": 40,
            "output_tokens": 20,
        }
        assert usage["usage"][period]["cost_usd"] == pytest.approx(4 * COST)
        assert usage["usage"][period]["window"] == window(period, now).name
    assert usage["usage"]["total"]["resets_at"] is None
    assert usage["budgets"] == [
        {
            "period": "month",
            "amount_usd": 10.0,
            "spent_usd": pytest.approx(0.08),
            "remaining_usd": pytest.approx(9.92),
        }
    ]
    other = await server.app[BUDGETS].usage("team-b")
    assert other["usage"]["total"]["requests"] == 1
    json.dumps(usage)  # JSON-able as the admin API serves it
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{server.port}/metrics") as response,
    ):
        metrics = await response.text()
    assert 'gateway_key_requests_total{key="team-a"} 4.0' in metrics
    assert 'gateway_key_tokens_total{key="team-a",kind="input"} 40.0' in metrics
    assert 'gateway_key_tokens_total{key="team-a",kind="output"} 20.0' in metrics
    assert 'gateway_key_requests_total{key="team-b"} 1.0' in metrics
    assert 'gateway_key_cost_usd_total{key="team-a"} 0.08' in metrics
    assert TEAM_KEY not in metrics
    assert OTHER_KEY not in metrics
    assert TEAM_KEY not in json.dumps(usage)


async def test_two_gateway_processes_spend_one_budget_through_redis(
    tmp_path: Path, fake: FakeProvider, redis_url: str
) -> None:
    import redis.asyncio

    answers(fake)
    key_id = f"shared-{time.monotonic_ns()}"  # the session's Redis outlives this test
    config = tmp_path / "gateway.toml"
    config.write_text(
        f"""
[keys]
enabled = true
redis_url = "{redis_url}"
[budgets]
backend = "redis"
[pricing]
file = "{pricing_file(tmp_path)}"
[providers.openai]
api_key = "sk-held-by-the-gateway"
base_url = "{fake.base_url}"
[gateway_keys.{key_id}]
key_sha256 = "{key_digest(TEAM_KEY)}"
budgets = [{{amount = 0.05, period = "total"}}]
"""
    )
    first = start_gateway(tmp_path, "--config", str(config), env=gateway_env(), port=free_port())
    second = start_gateway(tmp_path, "--config", str(config), env=gateway_env(), port=free_port())
    shared = redis.asyncio.from_url(redis_url)
    try:
        await first.wait_ready()
        await second.wait_ready()
        statuses = []
        for turn in range(6):  # alternating: each process sees the other's charges
            status, _, _ = await post((first, second)[turn % 2].url)
            statuses.append(status)
            if status == 200:
                charged = COST * statuses.count(200)
                await eventually(
                    lambda spent=charged: _spent(shared, key_id, spent), 10, "the charge to reach Redis"
                )
    finally:
        await shared.aclose()
        first.kill()
        second.kill()
    # $0.02 a request against $0.05: three admitted between the two processes, not three each.
    assert statuses == [200, 200, 200, 429, 429, 429]
    assert len(fake.received) == 3


async def _spent(shared: Any, key_id: str, expected: float) -> bool:
    cost = await shared.hget(f"gateway:spend:{key_id}:total", "cost")
    return cost is not None and float(cost) >= expected - 1e-9


@pytest.mark.parametrize(("on_failure", "expected"), [("open", 200), ("closed", 503)])
async def test_with_redis_unreachable_a_budget_check_fails_open_or_closed_as_set(
    make_gateway: GatewayFactory,
    fake: FakeProvider,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    on_failure: str,
    expected: int,
) -> None:
    answers(fake)
    unreachable = f"redis://:hunter2-secret@127.0.0.1:{free_port()}/0"
    budgets = {"backend": "redis", "on_redis_error": on_failure}
    settings = budget_settings(tmp_path, fake, Budget(1.0, "day"), budgets=budgets)
    settings = dataclasses.replace(settings, keys=dataclasses.replace(settings.keys, redis_url=unreachable))
    server = await make_gateway(settings)
    status, body, headers = await post(server)
    await accounted(server)
    assert status == expected
    if expected == 503:
        assert body["error"]["code"] == "budget_unavailable"
        assert headers["Retry-After"] == "1"
    warnings = [r.getMessage() for r in caplog.records if r.name == "gateway.budgets"]
    assert warnings
    assert "127.0.0.1" in warnings[0]
    assert all("hunter2-secret" not in line for line in warnings)
    assert "hunter2-secret" not in json.dumps(body)
