"""Gateway keys through the wire: with ``[keys] enabled`` a request needs a valid gateway key (401
otherwise, naming why and never the key), and the provider never sees it: its key comes from the
settings or ``x-portkey-api-key``."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from gateway.config.settings import ProviderSettings
from gateway.limits.caller import GatewayKey, key_digest
from tests.conftest import GatewayFactory, settings_with
from tests.fake_provider import FakeProvider

TEAM_KEY = "gk-team-a-0123456789abcdef"
PROVIDER_KEY = "sk-provider-held-by-the-gateway"
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def keys(**extra: GatewayKey) -> dict[str, GatewayKey]:
    return {"team-a": GatewayKey("team-a", "Team A", key_digest(TEAM_KEY)), **extra}


@pytest.fixture
async def gateway(make_gateway: GatewayFactory, fake: FakeProvider) -> TestServer:
    expired = GatewayKey("old", "Old", key_digest("gk-expired-0123456789"), expires_at=time.time() - 1)
    revoked = GatewayKey("gone", "Gone", key_digest("gk-revoked-0123456789"), revoked=True)
    settings = settings_with(
        keys={"enabled": True},
        providers={"openai": ProviderSettings(api_key=PROVIDER_KEY, base_url=fake.base_url)},
    )
    return await make_gateway(dataclasses.replace(settings, gateway_keys=keys(old=expired, gone=revoked)))


async def call(server: TestServer, headers: dict[str, str]) -> tuple[int, dict[str, Any], Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"http://127.0.0.1:{server.port}/v1/chat/completions",
            json=CHAT,
            headers={"x-portkey-provider": "openai", **headers},
        ) as response,
    ):
        return response.status, await response.json(), response.headers


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_gateway_key"),
        ({"Authorization": "Bearer gk-not-a-key-0123456789"}, "invalid_gateway_key"),
        ({"Authorization": "Bearer gk-expired-0123456789"}, "expired_gateway_key"),
        ({"Authorization": "Bearer gk-revoked-0123456789"}, "revoked_gateway_key"),
        ({"x-api-key": "gk-not-a-key-0123456789"}, "invalid_gateway_key"),
    ],
)
async def test_a_request_without_a_valid_gateway_key_is_a_401(
    gateway: TestServer, fake: FakeProvider, headers: dict[str, str], code: str
) -> None:
    status, body, sent = await call(gateway, headers)
    assert status == 401
    assert body["error"]["code"] == code
    assert body["error"]["type"] == "authentication_error"
    assert sent["WWW-Authenticate"] == "Bearer"
    assert "gk-" not in body["error"]["message"]
    assert fake.received == []


@pytest.mark.parametrize("presented", [{"Authorization": f"Bearer {TEAM_KEY}"}, {"x-api-key": TEAM_KEY}])
async def test_a_valid_gateway_key_passes_and_the_provider_gets_the_gateways_own_key(
    gateway: TestServer, fake: FakeProvider, presented: dict[str, str]
) -> None:
    status, _, _ = await call(gateway, presented)
    assert status == 200
    assert fake.last.headers["Authorization"] == f"Bearer {PROVIDER_KEY}"
    assert TEAM_KEY not in str(dict(fake.last.headers))


async def test_a_caller_may_still_bring_a_provider_key_in_x_portkey_api_key(
    gateway: TestServer, fake: FakeProvider
) -> None:
    status, _, _ = await call(gateway, {"Authorization": f"Bearer {TEAM_KEY}", "x-portkey-api-key": "sk-own"})
    assert status == 200
    assert fake.last.headers["Authorization"] == "Bearer sk-own"
