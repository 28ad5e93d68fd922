"""Portkey's documented config examples, run as a Portkey user runs them, through real sockets.

Each example is sent with the client its source uses (Portkey's SDK, or the OpenAI SDK with
Portkey's headers) to a gateway whose providers are local fakes; the fakes show what went upstream.
Examples that name ``virtual_key`` run as written against virtual keys the gateway's settings
define; those naming the ``@provider-slug`` model catalog (Portkey's hosted vault) are kept verbatim
where the issue gives their answer (a 400 naming the key), and otherwise written with ``provider`` +
``api_key``, the form Portkey's config reference gives for the same structure.

Sources (Portkey-AI/gateway mirror paths, or the docs.portkey.ai page title) → test:
 1. README.md "Routing & Guardrails" (retry + output_guardrails)
    → test_readme_guardrail_config_is_refused_naming_the_guardrail
 2. README.md quick start, Portkey(provider=, Authorization=)
    → test_readme_quick_start_sends_the_callers_key_to_the_provider
 3. cookbook/getting-started/automatic-retries-on-failures.md, {"retry": {attempts 3, on [429]}} without a
    target → test_cookbook_retry_config_without_a_target_retries_the_header_provider
 4. cookbook/getting-started/writing-your-first-gateway-config.md, the config saved by id and sent with
    x-portkey-provider + Authorization → test_cookbook_config_by_id_applies_to_the_header_provider
 5, 6. cookbook/getting-started/enable-cache.md, cache simple / semantic
    → test_cookbook_cache_config_answers_cache_disabled
 7. cookbook/getting-started/resilient-loadbalancing-with-failure-mitigating-fallbacks.md (virtual keys)
    → test_cookbook_loadbalance_of_virtual_keys_sends_each_branch_its_stored_key
 8. Config Object, "Single Provider with API Key" → test_config_object_single_provider_key_goes_upstream
 9. Config Object, "Passing Model & Hyperparameters with Override Option" (anthropic)
    → test_config_object_override_params_reach_anthropic
10. Config Object, "Single Provider with Virtual Key, Cache and Retry"
    → test_config_object_virtual_key_sends_the_stored_key
11. Config Object, "Load Balancing with Two OpenAI API Keys" → test_config_object_loadbalance_uses_both_keys
12. Config Object, "Load Balancing and Fallback Combination" (on_status_codes [429, 241])
    → test_config_object_loadbalance_with_nested_fallback_moves_on_inside_its_branch
13. Automatic Retries, "Retry with 5 attempts" → test_retry_docs_five_attempts_then_the_last_answer
14. Automatic Retries, "Retry only on specific error codes" [408, 429, 401]
    → test_retry_docs_named_codes_retry_but_401_is_never_retried
15, 16. Automatic Retries, "Respect Retry-After Headers" (use_retry_after_headers) and the OSS
    schema's spelling use_retry_after_header → test_retry_docs_use_retry_after_waits_as_the_provider_asks
17. Request Timeouts, "Setting Request Timeout at Strategy Level"
    → test_timeout_docs_strategy_level_timeout_moves_on
18. Request Timeouts + the issue: a timed-out attempt is a 408 retry can name
    → test_timeout_docs_timed_out_attempt_is_a_408_retry_can_name
19. Circuit Breaker, "Example" (strategy.cb_config)
    → test_circuit_breaker_docs_example_stops_calling_the_failing_target
20. Conditional Routing, the metadata sample (paid / free plan) → test_conditional_docs_routes_on_metadata
21. Conditional Routing, params.model "fastest" / "smartest" → test_conditional_docs_routes_on_params
22. Conditional Routing, url.pathname → test_conditional_docs_routes_on_url_pathname
23. Canary Testing, "Test Llama2 on 5% of the traffic" → test_canary_docs_send_a_small_share_with_its_model
24. Fallbacks, openai then anthropic with override model → test_fallback_docs_openai_to_anthropic
25. Load Balancing, "Sticky Load Balancing" (sticky_session) → test_sticky_docs_same_user_same_target
26. Config Object, forward_headers → test_config_forward_headers_reach_the_provider
27. Config Object, strict_open_ai_compliance → test_config_strict_open_ai_compliance_false_is_accepted
28. Custom host on a parent node, inherited (the issue) → test_parent_custom_host_is_inherited_by_targets
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from gateway.config.settings import load_settings
from tests.conftest import GatewayFactory
from tests.contract.portkey_world import (
    CHAT,
    COMPLETION,
    VK_ANTHROPIC_KEY,
    VK_OPENAI_KEY,
    Clients,
    answers,
    post,
)
from tests.fake_provider import FakeProvider, Received
from tests.functional.fake_anthropic import FakeAnthropic

GUARDRAIL = {"default.contains": {"operator": "none", "words": ["Apple"]}, "deny": True}


def config_header(config: dict[str, Any]) -> dict[str, str]:
    return {"x-portkey-config": json.dumps(config)}


@pytest.mark.parametrize(("said", "status"), [("I like Apple pie.", 446), ("I like pears.", 200)])
async def test_readme_guardrail_config_withholds_an_answer_that_names_apple(
    portkey_gateway: str, fake: FakeProvider, said: str, status: int
) -> None:
    message = {"role": "assistant", "content": said}
    completion = {**COMPLETION, "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}

    async def respond(request: web.Request, received: Received) -> web.StreamResponse:
        return web.json_response(completion)

    fake.on("POST", "/v1/chat/completions", respond)
    config = {"retry": {"attempts": 5}, "output_guardrails": [GUARDRAIL]}
    headers = {"x-portkey-provider": "openai", "Authorization": "Bearer sk-fake", **config_header(config)}
    got, body, _ = await post(portkey_gateway, headers)
    assert got == status
    assert len(fake.received) == 1  # a guardrail verdict is not a status to retry
    verdict = body["hook_results"]["after_request_hooks"][0]
    assert verdict["verdict"] is (status == 200)
    assert (said in json.dumps(body)) is (status == 200)


async def test_readme_quick_start_sends_the_callers_key_to_the_provider(
    portkey_gateway: str, sdks: Clients, fake: FakeProvider
) -> None:
    fake.on("POST", "/v1/chat/completions", answers(200))
    client = sdks.portkey(provider="openai", Authorization="sk-fake-readme")
    completion = await client.chat.completions.create(**CHAT)
    assert completion.id == COMPLETION["id"]
    assert fake.last.path == "/v1/chat/completions"
    assert fake.last.headers["Authorization"] == "Bearer sk-fake-readme"
    assert fake.last.json() == CHAT
    assert not [name for name in fake.last.headers if name.lower().startswith("x-portkey-")]


async def test_cookbook_retry_config_without_a_target_retries_the_header_provider(
    portkey_gateway: str, sdks: Clients, fake: FakeProvider
) -> None:
    fake.on("POST", "/v1/chat/completions", answers(429, 429, 200))
    config = {"retry": {"attempts": 3, "on_status_codes": [429]}}
    client = sdks.openai(api_key="sk-fake-cookbook", provider="openai", config=config)
    response = await client.chat.completions.with_raw_response.create(**CHAT)
    assert response.http_response.status_code == 200
    assert len(fake.received) == 3
    assert {r.headers["Authorization"] for r in fake.received} == {"Bearer sk-fake-cookbook"}
    assert response.headers["x-portkey-retry-attempt-count"] == "2"


async def test_cookbook_config_by_id_applies_to_the_header_provider(
    make_gateway: GatewayFactory, fake: FakeProvider, tmp_path: Path
) -> None:
    settings_file = tmp_path / "gateway.toml"
    settings_file.write_text(
        f"""
        [providers.openai]
        base_url = "{fake.base_url}"

        [configs.pc-reques-edf21c]
        retry = {{ attempts = 3, on_status_codes = [429] }}
        """,
        encoding="utf-8",
    )
    server = await make_gateway(load_settings(str(settings_file), environ={}))
    fake.on("POST", "/v1/chat/completions", answers(429, 200))
    headers = {
        "Authorization": "Bearer sk-fake-axios",
        "x-portkey-api-key": "pk-fake-portkey-account",
        "x-portkey-provider": "openai",
        "x-portkey-config": "pc-reques-edf21c",
    }
    status, body, _ = await post(f"http://127.0.0.1:{server.port}", headers)
    assert (status, body) == (200, COMPLETION)
    assert [r.headers["Authorization"] for r in fake.received] == ["Bearer sk-fake-axios"] * 2


@pytest.mark.parametrize(
    ("mode", "statuses", "calls"), [("simple", ["MISS", "HIT"], 1), ("semantic", ["DISABLED"] * 2, 2)]
)
async def test_cookbook_cache_config_answers_from_the_cache(
    portkey_gateway: str, sdks: Clients, fake: FakeProvider, mode: str, statuses: list[str], calls: int
) -> None:
    fake.on("POST", "/v1/chat/completions", answers(200))
    client = sdks.openai(provider="openai", config={"cache": {"mode": mode}})
    seen = []
    for _ in range(2):
        response = await client.chat.completions.with_raw_response.create(**CHAT)
        seen.append(response.headers["x-portkey-cache-status"])
        await asyncio.sleep(0.01)  # the store runs off the request path
    assert seen == statuses
    assert len(fake.received) == calls  # a semantic cache is not built yet


async def test_cookbook_loadbalance_of_virtual_keys_sends_each_branch_its_stored_key(
    portkey_gateway: str, fake: FakeProvider, anthropic: FakeAnthropic
) -> None:
    fake.on("POST", "/v1/chat/completions", answers(200))
    config = {
        "strategy": {"mode": "loadbalance"},
        "targets": [
            {
                "virtual_key": "anthropic-vk-fake",
                "weight": 0.5,
                "override_params": {"max_tokens": 200, "model": "claude-3-opus-20240229"},
            },
            {
                "strategy": {"mode": "fallback"},
                "targets": [{"virtual_key": "openai-vk-fake"}, {"virtual_key": "azure-vk-fake"}],
            },
        ],
    }
    # azure-vk-fake is not defined here: every virtual key a config names must exist, even one
    # a fallback may never reach, so a typo is a 400 on the first request, not on the bad day.
    status, body, _ = await post(portkey_gateway, config_header(config))
    assert (status, body["error"]["code"]) == (400, "unknown_virtual_key")
    assert "'azure-vk-fake'" in body["error"]["message"]
    del config["targets"][1]["targets"][1]  # type: ignore[index]
    for _ in range(20):
        status, _, _ = await post(portkey_gateway, config_header(config))
        assert status == 200
    assert {request.headers["Authorization"] for request in fake.received} == {f"Bearer {VK_OPENAI_KEY}"}
    assert {request.headers["x-api-key"] for request in anthropic.received} == {VK_ANTHROPIC_KEY}
    assert len(fake.received) + len(anthropic.received) == 20
    assert fake.received
    assert anthropic.received


async def test_config_object_single_provider_key_goes_upstream(
    portkey_gateway: str, sdks: Clients, fake: FakeProvider
) -> None:
    fake.on("POST", "/v1/chat/completions", answers(200))
    client = sdks.openai(config={"provider": "openai", "api_key": "sk-fake-config"})
    completion = await client.chat.completions.create(**CHAT)
    assert completion.id == COMPLETION["id"]
    assert fake.last.headers["Authorization"] == "Bearer sk-fake-config"  # the config's key, not the SDK's


async def test_config_object_override_params_reach_anthropic(
    portkey_gateway: str, sdks: Clients, anthropic: FakeAnthropic
) -> None:
    config = {
        "provider": "anthropic",
        "api_key": "sk-ant-fake",
        "override_params": {"model": "claude-3-sonnet-20240229", "max_tokens": 512, "temperature": 0},
    }
    client = sdks.openai(config=config)
    completion = await client.chat.completions.create(**CHAT)
    assert completion.choices[0].message.content == "Hello!"
    sent = anthropic.last
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == "sk-ant-fake"
    assert (sent.body["model"], sent.body["max_tokens"], sent.body["temperature"]) == (
        "claude-3-sonnet-20240229",
        512,
        0,
    )


@pytest.mark.parametrize(
    "config",
    [
        {"virtual_key": "vk-fake"},
        {
            "virtual_key": "vk-fake",
            "cache": {"mode": "semantic", "max_age": 10000},
            "retry": {"attempts": 5, "on_status_codes": [429]},
        },
    ],
    ids=["virtual-key", "virtual-key-cache-retry"],
)
async def test_config_object_virtual_key_sends_the_stored_key(
    portkey_gateway: str, sdks: Clients, fake: FakeProvider, config: dict[str, Any]
) -> None:
    fake.on("POST", "/v1/chat/completions", answers(200))
    client = sdks.openai(config=config)
    completion = await client.chat.completions.create(**CHAT)
    assert completion.id == COMPLETION["id"]
    assert fake.last.headers["Authorization"] == f"Bearer {VK_OPENAI_KEY}"


async def test_config_object_loadbalance_uses_both_keys(
    portkey_gateway: str, sdks: Clients, fake: FakeProvider
) -> None:
    fake.on("POST", "/v1/chat/completions", answers(200))
    config = {
        "strategy": {"mode": "loadbalance"},
        "targets": [
            {"provider": "openai", "api_key": "sk-fake-1"},
            {"provider": "openai", "api_key": "sk-fake-2"},
        ],
    }
    client = sdks.openai(config=config)
    for _ in range(40):  # both keys unused after 40 even picks: 2 in a trillion
        await client.chat.completions.create(**CHAT)
    keys = Counter(r.headers["Authorization"] for r in fake.received)
    assert set(keys) == {"Bearer sk-fake-1", "Bearer sk-fake-2"}


async def test_config_object_loadbalance_with_nested_fallback_moves_on_inside_its_branch(
    portkey_gateway: str, sdks: Clients, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    fake.on("POST", "/v1/chat/completions", answers(200))
    fake_b.on("POST", "/v1/chat/completions", answers(429))
    config = {
        "strategy": {"mode": "loadbalance"},
        "targets": [
            {"provider": "openai", "api_key": "sk-fake-a"},
            {
                "strategy": {"mode": "fallback", "on_status_codes": [429, 241]},
                "targets": [
                    {"provider": "openai", "api_key": "sk-fake-b", "custom_host": fake_b.base_url},
                    {"provider": "openai", "api_key": "sk-fake-c"},
                ],
            },
        ],
    }
    client = sdks.openai(config=config)
    for _ in range(40):
        completion = await client.chat.completions.create(**CHAT)
        assert completion.id == COMPLETION["id"]
    keys = Counter(r.headers["Authorization"] for r in fake.received)
    # Every 429 from b fell back to c; once b's breaker opened, its branch went to c directly.
    assert keys["Bearer sk-fake-c"] >= len(fake_b.received) > 0
    assert keys["Bearer sk-fake-a"] > 0
    assert keys["Bearer sk-fake-a"] + keys["Bearer sk-fake-c"] == 40


async def test_retry_docs_five_attempts_then_the_last_answer(
    portkey_gateway: str, fake: FakeProvider
) -> None:
    fake.on("POST", "/v1/chat/completions", answers(503))
    status, _, headers = await post(
        portkey_gateway,
        {
            "x-portkey-provider": "openai",
            "Authorization": "Bearer sk-fake",
            **config_header({"retry": {"attempts": 5}}),
        },
    )
    assert status == 503
    assert len(fake.received) == 6  # the first attempt and 5 retries
    assert headers["x-portkey-retry-attempt-count"] == "5"


async def test_retry_docs_named_codes_retry_but_401_is_never_retried(
    portkey_gateway: str, fake: FakeProvider
) -> None:
    config = {"retry": {"attempts": 3, "on_status_codes": [408, 429, 401]}}
    headers = {"x-portkey-provider": "openai", "Authorization": "Bearer sk-fake", **config_header(config)}
    fake.on("POST", "/v1/chat/completions", answers(429, 200))
    assert (await post(portkey_gateway, headers))[0] == 200
    assert len(fake.received) == 2
    fake.on("POST", "/v1/chat/completions", answers(401))
    status, _, _ = await post(portkey_gateway, headers)
    assert status == 401
    assert len(fake.received) == 3  # a bad key stays bad: one attempt (a documented difference)


@pytest.mark.parametrize("spelling", ["use_retry_after_headers", "use_retry_after_header"])
async def test_retry_docs_use_retry_after_waits_as_the_provider_asks(
    portkey_gateway: str, sdks: Clients, fake: FakeProvider, spelling: str
) -> None:
    times: list[float] = []

    async def limited_then_ok(request: web.Request, received: Received) -> web.StreamResponse:
        times.append(time.monotonic())
        if len(times) == 1:
            return web.json_response(
                {"error": {"message": "slow down"}}, status=429, headers={"retry-after-ms": "400"}
            )
        return web.json_response(COMPLETION)

    fake.on("POST", "/v1/chat/completions", limited_then_ok)
    config = {"retry": {"attempts": 3, "on_status_codes": [429], spelling: True}}
    client = sdks.portkey(provider="openai", Authorization="sk-fake", config=config)
    completion = await client.chat.completions.create(**CHAT)
    assert completion.id == COMPLETION["id"]
    assert len(times) == 2
    assert 0.35 <= times[1] - times[0] < 10  # waited as asked (the upper bound only catches a hang)


async def silent(request: web.Request, received: Received) -> web.StreamResponse:
    await asyncio.sleep(30)
    raise AssertionError("the gateway should have given up on this attempt")


async def test_timeout_docs_strategy_level_timeout_moves_on(
    portkey_gateway: str, sdks: Clients, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    fake.on("POST", "/v1/chat/completions", silent)
    fake_b.on("POST", "/v1/chat/completions", answers(200))
    config = {
        "strategy": {"mode": "fallback"},
        "request_timeout": 300,  # the docs' 10000, scaled down
        "targets": [
            {"provider": "openai", "api_key": "sk-fake-1"},
            {"provider": "openai", "api_key": "sk-fake-2", "custom_host": fake_b.base_url},
        ],
    }
    client = sdks.openai(config=config)
    response = await asyncio.wait_for(client.chat.completions.with_raw_response.create(**CHAT), 10)
    assert response.headers["x-portkey-last-used-option-index"] == "config.targets[1]"
    assert fake_b.last.headers["Authorization"] == "Bearer sk-fake-2"


async def test_timeout_docs_timed_out_attempt_is_a_408_retry_can_name(
    portkey_gateway: str, fake: FakeProvider
) -> None:
    calls: list[int] = []

    async def silent_once(request: web.Request, received: Received) -> web.StreamResponse:
        calls.append(1)
        if len(calls) == 1:
            return await silent(request, received)
        return web.json_response(COMPLETION)

    fake.on("POST", "/v1/chat/completions", silent_once)
    config = {"retry": {"attempts": 2, "on_status_codes": [408]}, "request_timeout": 1000}
    headers = {"x-portkey-provider": "openai", "Authorization": "Bearer sk-fake", **config_header(config)}
    status, body, response_headers = await asyncio.wait_for(post(portkey_gateway, headers), 10)
    assert (status, body) == (200, COMPLETION)
    assert len(calls) == 2
    assert response_headers["x-portkey-retry-attempt-count"] == "1"


async def test_circuit_breaker_docs_example_stops_calling_the_failing_target(
    portkey_gateway: str, sdks: Clients, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    fake.on("POST", "/v1/chat/completions", answers(500))
    fake_b.on("POST", "/v1/chat/completions", answers(200))
    config = {
        "strategy": {
            "mode": "fallback",
            "cb_config": {
                "failure_threshold_percentage": 20,
                "minimum_requests": 10,
                "cooldown_interval": 60000,
                "failure_status_codes": [401, 429, 500],
            },
        },
        "targets": [
            {"provider": "openai", "api_key": "sk-fake-prod", "override_params": {"model": "gpt-4o"}},
            {"provider": "openai", "api_key": "sk-fake-backup", "custom_host": fake_b.base_url},
        ],
    }
    client = sdks.openai(config=config)
    for _ in range(20):
        completion = await client.chat.completions.create(**CHAT)
        assert completion.id == COMPLETION["id"]
    assert 10 <= len(fake.received) < 20  # open once 10 requests had failed, skipped from then on
    assert len(fake_b.received) == 20


CONDITIONAL = {
    "strategy": {
        "mode": "conditional",
        "conditions": [
            {"query": {"metadata.user_plan": {"$eq": "paid"}}, "then": "finetuned-gpt4"},
            {"query": {"metadata.user_plan": {"$eq": "free"}}, "then": "base-gpt4"},
        ],
        "default": "base-gpt4",
    },
    "targets": [
        {
            "name": "finetuned-gpt4",
            "provider": "openai",
            "api_key": "sk-fake",
            "override_params": {"model": "ft://gpt4-xxxxx"},
        },
        {
            "name": "base-gpt4",
            "provider": "openai",
            "api_key": "sk-fake",
            "override_params": {"model": "gpt-4"},
        },
    ],
}


async def test_conditional_docs_routes_on_metadata(
    portkey_gateway: str, sdks: Clients, fake: FakeProvider
) -> None:
    fake.on("POST", "/v1/chat/completions", answers(200))
    for plan, model in (("paid", "ft://gpt4-xxxxx"), ("free", "gpt-4"), ("trial", "gpt-4")):
        client = sdks.portkey(config=CONDITIONAL, metadata={"user_plan": plan})
        await client.chat.completions.create(**CHAT)
        assert fake.last.json()["model"] == model  # type: ignore[index]


async def test_conditional_docs_routes_on_params(
    portkey_gateway: str, sdks: Clients, fake: FakeProvider
) -> None:
    fake.on("POST", "/v1/chat/completions", answers(200))
    config = {
        "strategy": {
            "mode": "conditional",
            "conditions": [
                {"query": {"params.model": {"$eq": "fastest"}}, "then": "fast"},
                {"query": {"params.model": {"$eq": "smartest"}}, "then": "smart"},
            ],
            "default": "fast",
        },
        "targets": [
            {
                "name": "fast",
                "provider": "openai",
                "api_key": "sk-fake",
                "override_params": {"model": "gpt-4o-mini"},
            },
            {"name": "smart", "provider": "openai", "api_key": "sk-fake", "override_params": {"model": "o1"}},
        ],
    }
    client = sdks.portkey(config=config)
    for asked, model in (("fastest", "gpt-4o-mini"), ("smartest", "o1")):
        await client.chat.completions.create(**{**CHAT, "model": asked})
        assert fake.last.json()["model"] == model  # type: ignore[index]


async def test_conditional_docs_routes_on_url_pathname(
    portkey_gateway: str, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    config = {
        "strategy": {
            "mode": "conditional",
            "conditions": [{"query": {"url.pathname": {"$eq": "/v1/embeddings"}}, "then": "embedder"}],
            "default": "chat",
        },
        "targets": [
            {
                "name": "embedder",
                "provider": "openai",
                "api_key": "sk-fake-e",
                "custom_host": fake_b.base_url,
            },
            {"name": "chat", "provider": "openai", "api_key": "sk-fake-c"},
        ],
    }
    embedding = {"model": "text-embedding-3-small", "input": "hi"}
    assert (await post(portkey_gateway, config_header(config), embedding, path="embeddings"))[0] == 200
    assert [r.path for r in fake_b.received] == ["/v1/embeddings"]
    assert (await post(portkey_gateway, config_header(config)))[0] == 200
    assert [r.path for r in fake.received] == ["/v1/chat/completions"]


async def test_canary_docs_send_a_small_share_with_its_model(
    portkey_gateway: str, sdks: Clients, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    for provider in (fake, fake_b):
        provider.on("POST", "/v1/chat/completions", answers(200))
    config = {
        "strategy": {"mode": "loadbalance"},
        "targets": [
            {"provider": "openai", "api_key": "sk-fake-prod", "weight": 0.95},
            {
                "provider": "openai",
                "api_key": "sk-fake-canary",
                "custom_host": fake_b.base_url,
                "weight": 0.05,
                "override_params": {"model": "meta-llama/Llama-2-70b-chat-hf"},
            },
        ],
    }
    client = sdks.openai(config=config)
    sent = 0
    while not fake_b.received and sent < 400:  # no canary in 400 picks: 1 in 10^9
        await client.chat.completions.create(**CHAT)
        sent += 1
    for _ in range(100):
        await client.chat.completions.create(**CHAT)
    assert {r.json()["model"] for r in fake_b.received} == {"meta-llama/Llama-2-70b-chat-hf"}  # type: ignore[index]
    assert {r.json()["model"] for r in fake.received} == {CHAT["model"]}  # type: ignore[index]
    assert len(fake_b.received) < len(fake.received) / 4


async def test_fallback_docs_openai_to_anthropic(
    portkey_gateway: str, sdks: Clients, fake: FakeProvider, anthropic: FakeAnthropic
) -> None:
    fake.on("POST", "/v1/chat/completions", answers(503))
    config = {
        "strategy": {"mode": "fallback"},
        "targets": [
            {"provider": "openai", "api_key": "sk-fake-openai"},
            {
                "provider": "anthropic",
                "api_key": "sk-ant-fake",
                "override_params": {"model": "claude-3-5-sonnet-20241022"},
            },
        ],
    }
    client = sdks.openai(config=config)
    response = await client.chat.completions.with_raw_response.create(**CHAT)
    assert response.headers["x-portkey-last-used-option-index"] == "config.targets[1]"
    assert response.headers["x-portkey-provider"] == "anthropic"
    assert anthropic.last.headers["x-api-key"] == "sk-ant-fake"
    assert anthropic.last.body["model"] == "claude-3-5-sonnet-20241022"
    assert len(fake.received) == 1


async def test_sticky_docs_same_user_same_target(
    portkey_gateway: str, sdks: Clients, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    for provider in (fake, fake_b):
        provider.on("POST", "/v1/chat/completions", answers(200))
    config = {
        "strategy": {
            "mode": "loadbalance",
            "sticky_session": {"hash_fields": ["metadata.user_id"], "ttl": 3600},
        },
        "targets": [
            {"provider": "openai", "api_key": "sk-fake-1"},
            {"provider": "openai", "api_key": "sk-fake-2", "custom_host": fake_b.base_url},
        ],
    }
    seen: dict[str, set[str]] = {}
    for user in ("u1", "u2", "u3", "u4"):
        client = sdks.openai(config=config, metadata={"user_id": user})
        for _ in range(8):
            response = await client.chat.completions.with_raw_response.create(**CHAT)
            seen.setdefault(user, set()).add(response.headers["x-portkey-last-used-option-index"])
    assert all(len(targets) == 1 for targets in seen.values()), seen


async def test_config_forward_headers_reach_the_provider(portkey_gateway: str, fake: FakeProvider) -> None:
    fake.on("POST", "/v1/chat/completions", answers(200))
    config = {"provider": "openai", "api_key": "sk-fake", "forward_headers": ["x-custom-tenant"]}
    headers = {**config_header(config), "x-custom-tenant": "acme", "x-not-forwarded": "1"}
    assert (await post(portkey_gateway, headers))[0] == 200
    assert fake.last.headers["x-custom-tenant"] == "acme"
    assert "x-not-forwarded" not in fake.last.headers


async def test_config_strict_open_ai_compliance_false_is_accepted(
    portkey_gateway: str, fake: FakeProvider
) -> None:
    fake.on("POST", "/v1/chat/completions", answers(200))
    config = {"provider": "openai", "api_key": "sk-fake", "strict_open_ai_compliance": False}
    status, body, _ = await post(portkey_gateway, config_header(config))
    assert (status, body) == (200, COMPLETION)
    assert fake.last.json() == CHAT


async def test_parent_custom_host_is_inherited_by_targets(
    portkey_gateway: str, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    fake_b.on("POST", "/v1/chat/completions", answers(503, 200))
    config = {
        "strategy": {"mode": "fallback"},
        "custom_host": fake_b.base_url,
        "targets": [
            {"provider": "openai", "api_key": "sk-fake-1"},
            {"provider": "openai", "api_key": "sk-fake-2"},
        ],
    }
    status, _, _ = await post(portkey_gateway, config_header(config))
    assert status == 200
    assert [r.headers["Authorization"] for r in fake_b.received] == ["Bearer sk-fake-1", "Bearer sk-fake-2"]
    assert fake.received == []  # never the provider's own (here: the settings') URL
