"""Portkey's config keys beyond routing, through the wire: what reaches the provider, what is refused.

Every gateway here has ``openai``'s base URL pointed at a closed local port, so a request that
missed its custom host fails locally instead of leaving 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from openai import AsyncOpenAI

from gateway.config.settings import ProviderSettings, Settings, SettingsError, load_settings
from tests.conftest import GatewayFactory, settings_with
from tests.fake_provider import FakeProvider, Received

CHAT: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
COMPLETION = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m", "choices": []}


@pytest.fixture
def dead_url() -> Iterator[str]:
    """A local port nobody listens on."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{closed.getsockname()[1]}/v1"


def safe(dead_url: str, **sections: Any) -> Settings:
    return settings_with(providers={"openai": ProviderSettings(base_url=dead_url)}, **sections)


@pytest.fixture
async def gateway_url(make_gateway: GatewayFactory, dead_url: str) -> str:
    server = await make_gateway(safe(dead_url))
    return f"http://127.0.0.1:{server.port}"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def target(fake: FakeProvider, **fields: Any) -> dict[str, Any]:
    return {"provider": "openai", "api_key": f"sk-{fake.port}", "custom_host": fake.base_url, **fields}


async def call(
    http: aiohttp.ClientSession,
    gateway_url: str,
    config: dict[str, Any] | None,
    body: dict[str, Any] | None = None,
    path: str = "/v1/chat/completions",
    **headers: str,
) -> tuple[int, Any, Any]:
    if config is not None:
        headers["x-portkey-config"] = json.dumps(config)
    async with http.post(f"{gateway_url}{path}", json=body or CHAT, headers=headers) as response:
        return response.status, await response.json(), response.headers


async def test_every_portkey_schema_key_is_accepted(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider
) -> None:
    config = {
        "id": "pc-my-config",
        "name": "main",
        "cache": {"mode": "semantic", "max_age": 60},
        "forward_headers": ["x-team"],
        "default_params": {"temperature": 0.5},
        "drop_params": ["user"],
        "before_request_hooks": [],
        "after_request_hooks": [],
        "input_guardrails": [],
        "output_guardrails": [],
        "strategy": {"mode": "loadbalance", "sticky_session": {"hash_fields": ["metadata.user_id"]}},
        "targets": [target(fake, id="t1")],
    }
    status, _, headers = await call(http, gateway_url, config)
    assert status == 200
    assert headers["x-portkey-last-used-option-index"] == "config.targets[0]"
    assert len(fake.received) == 1


async def test_keys_in_no_schema_are_ignored_with_one_warning_naming_their_paths(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.config")
    config = {
        "strategy": {"mode": "fallback", "speed": "fast"},
        "tracing": "sk-SECRET-VALUE",
        "targets": [target(fake, **{"bad\nkey": 1})],
    }
    for _ in range(3):
        status, _, _ = await call(http, gateway_url, config)
        assert status == 200
    lines = [record.getMessage() for record in caplog.records if record.name == "gateway.config"]
    assert len(lines) == 1
    assert "config.tracing" in lines[0]
    assert "config.strategy.speed" in lines[0]
    assert "config.targets[0].bad\\x0akey" in lines[0]
    assert "sk-SECRET-VALUE" not in caplog.text
    assert len(fake.received) == 3


async def test_strict_configs_refuses_a_key_in_no_schema_naming_its_path(
    http: aiohttp.ClientSession, make_gateway: GatewayFactory, dead_url: str, fake: FakeProvider
) -> None:
    server = await make_gateway(safe(dead_url, routing={"strict_configs": True}))
    gateway_url = f"http://127.0.0.1:{server.port}"
    status, body, _ = await call(
        http, gateway_url, {"strategy": {"mode": "single"}, "targets": [target(fake, tracing=1)]}
    )
    assert status == 400
    assert body["error"]["param"] == "x-portkey-config"
    assert "config.targets[0].tracing" in body["error"]["message"]
    status, _, _ = await call(http, gateway_url, target(fake, cache={"mode": "simple"}, id="x"))
    assert status == 200
    assert len(fake.received) == 1


def test_strict_configs_refuses_a_named_config_with_a_key_in_no_schema_at_start_up(tmp_path: Any) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(
        '[routing]\nstrict_configs = true\n[configs.main]\nprovider = "groq"\noveride_params = {}\n'
    )
    with pytest.raises(SettingsError, match=r"configs\.main: .*config\.overide_params"):
        load_settings(str(path), environ={})
    assert load_settings(str(path), environ={"GATEWAY_ROUTING_STRICT_CONFIGS": "false"}).configs[
        "main"
    ].ignored == ("config.overide_params",)


@pytest.mark.parametrize(
    "key", ["input_guardrails", "output_guardrails", "before_request_hooks", "after_request_hooks"]
)
async def test_guardrails_saved_in_portkeys_app_are_a_400_naming_the_hook(
    key: str, http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider
) -> None:
    config = {"strategy": {"mode": "fallback"}, "targets": [target(fake, **{key: ["pg-check-1"]})]}
    status, body, _ = await call(http, gateway_url, config)
    assert status == 400
    assert f"config.targets[0].{key}[0]" in body["error"]["message"]
    assert "saved in Portkey's app" in body["error"]["message"]
    assert fake.received == []


async def test_an_unknown_virtual_key_is_a_400_naming_it(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider
) -> None:
    status, body, _ = await call(http, gateway_url, {"virtual_key": "openai-vk-123"})
    assert status == 400
    assert body["error"]["code"] == "unknown_virtual_key"
    assert body["error"]["param"] == "x-portkey-config"
    assert "'openai-vk-123'" in body["error"]["message"]
    assert fake.received == []


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"cache": {"mode": "exact"}}, "config.cache.mode"),
        ({"cache": {"mode": "simple", "max_age": "1h"}}, "config.cache.max_age"),
        ({"forward_headers": "x-team"}, "config.forward_headers"),
        ({"forward_headers": ["x-portkey-forward-headers"]}, "config.forward_headers"),
        ({"default_params": [1]}, "config.default_params"),
        ({"drop_params": [""]}, "config.drop_params"),
        ({"id": 7}, "config.id"),
        ({"input_guardrails": "pg-1"}, "config.input_guardrails"),
        (
            {"strategy": {"mode": "fallback", "sticky": {"hash_fields": ["metadata.u"]}}},
            "config.strategy.sticky",
        ),
        (
            {"strategy": {"mode": "loadbalance", "sticky": {"hash_fields": []}}},
            "config.strategy.sticky.hash_fields",
        ),
        (
            {"strategy": {"mode": "loadbalance", "sticky": {"hash_fields": ["user"]}}},
            "config.strategy.sticky.hash_fields[0]",
        ),
        (
            {"strategy": {"mode": "loadbalance", "sticky": {"hash_fields": ["params.user"], "ttl": 0}}},
            "config.strategy.sticky.ttl",
        ),
    ],
)
async def test_a_wrong_shape_is_a_400_naming_the_key(
    fields: dict[str, Any], where: str, http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider
) -> None:
    config = {"targets": [target(fake)], **fields}
    status, body, _ = await call(http, gateway_url, config)
    assert status == 400
    assert body["error"]["param"] == "x-portkey-config"
    assert f"{where}:" in body["error"]["message"]
    assert fake.received == []


