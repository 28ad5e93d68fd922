"""A gateway key's grants and virtual keys through the wire: allowed and refused models, providers,
configs and virtual keys (403s naming what is refused, never a key), the key's default config and
metadata, and virtual keys whose stored credential the provider sees while the caller never sent
it, with gateway keys on and off. One gateway serves every caller in turn."""

from __future__ import annotations

import dataclasses
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp.test_utils import TestServer

from gateway.config.routing import parse_config_value
from gateway.config.settings import ProviderSettings
from gateway.limits.caller import GatewayKey, VirtualKey, key_digest
from tests.conftest import GatewayFactory, settings_with
from tests.fake_provider import FakeProvider

LIMITED = "gk-limited-0123456789abcdef"
VK_ONLY = "gk-vk-only-0123456789abcdef"
ANTHROPIC_ONLY = "gk-anthropic-0123456789abcdef"
STORED = "sk-stored-in-the-gateway-0001"
TEAM_CONFIG = {
    "strategy": {
        "mode": "conditional",
        "conditions": [{"query": {"metadata.team": {"$eq": "red"}}, "then": "red"}],
        "default": "blue",
    },
    "targets": [
        {"name": "red", "provider": "openai", "api_key": "sk-red"},
        {"name": "blue", "provider": "openai", "api_key": "sk-blue"},
    ],
}


def chat(model: str = "gpt-4o-mini") -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}]}


def gateway_keys() -> dict[str, GatewayKey]:
    limited = GatewayKey(
        "limited",
        "Limited",
        key_digest(LIMITED),
        providers=frozenset({"openai"}),
        models=frozenset({"gpt-4o-mini"}),
        configs=frozenset({"team"}),
        default_config="team",
        metadata={"team": "red"},
    )
    vk_only = GatewayKey("vk-only", "VK", key_digest(VK_ONLY), virtual_keys=frozenset({"team-vk"}))
    anthropic = GatewayKey("anth", "A", key_digest(ANTHROPIC_ONLY), providers=frozenset({"anthropic"}))
    return {key.id: key for key in (limited, vk_only, anthropic)}


def settings(fake: FakeProvider, keys_on: bool) -> Any:
    base = settings_with(
        keys={"enabled": keys_on},
        providers={"openai": ProviderSettings(base_url=fake.base_url)},
    )
    configs = {
        "team": parse_config_value(TEAM_CONFIG, where="configs.team"),
        "other": parse_config_value({"provider": "openai", "api_key": "sk-other"}, where="configs.other"),
    }
    virtual = {
        "team-vk": VirtualKey("team-vk", "openai", STORED),
        "other-vk": VirtualKey("other-vk", "openai", "sk-other-stored"),
    }
    return dataclasses.replace(base, configs=configs, virtual_keys=virtual, gateway_keys=gateway_keys())


@pytest.fixture
async def gateway(make_gateway: GatewayFactory, fake: FakeProvider) -> TestServer:
    return await make_gateway(settings(fake, keys_on=True))


async def call(
    server: TestServer, headers: dict[str, str], body: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"http://127.0.0.1:{server.port}/v1/chat/completions", json=body or chat(), headers=headers
        ) as response,
    ):
        return response.status, await response.json()


def bearer(key: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **extra}


def assert_denied(status: int, body: dict[str, Any], code: str, named: str) -> None:
    assert status == 403, body
    assert (body["error"]["type"], body["error"]["code"]) == ("permission_error", code)
    assert named in body["error"]["message"]
    assert "gk-" not in str(body)


async def test_a_key_limited_to_models_is_refused_another_model_and_the_provider_never_called(
    gateway: TestServer, fake: FakeProvider
) -> None:
    status, body = await call(gateway, bearer(LIMITED), chat("gpt-4o"))
    assert_denied(status, body, "model_not_allowed", "'gpt-4o'")
    assert fake.received == []
    status, _ = await call(gateway, bearer(LIMITED), chat("gpt-4o-mini"))
    assert status == 200


