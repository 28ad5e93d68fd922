"""Every header of issue 11 (Portkey's ``globals.ts`` HEADER_KEYS and ``constructConfigFromRequestHeaders``),
sent as Portkey's SDK or a Portkey user sends it, with the fake provider showing what went upstream.

Headers whose token or STS endpoint is a setting still being named (``x-portkey-azure-auth-mode``
entra / managed / workload, ``x-portkey-aws-auth-type: assumedRole``) are left to the cloudauth
part's own tests.
"""

from __future__ import annotations

import pytest

from tests.contract.portkey_world import (
    CHAT,
    COMPLETION,
    VK_OPENAI_KEY,
    Clients,
    answers,
    post,
)
from tests.fake_provider import FakeProvider
from tests.functional.fake_anthropic import FakeAnthropic


def openai_via(fake: FakeProvider) -> dict[str, str]:
    return {
        "x-portkey-provider": "openai",
        "x-portkey-custom-host": fake.base_url,
        "Authorization": "Bearer sk-fake",
    }


async def test_x_api_key_is_the_anthropic_key(portkey_gateway: str, anthropic: FakeAnthropic) -> None:
    headers = {"x-portkey-provider": "anthropic", "x-api-key": "sk-ant-fake-claude-code"}
    status, body, _ = await post(portkey_gateway, headers, {**CHAT, "model": "claude-3-5-haiku-latest"})
    assert status == 200, body
    assert anthropic.last.headers["x-api-key"] == "sk-ant-fake-claude-code"


async def test_portkey_sdk_anthropic_beta_and_version_reach_anthropic(
    sdks: Clients, anthropic: FakeAnthropic
) -> None:
    client = sdks.portkey(
        provider="anthropic",
        Authorization="sk-ant-fake",
        anthropic_beta="prompt-caching-2024-07-31",
        anthropic_version="2023-01-01",
    )
    await client.chat.completions.create(**{**CHAT, "model": "claude-3-5-haiku-latest"})
    assert anthropic.last.headers["anthropic-beta"] == "prompt-caching-2024-07-31"
    assert anthropic.last.headers["anthropic-version"] == "2023-01-01"
    assert anthropic.last.headers["x-api-key"] == "sk-ant-fake"


async def test_x_portkey_openai_beta_is_sent_as_openai_beta(portkey_gateway: str, fake: FakeProvider) -> None:
    fake.on("POST", "/v1/chat/completions", answers(200))
    headers = {**openai_via(fake), "x-portkey-openai-beta": "assistants=v2"}
    assert (await post(portkey_gateway, headers))[0] == 200
    assert fake.last.headers["OpenAI-Beta"] == "assistants=v2"


async def test_portkey_sdk_openai_project_and_organization_reach_openai(
    sdks: Clients, fake: FakeProvider
) -> None:
    fake.on("POST", "/v1/chat/completions", answers(200))
    client = sdks.portkey(
        provider="openai", Authorization="sk-fake", openai_project="proj_fake", openai_organization="org-fake"
    )
    await client.chat.completions.create(**CHAT)
    assert fake.last.headers["OpenAI-Project"] == "proj_fake"
    assert fake.last.headers["OpenAI-Organization"] == "org-fake"


@pytest.mark.parametrize("value", ["false", "true"])
async def test_x_portkey_strict_open_ai_compliance_is_accepted(
    portkey_gateway: str, fake: FakeProvider, value: str
) -> None:
    fake.on("POST", "/v1/chat/completions", answers(200))
    headers = {**openai_via(fake), "x-portkey-strict-open-ai-compliance": value}
    status, body, _ = await post(portkey_gateway, headers)
    assert (status, body) == (200, COMPLETION)
    assert fake.last.json() == CHAT


async def test_x_portkey_azure_ad_token_is_sent_as_bearer(portkey_gateway: str, fake: FakeProvider) -> None:
    fake.on("POST", "/openai/deployments/gpt-4o/chat/completions", answers(200))
    headers = {
        "x-portkey-provider": "azure-openai",
        "x-portkey-custom-host": f"http://127.0.0.1:{fake.port}/openai",
        "x-portkey-azure-resource-name": "res-fake",
        "x-portkey-azure-deployment-id": "gpt-4o",
        "x-portkey-azure-ad-token": "eyJfake.entra.token",
    }
    status, body, _ = await post(portkey_gateway, headers)
    assert status == 200, body
    assert fake.last.headers["Authorization"] == "Bearer eyJfake.entra.token"
    assert "api-key" not in fake.last.headers


