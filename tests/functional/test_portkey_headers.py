"""Portkey's provider headers and their config-key twins, as the fake providers receive them.

A Portkey user's SDK sends ``x-portkey-openai-beta``, ``x-portkey-anthropic-*``..., the Anthropic SDK
and Claude Code send ``x-api-key``; each must reach the provider in the provider's own form, and
none of them anywhere else.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI

from tests.fake_provider import FakeProvider, Received
from tests.functional.fake_anthropic import FakeAnthropic, Message, message

CHAT: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
CLAUDE: dict[str, Any] = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}
ANTHROPIC_KEY = "sk-ant-marker-key-7f3a"


@pytest.fixture
async def anthropic(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> FakeAnthropic:
    fake = FakeAnthropic()
    fake.port = (await aiohttp_server(fake.app())).port or 0
    fake.answer(Message(message()))
    return fake


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def post(
    http: aiohttp.ClientSession, base: str, headers: dict[str, str], body: dict[str, Any] = CHAT
) -> tuple[int, dict[str, Any]]:
    async with http.post(f"{base}/v1/chat/completions", json=body, headers=headers) as response:
        return response.status, orjson.loads(await response.read())


def to_anthropic(anthropic: FakeAnthropic) -> dict[str, str]:
    return {"x-portkey-provider": "anthropic", "x-portkey-custom-host": anthropic.base_url}


def config(**target: Any) -> dict[str, str]:
    return {
        "x-portkey-config": orjson.dumps({"targets": [target], "strategy": {"mode": "fallback"}}).decode()
    }


# --- x-api-key ---------------------------------------------------------------------------------------


async def test_x_api_key_is_the_anthropic_key(
    http: aiohttp.ClientSession, gateway_url: str, anthropic: FakeAnthropic
) -> None:
    headers = {**to_anthropic(anthropic), "x-api-key": ANTHROPIC_KEY}
    status, _ = await post(http, gateway_url, headers, CLAUDE)
    assert status == 200
    assert anthropic.last.headers.getall("x-api-key") == [ANTHROPIC_KEY]


async def test_bearer_key_wins_over_x_api_key_as_in_portkey(
    http: aiohttp.ClientSession, gateway_url: str, anthropic: FakeAnthropic
) -> None:
    headers = {
        **to_anthropic(anthropic),
        "x-api-key": "sk-ant-other",
        "Authorization": f"Bearer {ANTHROPIC_KEY}",
    }
    await post(http, gateway_url, headers, CLAUDE)
    assert anthropic.last.headers.getall("x-api-key") == [ANTHROPIC_KEY]


async def test_x_api_key_reaches_anthropic_targets_of_a_config(
    http: aiohttp.ClientSession, gateway_url: str, anthropic: FakeAnthropic
) -> None:
    headers = {**config(provider="anthropic", custom_host=anthropic.base_url), "x-api-key": ANTHROPIC_KEY}
    status, _ = await post(http, gateway_url, headers, CLAUDE)
    assert status == 200
    assert anthropic.last.headers["x-api-key"] == ANTHROPIC_KEY


async def test_x_api_key_is_never_sent_to_another_provider_in_any_form(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider, provider_headers: dict[str, str]
) -> None:
    headers = {**provider_headers, "x-api-key": ANTHROPIC_KEY, "x-portkey-forward-headers": "x-api-key"}
    status, _ = await post(http, gateway_url, headers)
    assert status == 200
    assert "x-api-key" not in fake.last.headers
    assert "Authorization" not in fake.last.headers
    assert not any(ANTHROPIC_KEY in value for value in fake.last.headers.values())


# --- OpenAI's and Anthropic's headers ----------------------------------------------------------------


async def test_portkey_sdk_openai_beta_header_becomes_openai_beta(
    gateway_url: str, fake: FakeProvider, provider_headers: dict[str, str]
) -> None:
    async with AsyncOpenAI(
        base_url=f"{gateway_url}/v1",
        api_key="sk-test",
        default_headers={**provider_headers, "x-portkey-openai-beta": "assistants=v2"},
        max_retries=0,
    ) as client:
        await client.chat.completions.create(**CHAT)
    assert fake.last.headers.getall("OpenAI-Beta") == ["assistants=v2"]
    assert not any(name.lower().startswith("x-portkey-") for name in fake.last.headers)


async def test_portkey_openai_beta_wins_over_the_plain_header(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider, provider_headers: dict[str, str]
) -> None:
    headers = {**provider_headers, "OpenAI-Beta": "assistants=v1", "x-portkey-openai-beta": "assistants=v2"}
    await post(http, gateway_url, headers)
    assert fake.last.headers.getall("OpenAI-Beta") == ["assistants=v2"]


async def test_config_openai_keys_reach_the_provider_as_openai_headers_over_the_callers(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider
) -> None:
    target = {
        "provider": "openai",
        "custom_host": fake.base_url,
        "openai_organization": "org-from-config",
        "openai_project": "proj_from_config",
    }
    headers = {**config(**target), "x-portkey-openai-organization": "org-from-header"}
    status, _ = await post(http, gateway_url, headers)
    assert status == 200
    assert fake.last.headers.getall("OpenAI-Organization") == ["org-from-config"]
    assert fake.last.headers.getall("OpenAI-Project") == ["proj_from_config"]


async def test_portkey_anthropic_headers_reach_anthropic(
    http: aiohttp.ClientSession, gateway_url: str, anthropic: FakeAnthropic
) -> None:
    headers = {
        **to_anthropic(anthropic),
        "x-api-key": ANTHROPIC_KEY,
        "x-portkey-anthropic-beta": "prompt-caching-2024-07-31",
        "x-portkey-anthropic-version": "2024-10-22",
        # The Portkey headers win over the plain ones, as in Portkey.
        "anthropic-beta": "output-128k-2025-02-19",
        "anthropic-version": "2023-01-01",
    }
    status, _ = await post(http, gateway_url, headers, CLAUDE)
    assert status == 200
    received = anthropic.last.headers
    assert received.getall("anthropic-beta") == ["prompt-caching-2024-07-31"]
    assert received.getall("anthropic-version") == ["2024-10-22"]
    assert not any(name.lower().startswith("x-portkey-") for name in received)


async def test_config_anthropic_keys_win_over_the_callers_headers(
    http: aiohttp.ClientSession, gateway_url: str, anthropic: FakeAnthropic
) -> None:
    target = {
        "provider": "anthropic",
        "api_key": ANTHROPIC_KEY,
        "custom_host": anthropic.base_url,
        "anthropic_beta": "interleaved-thinking-2025-05-14",
        "anthropic_version": "2024-10-22",
    }
    headers = {**config(**target), "x-portkey-anthropic-beta": "ignored", "anthropic-version": "2023-01-01"}
    status, _ = await post(http, gateway_url, headers, CLAUDE)
    assert status == 200
    assert anthropic.last.headers.getall("anthropic-beta") == ["interleaved-thinking-2025-05-14"]
    assert anthropic.last.headers.getall("anthropic-version") == ["2024-10-22"]


async def test_anthropic_headers_are_not_sent_to_an_openai_format_provider(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider, provider_headers: dict[str, str]
) -> None:
    headers = {**provider_headers, "x-portkey-anthropic-beta": "b", "x-portkey-anthropic-version": "v"}
    await post(http, gateway_url, headers)
    assert "anthropic-beta" not in fake.last.headers
    assert "anthropic-version" not in fake.last.headers


# --- x-portkey-huggingface-base-url --------------------------------------------------------------------


async def test_huggingface_base_url_is_the_endpoint_called_with_portkeys_path(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider
) -> None:
    headers = {
        "x-portkey-provider": "huggingface",
        "x-portkey-huggingface-base-url": f"http://127.0.0.1:{fake.port}/",
        "Authorization": "Bearer hf_marker",
    }
    status, _ = await post(http, gateway_url, headers)
    assert status == 200
    assert fake.last.path == "/v1/chat/completions"
    assert fake.last.headers["Authorization"] == "Bearer hf_marker"
    assert not any(name.lower().startswith("x-portkey-") for name in fake.last.headers)


@pytest.mark.parametrize("url", ["http://169.254.169.254", "http://10.0.0.1:8080", "ftp://127.0.0.1"])
async def test_huggingface_base_url_goes_through_the_custom_host_guard(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider, url: str
) -> None:
    headers = {"x-portkey-provider": "huggingface", "x-portkey-huggingface-base-url": url}
    status, body = await post(http, gateway_url, headers)
    assert status == 400
    assert body["error"]["param"] == "x-portkey-huggingface-base-url"
    assert body["error"]["code"] in ("custom_host_not_allowed", "invalid_custom_host")
    assert fake.received == []


# --- x-portkey-mistral-fim-completion -----------------------------------------------------------------

FIM_ANSWER = {
    "id": "5b35cc2e69bf4ba9a11373ee1f1937f8",
    "object": "chat.completion",
    "created": 1721133487,
    "model": "codestral-latest",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "    return a + b"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 8, "completion_tokens": 7, "total_tokens": 15},
}


def to_mistral(fake: FakeProvider, fim: str = "true") -> dict[str, str]:
    return {
        "x-portkey-provider": "mistral-ai",
        "x-portkey-custom-host": fake.base_url,
        "x-portkey-mistral-fim-completion": fim,
    }


async def test_mistral_fim_sends_chat_completions_to_the_fim_endpoint(
    gateway_url: str, fake: FakeProvider
) -> None:
    async def fim(request: web.Request, received: Received) -> web.StreamResponse:
        return web.json_response(FIM_ANSWER)

    fake.on("POST", "/v1/fim/completions", fim)
    async with AsyncOpenAI(
        base_url=f"{gateway_url}/v1", api_key="mistral-key", default_headers=to_mistral(fake), max_retries=0
    ) as client:
        answer = await client.chat.completions.create(
            model="codestral-latest",
            messages=[{"role": "user", "content": "def add(a, b):"}],
            max_completion_tokens=64,
            seed=7,
            extra_body={"suffix": "\nprint(add(1, 2))"},
        )
    assert answer.choices[0].message.content == "    return a + b"
    assert fake.last.path == "/v1/fim/completions"
    assert fake.last.json() == {
        "model": "codestral-latest",
        "prompt": "def add(a, b):",
        "suffix": "\nprint(add(1, 2))",
        "max_tokens": 64,
        "random_seed": 7,
    }


async def test_mistral_fim_keeps_the_callers_prompt_and_streams(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider
) -> None:
    body = {"model": "codestral-latest", "messages": [], "prompt": "x = ", "stream": True}
    async with http.post(
        f"{gateway_url}/v1/chat/completions", json=body, headers=to_mistral(fake)
    ) as response:
        assert response.status == 200
        await response.read()
    assert fake.last.path == "/v1/fim/completions"
    assert fake.last.json() == {"model": "codestral-latest", "prompt": "x = ", "stream": True}


async def test_mistral_chat_stays_chat_without_the_fim_header(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider
) -> None:
    await post(http, gateway_url, to_mistral(fake, fim="false"))
    assert fake.last.path == "/v1/chat/completions"
    assert fake.last.json() == CHAT


async def test_mistral_fim_without_a_prompt_is_a_400_naming_it(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider
) -> None:
    body = {"model": "codestral-latest", "messages": [{"role": "system", "content": "be brief"}]}
    status, answer = await post(http, gateway_url, to_mistral(fake), body)
    assert status == 400
    assert answer["error"]["param"] == "prompt"
    assert fake.received == []


# --- hosted-only headers -------------------------------------------------------------------------------

#: What the portkey-ai SDK and Portkey's docs send that only the hosted Portkey acts on (caching,
#: debug logs, log redaction, SDK telemetry) or that Portkey OSS reads but never uses.
HOSTED_ONLY = {
    "x-portkey-cache-namespace": "team-a",
    "x-portkey-cache-force-refresh": "true",
    "x-portkey-debug": "false",
    "x-portkey-sensitive-headers": "x-secret",
    "x-portkey-package-version": "portkey-1.10.1",
    "x-portkey-runtime": "python",
    "x-portkey-runtime-version": "3.12.3",
    "x-portkey-mode": "proxy openai",
    "x-portkey-retry-count": "2",
    "x-portkey-cache": "semantic",
    "x-portkey-trace-id": "trace-42",
    "x-portkey-metadata": '{"_user": "u1"}',
    "x-portkey-strict-open-ai-compliance": "true",
}


async def test_hosted_only_portkey_headers_are_accepted_and_never_forwarded(
    gateway_url: str, fake: FakeProvider, provider_headers: dict[str, str]
) -> None:
    async with AsyncOpenAI(
        base_url=f"{gateway_url}/v1",
        api_key="sk-test",
        default_headers={**provider_headers, **HOSTED_ONLY},
        max_retries=0,
    ) as client:
        response = await client.chat.completions.with_raw_response.create(**CHAT)
    assert response.status_code == 200
    assert response.headers["x-portkey-trace-id"] == "trace-42"
    assert fake.last.json() == CHAT
    assert not any(name.lower().startswith("x-portkey-") for name in fake.last.headers)
    assert not any(value in HOSTED_ONLY.values() for value in fake.last.headers.values())
