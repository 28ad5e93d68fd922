"""Which headers cross the gateway, both ways, as the fake provider and the client see them."""

from __future__ import annotations

import re
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from multidict import CIMultiDictProxy
from openai import AsyncOpenAI

from gateway.config.settings import ProviderSettings
from tests.conftest import GatewayFactory, settings_with
from tests.fake_provider import FakeProvider, Received

CHAT: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def post(
    http: aiohttp.ClientSession, base: str, headers: dict[str, str]
) -> tuple[int, CIMultiDictProxy[str]]:
    async with http.post(f"{base}/v1/chat/completions", json=CHAT, headers=headers) as response:
        await response.read()
        return response.status, response.headers


# --- request side ----------------------------------------------------------------------------------

DEFAULT_FORWARDED = {
    "Accept": "application/json",
    "Accept-Encoding": "gzip, br",
    "User-Agent": "my-app/1.2",
    "OpenAI-Beta": "assistants=v2",
    "Idempotency-Key": "idem-42",
    "OpenAI-Organization": "org-direct",
}


async def test_default_forwarded_headers_reach_the_provider(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider, provider_headers: dict[str, str]
) -> None:
    status, _ = await post(http, gateway_url, {**provider_headers, **DEFAULT_FORWARDED, "X-Custom": "1"})
    assert status == 200
    for name, value in DEFAULT_FORWARDED.items():
        assert fake.last.headers[name] == value
    assert fake.last.headers["Content-Type"] == "application/json"
    assert "X-Custom" not in fake.last.headers


async def test_sdk_user_agent_is_forwarded_but_its_other_headers_only_on_request(
    gateway_url: str, fake: FakeProvider, provider_headers: dict[str, str]
) -> None:
    async with AsyncOpenAI(
        base_url=f"{gateway_url}/v1", api_key="sk-test", default_headers=provider_headers, max_retries=0
    ) as client:
        await client.chat.completions.create(**CHAT)
        assert fake.last.headers["User-Agent"].startswith("AsyncOpenAI/Python")
        assert not any(name.lower().startswith("x-stainless") for name in fake.last.headers)
        await client.chat.completions.create(
            **CHAT, extra_headers={"x-portkey-forward-headers": "x-stainless-lang"}
        )
        assert fake.last.headers["x-stainless-lang"] == "python"


async def test_headers_named_in_forward_headers_reach_the_provider(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider, provider_headers: dict[str, str]
) -> None:
    headers = {
        **provider_headers,
        "x-portkey-forward-headers": " X-Custom ,traceparent",
        "X-Custom": "one",
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "X-Other": "two",
    }
    await post(http, gateway_url, headers)
    assert fake.last.headers["X-Custom"] == "one"
    assert fake.last.headers["traceparent"] == headers["traceparent"]
    assert "X-Other" not in fake.last.headers


NEVER_FORWARDED = {
    "Authorization": "Basic dXNlcjpwYXNz",
    "Cookie": "session=abc",
    "Host": "gateway.example",
    "Keep-Alive": "timeout=5",
    "TE": "trailers",
    "Trailer": "x-checksum",
    "Proxy-Authorization": "Basic cHJveHk6cGFzcw==",
    "Connection": "keep-alive, x-hop-secret",
    "X-Hop-Secret": "only-for-the-first-hop",
    "api-key": "azure-style-key",
    "x-api-key": "anthropic-style-key",
}


async def test_credentials_hop_by_hop_and_portkey_headers_are_never_forwarded_even_if_named(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider, provider_headers: dict[str, str]
) -> None:
    portkey = {"x-portkey-api-key": "sk-portkey-key", "x-portkey-metadata": '{"team": "a"}'}
    named = ", ".join([*NEVER_FORWARDED, *portkey, *provider_headers])
    headers = {**provider_headers, **NEVER_FORWARDED, **portkey, "x-portkey-forward-headers": named}
    status, _ = await post(http, gateway_url, headers)
    assert status == 200
    received = fake.last.headers
    # The provider's auth replaces the caller's Authorization (a Basic one is not a bearer key).
    assert received.getall("Authorization") == ["Bearer sk-portkey-key"]
    assert received["Host"] == f"127.0.0.1:{fake.port}"
    for name in NEVER_FORWARDED.keys() - {"Authorization", "Host", "Connection"}:
        assert name not in received, name
    assert "x-hop-secret" not in received.get("Connection", "")
    assert not any(name.lower().startswith("x-portkey-") for name in received)


async def test_portkey_api_key_is_sent_as_bearer_when_there_is_no_authorization(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider, provider_headers: dict[str, str]
) -> None:
    await post(http, gateway_url, {**provider_headers, "x-portkey-api-key": "sk-via-portkey"})
    assert fake.last.headers["Authorization"] == "Bearer sk-via-portkey"


async def test_azure_gets_the_callers_bearer_key_as_api_key_only(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider
) -> None:
    headers = {
        "x-portkey-provider": "azure-openai",
        "x-portkey-custom-host": f"http://127.0.0.1:{fake.port}/openai",
        "Authorization": "Bearer azure-key-1",
    }
    await post(http, gateway_url, headers)
    assert fake.last.path == "/openai/v1/chat/completions"
    assert fake.last.headers["api-key"] == "azure-key-1"
    assert "Authorization" not in fake.last.headers


