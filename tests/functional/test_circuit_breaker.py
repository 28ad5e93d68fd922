"""Per-target circuit breakers: a failing primary is skipped, probed after a cool-down, and trusted again."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from aiohttp import web

from tests.clock import ManualClock
from tests.conftest import GatewayFactory, settings_with
from tests.fake_provider import FakeProvider, Received

CHAT: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
BREAKER = {"consecutive_failures": 3, "error_rate": 1.0, "cooldown": 0.5}


class Switch:
    """Answers ``status`` until changed."""

    def __init__(self, status: int) -> None:
        self.status = status

    async def __call__(self, request: web.Request, received: Received) -> web.StreamResponse:
        return web.json_response({"id": "x", "status": self.status}, status=self.status)


async def ask(url: str, config: dict[str, Any]) -> tuple[int, dict[str, Any], str]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{url}/v1/chat/completions", json=CHAT, headers={"x-portkey-config": json.dumps(config)}
        ) as response,
    ):
        body = await response.json()
        return response.status, body, response.headers.get("x-portkey-last-used-option-index", "")


def target(fake: FakeProvider) -> dict[str, Any]:
    return {"provider": "openai", "api_key": "sk-x", "custom_host": fake.base_url}


async def test_a_failing_primary_is_skipped_then_probed_and_trusted_again(
    make_gateway: GatewayFactory, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    clock = ManualClock()
    server = await make_gateway(settings_with(breaker=BREAKER), clock=clock)
    url = f"http://127.0.0.1:{server.port}"
    primary = Switch(503)
    fake.on("POST", "/v1/chat/completions", primary)
    fake_b.on("POST", "/v1/chat/completions", Switch(200))
    config = {"strategy": {"mode": "fallback"}, "targets": [target(fake), target(fake_b)]}
    for _ in range(3):  # each fails on the primary and is answered by the fallback
        assert (await ask(url, config))[2] == "config.targets[1]"
    assert len(fake.received) == 3

    assert (await ask(url, config))[2] == "config.targets[1]"
    assert len(fake.received) == 3  # open: the primary was not even tried
    async with aiohttp.ClientSession() as http, http.get(f"{url}/v1/health/targets") as response:
        rows = (await response.json())["targets"]
    states = {row["base_url"]: row["state"] for row in rows}
    assert states[fake.base_url] == "open"
    assert "sk-x" not in json.dumps(rows)

    primary.status = 200
    clock.advance(BREAKER["cooldown"] + 0.2)
    assert (await ask(url, config))[2] == "config.targets[0]"  # the probe went through and succeeded
    assert (await ask(url, config))[2] == "config.targets[0]"  # closed again: traffic is back
    assert len(fake.received) == 5


async def test_when_every_target_is_open_the_caller_gets_a_fast_503(
    make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    server = await make_gateway(settings_with(breaker=BREAKER))
    url = f"http://127.0.0.1:{server.port}"
    fake.on("POST", "/v1/chat/completions", Switch(500))
    for _ in range(3):
        assert (await ask(url, target(fake)))[0] == 500
    status, body, _ = await ask(url, target(fake))
    assert status == 503
    assert body["error"]["code"] == "circuit_open"
    assert len(fake.received) == 3


async def test_client_errors_do_not_open_the_breaker(
    make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    server = await make_gateway(settings_with(breaker=BREAKER))
    url = f"http://127.0.0.1:{server.port}"
    fake.on("POST", "/v1/chat/completions", Switch(400))
    for _ in range(5):
        assert (await ask(url, target(fake)))[0] == 400
    assert len(fake.received) == 5
