"""The admin API through the wire: create → use → patch → revoke a gateway key, virtual keys whose
secret no answer shows, the admin token required, settings keys read-only; with Redis, two gateway
processes where a revocation on one is refused by the other from its next request, and what
callers get while Redis is down."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from gateway.config.settings import ProviderSettings
from gateway.limits.caller import GatewayKey, key_digest
from tests.conftest import GatewayFactory, settings_with
from tests.fake_provider import FakeProvider
from tests.functional.gateway_process import free_port, gateway_env, start_gateway
from tests.redis_server import RedisServer

ADMIN = "admin-token-0123456789"
SETTINGS_KEY = "gk-settings-0123456789abcdef"
SECRET = "sk-virtual-secret-0123456789"
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def admin_settings(fake: FakeProvider, **keys: str | bool) -> Any:
    settings = settings_with(
        keys={"enabled": True, **keys},
        admin={"token": ADMIN},
        providers={"openai": ProviderSettings(api_key="sk-gateway-own", base_url=fake.base_url)},
    )
    fixed = GatewayKey("fixed", "Fixed", key_digest(SETTINGS_KEY))
    return dataclasses.replace(settings, gateway_keys={"fixed": fixed})


@pytest.fixture
async def gateway(make_gateway: GatewayFactory, fake: FakeProvider) -> str:
    server: TestServer = await make_gateway(admin_settings(fake))
    return f"http://127.0.0.1:{server.port}"


async def admin(url: str, method: str, path: str, body: Any = None, token: str = ADMIN) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.request(
            method, f"{url}{path}", json=body, headers={"Authorization": f"Bearer {token}"}
        ) as response,
    ):
        return response.status, await response.json()


async def chat(url: str, key: str, **headers: str) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{url}/v1/chat/completions",
            json=CHAT,
            headers={"Authorization": f"Bearer {key}", "x-portkey-provider": "openai", **headers},
        ) as response,
    ):
        return response.status, await response.json()


async def test_a_created_key_is_answered_once_used_patched_and_revoked(
    gateway: str, fake: FakeProvider
) -> None:
    status, created = await admin(gateway, "POST", "/admin/keys", {"id": "team-b", "name": "Team B"})
    assert status == 201
    key = created["key"]
    assert key.startswith("gk-")
    assert (await chat(gateway, key))[0] == 200
    assert fake.last.headers["Authorization"] == "Bearer sk-gateway-own"
    status, shown = await admin(gateway, "GET", "/admin/keys/team-b")
    assert (status, shown["name"], shown["source"]) == (200, "Team B", "admin")
    status, patched = await admin(gateway, "PATCH", "/admin/keys/team-b", {"models": ["gpt-4o"]})
    assert (status, patched["models"]) == (200, ["gpt-4o"])
    status, body = await chat(gateway, key)
    assert (status, body["error"]["code"]) == (403, "model_not_allowed")
    status, revoked = await admin(gateway, "DELETE", "/admin/keys/team-b")
    assert (status, revoked["revoked"]) == (200, True)
    status, body = await chat(gateway, key)
    assert (status, body["error"]["code"]) == (401, "revoked_gateway_key")
    _, listed = await admin(gateway, "GET", "/admin/keys")
    assert {item["id"] for item in listed["data"]} == {"fixed", "team-b"}
    for answer in (shown, patched, revoked, listed):
        assert key not in str(answer)
        assert key_digest(key) not in str(answer)
        assert key_digest(SETTINGS_KEY) not in str(answer)


async def test_a_virtual_key_created_through_the_admin_api_is_used_and_its_secret_never_shown(
    gateway: str, fake: FakeProvider
) -> None:
    definition = {
        "name": "team-vk",
        "provider": "openai",
        "api_key": SECRET,
        "options": {"openai-project": "p"},
    }
    status, created = await admin(gateway, "POST", "/admin/virtual-keys", definition)
    assert status == 201
    status, _ = await chat(gateway, SETTINGS_KEY, **{"x-portkey-virtual-key": "team-vk"})
    assert status == 200
    assert fake.last.headers["Authorization"] == f"Bearer {SECRET}"
    _, shown = await admin(gateway, "GET", "/admin/virtual-keys/team-vk")
    _, listed = await admin(gateway, "GET", "/admin/virtual-keys")
    _, patched = await admin(gateway, "PATCH", "/admin/virtual-keys/team-vk", {"api_key": "sk-rotated-0123"})
    for answer in (created, shown, listed, patched):
        assert SECRET not in str(answer)
        assert "sk-rotated-0123" not in str(answer)
    assert shown["api_key"]["fingerprint"] != patched["api_key"]["fingerprint"]
    await chat(gateway, SETTINGS_KEY, **{"x-portkey-virtual-key": "team-vk"})
    assert fake.last.headers["Authorization"] == "Bearer sk-rotated-0123"
    assert (await admin(gateway, "DELETE", "/admin/virtual-keys/team-vk"))[0] == 200
    status, body = await chat(gateway, SETTINGS_KEY, **{"x-portkey-virtual-key": "team-vk"})
    assert (status, body["error"]["code"]) == (400, "unknown_virtual_key")


@pytest.mark.parametrize(
    "definition",
    [
        {"api_key": f"{SECRET}\r\nX-Injected: 1"},
        {"api_key": SECRET, "options": {"openai-project": "p\nX-Injected: 1"}},
    ],
    ids=["api_key", "option"],
)
async def test_a_virtual_key_whose_secret_would_break_a_header_is_refused_without_echoing_it(
    gateway: str, fake: FakeProvider, definition: dict[str, Any]
) -> None:
    status, answer = await admin(
        gateway, "POST", "/admin/virtual-keys", {"name": "broken-vk", "provider": "openai", **definition}
    )
    assert status == 400
    assert "line break" in answer["error"]["message"]
    assert SECRET not in str(answer)
    assert "X-Injected" not in str(answer)
    status, body = await chat(gateway, SETTINGS_KEY, **{"x-portkey-virtual-key": "broken-vk"})
    assert (status, body["error"]["code"]) == (400, "unknown_virtual_key")
    assert fake.received == []


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/admin/keys"), ("POST", "/admin/keys"), ("GET", "/admin/virtual-keys")]
)
async def test_the_admin_api_needs_the_admin_token(gateway: str, method: str, path: str) -> None:
    status, body = await admin(gateway, method, path, {}, token=SETTINGS_KEY)
    assert (status, body["error"]["code"]) == (401, "invalid_admin_token")


async def test_settings_keys_are_read_only_and_a_chosen_key_is_refused(gateway: str) -> None:
    status, body = await admin(gateway, "PATCH", "/admin/keys/fixed", {"models": ["x"]})
    assert (status, body["error"]["code"]) == (409, "read_only_key")
    status, body = await admin(gateway, "DELETE", "/admin/keys/fixed")
    assert status == 409
    status, body = await admin(gateway, "POST", "/admin/keys", {"id": "mine", "key": "gk-chosen-0123456789"})
    assert (status, body["error"]["param"]) == (400, "body.key")
    assert "gk-chosen" not in str(body)
    status, body = await admin(gateway, "POST", "/admin/keys", {"id": "fixed"})
    assert (status, body["error"]["code"]) == (409, "gateway_key_exists")


async def test_a_revocation_through_one_process_is_refused_by_another_at_once(
    tmp_path: Path, fake: FakeProvider, redis_url: str
) -> None:
    env = gateway_env(
        GATEWAY_KEYS_ENABLED="true",
        GATEWAY_KEYS_BACKEND="redis",
        GATEWAY_KEYS_REDIS_URL=redis_url,
        GATEWAY_ADMIN_TOKEN=ADMIN,
    )
    first = start_gateway(tmp_path, env=env, port=free_port())
    second = start_gateway(tmp_path, env=env, port=free_port())
    try:
        await first.wait_ready()
        await second.wait_ready()
        key_id = f"shared-{time.monotonic_ns()}"
        status, created = await admin(first.url, "POST", "/admin/keys", {"id": key_id})
        assert status == 201
        custom = {"x-portkey-custom-host": fake.base_url, "x-portkey-api-key": "sk-caller"}
        assert (await chat(second.url, created["key"], **custom))[0] == 200
        assert (await admin(first.url, "DELETE", f"/admin/keys/{key_id}"))[0] == 200
        status, body = await chat(second.url, created["key"], **custom)
        assert (status, body["error"]["code"]) == (401, "revoked_gateway_key")
    finally:
        first.kill()
        second.kill()


async def test_with_redis_down_admin_keys_get_a_503_and_settings_keys_go_on(
    make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    redis = RedisServer()
    redis.start()
    try:
        server = await make_gateway(admin_settings(fake, backend="redis", redis_url=redis.url))
        url = f"http://127.0.0.1:{server.port}"
        _, created = await admin(url, "POST", "/admin/keys", {"id": "team-r"})
        assert (await chat(url, created["key"]))[0] == 200
        redis.stop()
        status, body = await chat(url, created["key"])
        assert (status, body["error"]["code"]) == (503, "key_store_unavailable")
        assert (await chat(url, SETTINGS_KEY))[0] == 200
        status, body = await admin(url, "GET", "/admin/keys")
        assert status == 503
        redis.start()  # back, empty (this Redis keeps nothing on disk): the key must be created again
        _, created = await admin(url, "POST", "/admin/keys", {"id": "team-r"})
        assert (await chat(url, created["key"]))[0] == 200
    finally:
        redis.stop()