async def test_portkey_openai_organization_and_project_become_openai_headers(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider, provider_headers: dict[str, str]
) -> None:
    headers = {
        **provider_headers,
        "x-portkey-openai-organization": "org-123",
        "x-portkey-openai-project": "proj_456",
    }
    await post(http, gateway_url, headers)
    assert fake.last.headers["OpenAI-Organization"] == "org-123"
    assert fake.last.headers["OpenAI-Project"] == "proj_456"
    assert "x-portkey-openai-organization" not in fake.last.headers


async def test_settings_key_is_used_when_the_caller_sends_none(
    make_gateway: GatewayFactory,
    http: aiohttp.ClientSession,
    fake: FakeProvider,
    provider_headers: dict[str, str],
) -> None:
    settings = settings_with(providers={"openai": ProviderSettings(api_key="sk-from-settings")})
    base = f"http://127.0.0.1:{(await make_gateway(settings)).port}"
    await post(http, base, provider_headers)
    assert fake.last.headers["Authorization"] == "Bearer sk-from-settings"
    await post(http, base, {**provider_headers, "Authorization": "Bearer sk-caller"})
    assert fake.last.headers["Authorization"] == "Bearer sk-caller"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_settings_base_url_replaces_the_providers_and_custom_host_wins_over_it(
    make_gateway: GatewayFactory, http: aiohttp.ClientSession, fake: FakeProvider
) -> None:
    settings = settings_with(providers={"openai": ProviderSettings(base_url=fake.base_url)})
    base = f"http://127.0.0.1:{(await make_gateway(settings)).port}"
    assert (await post(http, base, {"x-portkey-provider": "openai"}))[0] == 200
    assert fake.last.path == "/v1/chat/completions"
    elsewhere = settings_with(
        providers={"openai": ProviderSettings(base_url=f"http://127.0.0.1:{closed_port()}")}
    )
    base = f"http://127.0.0.1:{(await make_gateway(elsewhere)).port}"
    headers = {"x-portkey-provider": "openai", "x-portkey-custom-host": fake.base_url}
    assert (await post(http, base, headers))[0] == 200
    assert len(fake.received) == 2


# --- response side ---------------------------------------------------------------------------------

PASSED_THROUGH = {
    "x-ratelimit-limit-requests": "500",
    "x-ratelimit-remaining-tokens": "149984",
    "x-ratelimit-reset-requests": "120ms",
    "retry-after": "1",
    "x-request-id": "req_abc123",
    "openai-processing-ms": "321",
    "openai-version": "2020-10-01",
}
DROPPED = {
    "Set-Cookie": "__cf_bm=abc; path=/; HttpOnly",
    "Keep-Alive": "timeout=5",
    "Proxy-Authenticate": "Basic",
    "Connection": "x-upstream-hop",
    "x-upstream-hop": "1",
}


async def test_provider_rate_limit_and_id_headers_pass_through_and_connection_ones_do_not(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider, provider_headers: dict[str, str]
) -> None:
    async def respond(request: web.Request, received: Received) -> web.StreamResponse:
        return web.json_response({"object": "chat.completion"}, headers={**PASSED_THROUGH, **DROPPED})

    fake.on("POST", "/v1/chat/completions", respond)
    status, headers = await post(http, gateway_url, provider_headers)
    assert status == 200
    for name, value in PASSED_THROUGH.items():
        assert headers.getall(name) == [value]
    for name in ("Set-Cookie", "Keep-Alive", "Proxy-Authenticate", "x-upstream-hop"):
        assert name not in headers, name
    assert headers["x-portkey-provider"] == "openai"


async def test_server_timing_reports_gateway_and_upstream_durations(
    http: aiohttp.ClientSession, gateway_url: str, provider_headers: dict[str, str]
) -> None:
    _, headers = await post(http, gateway_url, provider_headers)
    timing = headers["Server-Timing"]
    assert re.fullmatch(r"gateway;dur=\d+\.\d+, upstream;dur=\d+\.\d+", timing), timing


async def answer_429(request: web.Request, received: Received) -> web.StreamResponse:
    return web.json_response({"error": {"message": "slow down", "type": "requests"}}, status=429)


OUTCOMES = {
    "success": (200, {}),
    "gateway-error": (400, {"x-portkey-provider": "no-such-provider"}),
    "upstream-error": (429, {}),
    "upstream-unreachable": (502, {"x-portkey-custom-host": "http://127.0.0.1:{closed}/v1"}),
}


@pytest.mark.parametrize("outcome", OUTCOMES)
@pytest.mark.parametrize("given", [True, False], ids=["given", "absent"])
async def test_trace_id_is_echoed_or_generated_on_every_outcome(
    outcome: str,
    given: bool,
    http: aiohttp.ClientSession,
    gateway_url: str,
    fake: FakeProvider,
    provider_headers: dict[str, str],
) -> None:
    expected_status, changes = OUTCOMES[outcome]
    if outcome == "upstream-error":
        fake.on("POST", "/v1/chat/completions", answer_429)
    headers = {**provider_headers, **{k: v.format(closed=closed_port()) for k, v in changes.items()}}
    if given:
        headers["x-portkey-trace-id"] = "trace-from-caller-1"
    seen = []
    for _ in range(2):
        status, response_headers = await post(http, gateway_url, headers)
        assert status == expected_status
        seen.append(response_headers["x-portkey-trace-id"])
    if given:
        assert seen == ["trace-from-caller-1"] * 2
    else:
        assert [str(uuid.UUID(value)) for value in seen] == seen
        assert seen[0] != seen[1]
    assert all("x-portkey-trace-id" not in received.headers for received in fake.received)