async def test_the_default_config_runs_with_the_keys_metadata_and_the_requests_metadata_wins(
    gateway: TestServer, fake: FakeProvider
) -> None:
    status, _ = await call(gateway, bearer(LIMITED))
    assert status == 200
    assert fake.last.headers["Authorization"] == "Bearer sk-red"  # the key's metadata: team=red
    headers = bearer(LIMITED, **{"x-portkey-metadata": orjson.dumps({"team": "blue"}).decode()})
    status, _ = await call(gateway, headers)
    assert status == 200
    assert fake.last.headers["Authorization"] == "Bearer sk-blue"


@pytest.mark.parametrize(
    ("config", "named"),
    [("other", "'other'"), ('{"provider": "openai", "api_key": "sk-mine"}', "inline")],
)
async def test_a_key_limited_to_configs_is_refused_another_config_and_inline_ones(
    gateway: TestServer, fake: FakeProvider, config: str, named: str
) -> None:
    status, body = await call(gateway, bearer(LIMITED, **{"x-portkey-config": config}))
    assert_denied(status, body, "config_not_allowed", named)
    assert "sk-mine" not in str(body)
    assert fake.received == []


async def test_a_key_limited_to_providers_is_refused_another_provider(
    gateway: TestServer, fake: FakeProvider
) -> None:
    status, body = await call(gateway, bearer(ANTHROPIC_ONLY, **{"x-portkey-provider": "openai"}))
    assert_denied(status, body, "provider_not_allowed", "'openai'")
    assert fake.received == []


async def test_a_fallback_may_not_reach_a_model_the_key_may_not_use(
    gateway: TestServer, fake: FakeProvider
) -> None:
    config = {
        "strategy": {"mode": "fallback"},
        "targets": [{"provider": "openai"}, {"provider": "openai", "override_params": {"model": "gpt-4o"}}],
    }
    status, body = await call(
        gateway, bearer(ANTHROPIC_ONLY, **{"x-portkey-config": orjson.dumps(config).decode()})
    )
    assert_denied(status, body, "provider_not_allowed", "'openai'")
    status, body = await call(gateway, bearer(LIMITED, **{"x-portkey-config": orjson.dumps(config).decode()}))
    assert status == 403
    assert fake.received == []


async def test_a_key_limited_to_virtual_keys_uses_the_stored_credential_and_nothing_else(
    gateway: TestServer, fake: FakeProvider
) -> None:
    status, _ = await call(gateway, bearer(VK_ONLY, **{"x-portkey-virtual-key": "team-vk"}))
    assert status == 200
    assert fake.last.headers["Authorization"] == f"Bearer {STORED}"
    assert VK_ONLY not in str(dict(fake.last.headers))
    status, body = await call(gateway, bearer(VK_ONLY, **{"x-portkey-virtual-key": "other-vk"}))
    assert_denied(status, body, "virtual_key_not_allowed", "'other-vk'")
    status, body = await call(gateway, bearer(VK_ONLY, **{"x-portkey-provider": "openai"}))
    assert_denied(status, body, "virtual_key_not_allowed", "virtual keys only")
    assert len(fake.received) == 1
    assert "sk-other-stored" not in str(body)


async def test_virtual_keys_work_with_gateway_keys_off_and_the_caller_sends_no_provider_key(
    make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    server = await make_gateway(settings(fake, keys_on=False))
    status, _ = await call(server, {"x-portkey-virtual-key": "team-vk"})
    assert status == 200
    assert fake.last.headers["Authorization"] == f"Bearer {STORED}"
    config = {"strategy": {"mode": "fallback"}, "targets": [{"virtual_key": "other-vk"}]}
    status, _ = await call(server, {"x-portkey-config": orjson.dumps(config).decode()})
    assert status == 200
    assert fake.last.headers["Authorization"] == "Bearer sk-other-stored"


async def test_a_custom_host_beside_a_virtual_key_is_refused_so_the_secret_goes_nowhere_else(
    make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    server = await make_gateway(settings(fake, keys_on=False))
    headers = {"x-portkey-virtual-key": "team-vk", "x-portkey-custom-host": f"{fake.base_url}/elsewhere"}
    status, body = await call(server, headers)
    assert (status, body["error"]["code"]) == (400, "custom_host_with_virtual_key")
    assert STORED not in str(body)
    assert fake.received == []
