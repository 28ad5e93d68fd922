"""``GET /v1/health/targets``: the gateway's own answer, never forwarded to a provider."""

from __future__ import annotations

import json
import logging
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from gateway.appkeys import HEALTH
from gateway.routing.identity import target_identity
from tests.conftest import GatewayFactory, settings_with
from tests.fake_provider import FakeProvider


async def test_health_targets_is_empty_before_any_request(gateway_url: str) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{gateway_url}/v1/health/targets") as response:
        assert response.status == 200
        assert response.content_type == "application/json"
        assert await response.json() == {"targets": []}


async def test_health_targets_shows_the_breaker_state(gateway: TestServer, gateway_url: str) -> None:
    health = gateway.app[HEALTH]
    for _ in range(5):  # the default consecutive_failures
        health.failed(target_identity("openai", "http://127.0.0.1:9/v1", "gpt-4o", {}, "sk-a"))
    async with aiohttp.ClientSession() as http, http.get(f"{gateway_url}/v1/health/targets") as response:
        [row] = (await response.json())["targets"]
    assert (row["provider"], row["base_url"], row["model"]) == ("openai", "http://127.0.0.1:9/v1", "gpt-4o")
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


async def get_targets(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{url}/v1/health/targets", headers=headers or {}) as response,
    ):
        return response.status, await response.json()


async def test_beyond_loopback_without_an_admin_token_the_table_is_refused(
    make_gateway: GatewayFactory,
) -> None:
    # The policy follows the address the settings listen on; the test server itself stays on loopback.
    server = await make_gateway(settings_with(server={"host": "0.0.0.0"}))
    status, body = await get_targets(f"http://127.0.0.1:{server.port}")
    assert status == 403
    assert body["error"]["code"] == "admin_token_required"
    assert "admin.token" in body["error"]["message"]


@pytest.mark.parametrize("host", ["0.0.0.0", "127.0.0.1"])
async def test_with_an_admin_token_only_its_bearer_sees_the_table(
    host: str, make_gateway: GatewayFactory
) -> None:
    server = await make_gateway(settings_with(server={"host": host}, admin={"token": "adm-secret"}))
    url = f"http://127.0.0.1:{server.port}"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic adm-secret"}):
        status, body = await get_targets(url, headers)
        assert status == 401
        assert body["error"]["code"] == "invalid_admin_token"
        assert "adm-secret" not in str(body)
    status, body = await get_targets(url, {"Authorization": "Bearer adm-secret"})
    assert (status, body) == (200, {"targets": []})


MARKERS = {
    "api_key": "sk-MARKER-KEY",
    "aws_access_key_id": "AKIAMARKERID",
    "aws_secret_access_key": "MARKER-AWS-SECRET",
    "aws_session_token": "MARKER-SESSION-TOKEN",
    "private_key": "MARKER-PRIVATE-KEY",
}


def secret_configs(custom_host: str) -> list[dict[str, Any]]:
    """One config per way a credential reaches a target, every one holding a marker secret."""
    service_account = {
        "type": "service_account",
        "client_email": "a@b.iam",
        "private_key_id": "k1",
        "private_key": MARKERS["private_key"],
    }
    aws = {
        name: MARKERS[name] for name in ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")
    }
    return [
        {"provider": "openai", "api_key": MARKERS["api_key"], "custom_host": custom_host},
        {"provider": "bedrock", "aws_region": "us-east-1", "custom_host": custom_host, **aws},
        {
            "provider": "vertex-ai",
            "vertex_project_id": "p",
            "vertex_service_account_json": service_account,
            "custom_host": custom_host,
        },
    ]


async def test_the_table_and_the_logs_never_show_a_credential(
    make_gateway: GatewayFactory, fake: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = await make_gateway(settings_with(server={"access_log": True}))
    url = f"http://127.0.0.1:{server.port}"
    chat = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    header_secrets = {
        "x-portkey-aws-secret-access-key": MARKERS["aws_secret_access_key"],
        "x-portkey-aws-access-key-id": MARKERS["aws_access_key_id"],
        "Authorization": f"Bearer {MARKERS['api_key']}",
    }
    async with aiohttp.ClientSession() as http:
        for config in secret_configs(fake.base_url):
            headers = {"x-portkey-config": json.dumps(config)}
            async with http.post(f"{url}/v1/chat/completions", json=chat, headers=headers) as response:
                text = await response.text()
            assert not any(marker in text for marker in MARKERS.values())
        bedrock_by_headers = {"provider": "bedrock", "aws_region": "us-west-2", "custom_host": fake.base_url}
        headers = {"x-portkey-config": json.dumps(bedrock_by_headers), **header_secrets}
        async with http.post(f"{url}/v1/chat/completions", json=chat, headers=headers) as response:
            await response.read()
        status, body = await get_targets(url)
    assert status == 200
    assert {row["provider"] for row in body["targets"]} == {"openai", "bedrock", "vertex-ai"}
    assert all(row["credential"] for row in body["targets"])
    shown = json.dumps(body) + caplog.text
    assert not [marker for marker in MARKERS.values() if marker in shown]