async def test_config_forward_headers_are_sent_and_the_header_replaces_them(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider
) -> None:
    config = {"forward_headers": ["X-Team", "cookie"], "targets": [target(fake)]}
    extra = {"x-team": "ml", "x-other": "1", "cookie": "session=1"}
    await call(http, gateway_url, config, **extra)
    assert fake.last.headers.get("x-team") == "ml"
    assert "x-other" not in fake.last.headers
    assert "cookie" not in fake.last.headers  # never forwarded, whoever names it
    await call(http, gateway_url, config, **extra, **{"x-portkey-forward-headers": "x-other"})
    assert fake.last.headers.get("x-other") == "1"
    assert "x-team" not in fake.last.headers


async def test_default_params_lose_to_the_body_override_wins_and_drop_removes(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider
) -> None:
    config = {
        "default_params": {"temperature": 0.1, "max_tokens": 50, "top_p": 0.9},
        "override_params": {"top_p": 0.5},
        "drop_params": ["user", "max_tokens"],
        "strategy": {"mode": "single"},
        "targets": [target(fake, default_params={"seed": 7}, drop_params=["logprobs"])],
    }
    body = {**CHAT, "temperature": 0.8, "user": "u-1", "logprobs": True}
    status, _, _ = await call(http, gateway_url, config, body)
    assert status == 200
    assert fake.last.json() == {**CHAT, "temperature": 0.8, "top_p": 0.5, "seed": 7}


async def test_defaults_already_in_the_body_send_the_clients_bytes_unchanged(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider
) -> None:
    raw = b'{"model":"m",  "temperature": 1, "messages":[]}'
    headers = {
        "x-portkey-config": json.dumps(target(fake, default_params={"temperature": 0}, drop_params=["n"]))
    }
    async with http.post(
        f"{gateway_url}/v1/chat/completions",
        data=raw,
        headers={**headers, "Content-Type": "application/json"},
    ) as r:
        assert r.status == 200
    assert fake.last.body == raw


async def test_a_cache_config_answers_its_cache_status(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider
) -> None:
    config = {
        "cache": {"mode": "simple", "max_age": 3600},
        "strategy": {"mode": "fallback"},
        "targets": [target(fake)],
    }
    statuses = []
    for _ in range(2):
        _, _, headers = await call(http, gateway_url, config)
        statuses.append(headers["x-portkey-cache-status"])
        await asyncio.sleep(0.01)  # the store runs off the request path
    assert statuses == ["MISS", "HIT"]
    _, _, headers = await call(http, gateway_url, {**config, "cache": {"mode": "semantic"}})
    assert headers["x-portkey-cache-status"] == "DISABLED"  # no semantic cache yet
    _, _, headers = await call(http, gateway_url, target(fake))
    assert "x-portkey-cache-status" not in headers