async def test_x_portkey_huggingface_base_url_is_where_huggingface_goes(
    portkey_gateway: str, fake: FakeProvider
) -> None:
    fake.on("POST", "/v1/chat/completions", answers(200))
    headers = {
        "x-portkey-provider": "huggingface",
        "Authorization": "Bearer hf_fake",
        "x-portkey-huggingface-base-url": f"http://127.0.0.1:{fake.port}",
    }
    status, body, _ = await post(portkey_gateway, headers)
    assert status == 200, body
    assert fake.last.path == "/v1/chat/completions"
    assert fake.last.headers["Authorization"] == "Bearer hf_fake"


async def test_x_portkey_mistral_fim_completion_calls_the_fim_endpoint(
    portkey_gateway: str, fake: FakeProvider
) -> None:
    fake.on("POST", "/v1/fim/completions", answers(200))
    headers = {
        "x-portkey-provider": "mistral-ai",
        "x-portkey-custom-host": fake.base_url,
        "Authorization": "Bearer mistral-fake",
        "x-portkey-mistral-fim-completion": "true",
    }
    body = {**CHAT, "model": "codestral-latest"}
    status, answer, _ = await post(portkey_gateway, headers, body)
    assert status == 200, answer
    assert fake.last.path == "/v1/fim/completions"


HOSTED_ONLY = {
    "x-portkey-cache-namespace": "team-a",
    "x-portkey-debug": "false",
    "x-portkey-sensitive-headers": "x-secret",
    "x-portkey-package-version": "portkey-2.3.4",
    "x-portkey-runtime": "CPython",
    "x-portkey-runtime-version": "3.11.7",
}


async def test_hosted_only_headers_are_accepted_without_effect(
    portkey_gateway: str, fake: FakeProvider
) -> None:
    fake.on("POST", "/v1/chat/completions", answers(200))
    status, body, _ = await post(portkey_gateway, {**openai_via(fake), **HOSTED_ONLY})
    assert (status, body) == (200, COMPLETION)
    assert fake.last.json() == CHAT
    assert not {name.lower() for name in fake.last.headers} & set(HOSTED_ONLY)


async def test_an_unknown_x_portkey_virtual_key_is_a_400_naming_it(
    portkey_gateway: str, fake: FakeProvider
) -> None:
    status, body, _ = await post(portkey_gateway, {"x-portkey-virtual-key": "vk-unknown"})
    assert status == 400
    assert (body["error"]["code"], body["error"]["param"]) == ("unknown_virtual_key", "x-portkey-virtual-key")
    assert "'vk-unknown'" in body["error"]["message"]
    assert fake.received == []


async def test_x_portkey_virtual_key_sends_the_stored_key_to_its_provider(
    portkey_gateway: str, fake: FakeProvider
) -> None:
    fake.on("POST", "/v1/chat/completions", answers(200))
    status, _, _ = await post(portkey_gateway, {"x-portkey-virtual-key": "vk-fake"})
    assert status == 200
    assert fake.last.headers["Authorization"] == f"Bearer {VK_OPENAI_KEY}"


@pytest.mark.parametrize(
    "name", ["x-portkey-default-input-guardrails", "x-portkey-default-output-guardrails"]
)
async def test_default_guardrail_headers_naming_saved_guardrails_are_refused_never_silently_passed(
    portkey_gateway: str, fake: FakeProvider, name: str
) -> None:
    headers = {"x-portkey-provider": "openai", "Authorization": "Bearer sk-fake", name: '["pg-pii-1"]'}
    status, body, _ = await post(portkey_gateway, headers)
    assert status == 400
    assert body["error"]["param"] == name
    assert "pg-pii-1" not in str(body)
    assert fake.received == []
    fake.on("POST", "/v1/chat/completions", answers(200))
    status, _, _ = await post(portkey_gateway, {**headers, name: "[]"})  # none asked: served
    assert status == 200
