"""``GET /v1/health/targets``: the gateway's own answer, never forwarded to a provider."""

from __future__ import annotations

import aiohttp
from aiohttp.test_utils import TestServer

from gateway.appkeys import HEALTH


async def test_health_targets_is_empty_before_any_request(gateway_url: str) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{gateway_url}/v1/health/targets") as response:
        assert response.status == 200
        assert response.content_type == "application/json"
        assert await response.json() == {"targets": []}


async def test_health_targets_shows_the_breaker_state(gateway: TestServer, gateway_url: str) -> None:
    health = gateway.app[HEALTH]
    for _ in range(5):  # the default consecutive_failures
        health.failed("openai|http://127.0.0.1:9/v1")
    async with aiohttp.ClientSession() as http, http.get(f"{gateway_url}/v1/health/targets") as response:
        [row] = (await response.json())["targets"]
    assert row["key"] == "openai|http://127.0.0.1:9/v1"
    assert row["state"] == "open"
    assert 0 < row["probe_in_seconds"] <= 30.0


async def test_other_methods_are_refused_not_passed_to_a_provider(gateway_url: str) -> None:
    headers = {"x-portkey-provider": "openai", "x-portkey-custom-host": "http://127.0.0.1:9/v1"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{gateway_url}/v1/health/targets", json={}, headers=headers) as response,
    ):
        assert response.status == 405
        assert response.headers["Allow"] == "GET, HEAD"
        assert (await response.json())["error"]["code"] == "method_not_allowed"