async def test_a_config_without_targets_applies_to_the_provider_the_headers_name(
    gateway_url: str, fake: FakeProvider
) -> None:
    attempts = 0

    async def flaky(request: web.Request, received: Received) -> web.StreamResponse:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            return web.json_response(
                {"error": {"message": "busy"}}, status=503, headers={"retry-after-ms": "1"}
            )
        return web.json_response(COMPLETION)

    fake.on("POST", "/v1/chat/completions", flaky)
    config = {"retry": {"attempts": 2}, "request_timeout": 5000, "override_params": {"temperature": 0}}
    headers = {
        "x-portkey-provider": "openai",
        "x-portkey-custom-host": fake.base_url,
        "x-portkey-config": json.dumps(config),
    }
    async with AsyncOpenAI(
        base_url=f"{gateway_url}/v1", api_key="sk-caller", default_headers=headers, max_retries=0
    ) as sdk:
        response = await sdk.chat.completions.with_raw_response.create(**CHAT)
    assert response.parse().id == COMPLETION["id"]
    assert response.headers["x-portkey-retry-attempt-count"] == "1"
    assert fake.last.headers["Authorization"] == "Bearer sk-caller"
    assert fake.last.json() == {**CHAT, "temperature": 0}


async def test_a_config_without_targets_and_no_provider_header_is_a_400(
    http: aiohttp.ClientSession, gateway_url: str
) -> None:
    status, body, _ = await call(http, gateway_url, {"retry": {"attempts": 2}})
    assert status == 400
    assert body["error"]["code"] == "missing_provider"
    assert body["error"]["param"] == "x-portkey-provider"
    assert "config" in body["error"]["message"]


async def test_the_custom_host_header_wins_over_the_targets_own(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    config = {"strategy": {"mode": "fallback"}, "targets": [target(fake), {"provider": "openai"}]}
    status, _, _ = await call(http, gateway_url, config, **{"x-portkey-custom-host": fake_b.base_url})
    assert status == 200
    assert (len(fake.received), len(fake_b.received)) == (0, 1)


async def test_a_parents_custom_host_reaches_its_children_not_the_public_url(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    fake.on("POST", "/v1/chat/completions", lambda request, received: _status(503))
    config = {
        "custom_host": fake.base_url,
        "strategy": {"mode": "fallback"},
        "targets": [
            {"provider": "openai", "api_key": "sk-1"},
            {
                "custom_host": fake_b.base_url,
                "strategy": {"mode": "single"},
                "targets": [{"provider": "openai"}],
            },
        ],
    }
    status, _, headers = await call(http, gateway_url, config)
    assert status == 200
    assert headers["x-portkey-last-used-option-index"] == "config.targets[1].targets[0]"
    assert (len(fake.received), len(fake_b.received)) == (1, 1)


async def _status(status: int) -> web.StreamResponse:
    return web.json_response({"error": {"message": "busy"}}, status=status)


async def test_sticky_loadbalance_sends_equal_fields_to_the_same_target(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    sticky = {"hash_fields": ["metadata.user_id", "params.user"], "ttl": 30 * 24 * 3600}
    config = {
        "strategy": {"mode": "loadbalance", "sticky": sticky},
        "targets": [target(fake), target(fake_b)],
    }
    chosen: dict[str, set[str]] = {}
    for _ in range(3):
        for user in range(16):
            metadata = json.dumps({"user_id": f"u{user}"})
            _, _, headers = await call(http, gateway_url, config, **{"x-portkey-metadata": metadata})
            chosen.setdefault(f"u{user}", set()).add(headers["x-portkey-last-used-option-index"])
    assert all(len(targets) == 1 for targets in chosen.values())
    assert {next(iter(targets)) for targets in chosen.values()} == {"config.targets[0]", "config.targets[1]"}
    # Without any of the fields, requests balance as usual: both targets get some.
    before = (len(fake.received), len(fake_b.received))
    for _ in range(40):
        await call(http, gateway_url, config)
    assert len(fake.received) > before[0]
    assert len(fake_b.received) > before[1]


async def test_a_sticky_field_that_is_too_long_is_a_400_naming_it(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider
) -> None:
    config = {
        "strategy": {"mode": "loadbalance", "sticky": {"hash_fields": ["params.user"]}},
        "targets": [target(fake)],
    }
    status, body, _ = await call(http, gateway_url, config, {**CHAT, "user": "x" * 5000})
    assert status == 400
    assert body["error"]["code"] == "invalid_sticky_value"
    assert "params.user" in body["error"]["message"]
    assert "xxxx" not in body["error"]["message"]
    assert fake.received == []


async def test_conditions_route_on_url_pathname(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    config = {
        "strategy": {
            "mode": "conditional",
            "conditions": [{"query": {"url.pathname": {"$eq": "/v1/embeddings"}}, "then": "embed"}],
            "default": "chat",
        },
        "targets": [target(fake, name="embed"), target(fake_b, name="chat")],
    }
    await call(http, gateway_url, config, {"model": "e", "input": "hi"}, path="/v1/embeddings")
    await call(http, gateway_url, config)
    assert [r.path for r in fake.received] == ["/v1/embeddings"]
    assert [r.path for r in fake_b.received] == ["/v1/chat/completions"]
