"""Every error a caller can meet, seen through real clients: OpenAI-shaped, right status, no leaks.

Gateway rejections are checked with the ``openai`` SDK (the exception class its users catch) and
with raw aiohttp where the wire itself matters (chunked bodies, exact upstream bytes).
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import openai
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI

from gateway.appkeys import RECORDER
from tests.conftest import GatewayFactory, settings_with
from tests.fake_provider import FakeProvider, Received

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
SECRET = "sk-secret-should-not-leak-123"
ERROR_KEYS = {"message", "type", "param", "code"}

Call = Callable[[AsyncOpenAI], Awaitable[Any]]


def sdk(base_url: str, headers: dict[str, str]) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=base_url, api_key=SECRET, default_headers=headers, max_retries=0)


def assert_openai_error(body: Any, *, type_: str, code: str | None) -> dict[str, Any]:
    """``body`` is exactly ``{"error": {message, type, param, code}}`` with a useful message."""
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == ERROR_KEYS
    assert (error["type"], error["code"]) == (type_, code)
    assert isinstance(error["message"], str)
    assert error["message"]
    assert "Traceback" not in error["message"]
    assert SECRET not in json.dumps(body)
    return error


async def chat(client: AsyncOpenAI) -> Any:
    return await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]


def post_raw(path: str, content: bytes, content_type: str) -> Call:
    def call(client: AsyncOpenAI) -> Awaitable[Any]:
        return client.post(
            path, cast_to=object, content=content, options={"headers": {"Content-Type": content_type}}
        )

    return call


@dataclass
class Rejection:
    id: str
    status: int
    exception: type[openai.APIStatusError]
    code: str
    param: str | None
    #: Header changes against the default provider headers; ``None`` removes one.
    headers: dict[str, str | None] = field(default_factory=dict)
    call: Call = chat
    hint: str = ""


BAD_REQUEST = openai.BadRequestError
REJECTIONS = [
    Rejection(
        "missing-provider", 400, BAD_REQUEST, "missing_provider", "x-portkey-provider",
        {"x-portkey-provider": None}, hint="x-portkey-provider: openai",
    ),
    Rejection(
        "unknown-provider-suggests-close-slugs", 400, BAD_REQUEST, "unknown_provider", "x-portkey-provider",
        {"x-portkey-provider": "opnai"}, hint="Did you mean openai",
    ),
    Rejection(
        "azure-suggests-azure-openai", 400, BAD_REQUEST, "unknown_provider", "x-portkey-provider",
        {"x-portkey-provider": "azure"}, hint="Did you mean azure-openai, azure-ai?",
    ),
    Rejection(
        "config-without-targets", 400, BAD_REQUEST, "invalid_config", "x-portkey-config",
        {"x-portkey-provider": None, "x-portkey-config": '{"strategy": {"mode": "single"}}'},
        hint="config.targets",
    ),
    Rejection(
        # Sent on, it would end the Authorization header and start one of the caller's own.
        "config-key-with-a-line-break", 400, BAD_REQUEST, "invalid_config", "x-portkey-config",
        {"x-portkey-provider": None, "x-portkey-config": json.dumps(
            {"provider": "openai", "custom_host": "{fake}/v1", "api_key": "sk-a\r\nX-Injected: 1"}
        )},
        hint="config.api_key: must not hold a line break",
    ),
    Rejection(
        "malformed-json", 400, BAD_REQUEST, "invalid_json", None,
        call=post_raw("/chat/completions", b'{"model": "gpt-4o-mini",', "application/json"),
    ),
    Rejection(
        "json-not-an-object", 400, BAD_REQUEST, "invalid_json", None,
        call=post_raw("/chat/completions", b'["gpt-4o-mini"]', "application/json"), hint="JSON object",
    ),
    Rejection(
        "text-on-json-endpoint", 415, openai.APIStatusError, "unsupported_media_type", "Content-Type",
        call=post_raw("/chat/completions", b"hello", "text/plain"), hint="application/json",
    ),
    Rejection(
        "json-on-multipart-endpoint", 415, openai.APIStatusError, "unsupported_media_type", "Content-Type",
        call=post_raw("/audio/transcriptions", b'{"model": "whisper-1"}', "application/json"),
        hint="multipart/form-data",
    ),
    Rejection(
        "request-timeout-not-a-number", 400, BAD_REQUEST, "invalid_request_timeout",
        "x-portkey-request-timeout", {"x-portkey-request-timeout": "soon"},
    ),
    Rejection(
        "request-timeout-zero", 400, BAD_REQUEST, "invalid_request_timeout",
        "x-portkey-request-timeout", {"x-portkey-request-timeout": "0"},
    ),
    Rejection(
        "request-timeout-400-digits", 400, BAD_REQUEST, "invalid_request_timeout",
        "x-portkey-request-timeout", {"x-portkey-request-timeout": "9" * 400}, hint="at most 86400000",
    ),
    Rejection(
        "request-timeout-over-a-day", 400, BAD_REQUEST, "invalid_request_timeout",
        "x-portkey-request-timeout", {"x-portkey-request-timeout": "86400001"}, hint="24 hours",
    ),
    Rejection(
        "metadata-not-json", 400, BAD_REQUEST, "invalid_metadata", "x-portkey-metadata",
        {"x-portkey-metadata": "team=search"}, hint="not valid JSON",
    ),
    Rejection(
        "metadata-not-an-object", 400, BAD_REQUEST, "invalid_metadata", "x-portkey-metadata",
        {"x-portkey-metadata": '["search"]'}, hint="JSON object",
    ),
    Rejection(
        "metadata-non-string-value", 400, BAD_REQUEST, "invalid_metadata", "x-portkey-metadata",
        {"x-portkey-metadata": '{"team": 7}'}, hint="'team'",
    ),
    Rejection(
        "endpoint-family-the-provider-lacks", 400, BAD_REQUEST, "unsupported_endpoint", "x-portkey-provider",
        {"x-portkey-provider": "groq", "x-portkey-custom-host": "{fake}/openai/v1"},
        call=lambda client: client.images.generate(prompt="a cat", model="dall-e-3"), hint="groq",
    ),
    Rejection(
        "azure-without-resource-name", 400, BAD_REQUEST, "missing_azure_resource_name",
        "x-portkey-azure-resource-name",
        {"x-portkey-provider": "azure-openai", "x-portkey-custom-host": None},
    ),
    Rejection(
        "wrong-method-on-known-endpoint", 405, openai.APIStatusError, "method_not_allowed", None,
        call=lambda client: client.get("/embeddings", cast_to=object), hint="POST",
    ),
]  # fmt: skip


@pytest.mark.parametrize("case", REJECTIONS, ids=lambda case: case.id)
async def test_gateway_rejection_is_openai_shaped_and_raises_the_matching_sdk_error(
    case: Rejection, gateway_url: str, fake: FakeProvider, provider_headers: dict[str, str]
) -> None:
    headers = dict(provider_headers)
    for name, value in case.headers.items():
        if value is None:
            headers.pop(name)
        else:
            headers[name] = value.replace("{fake}", f"http://127.0.0.1:{fake.port}")
    async with sdk(f"{gateway_url}/v1", headers) as client:
        with pytest.raises(openai.APIStatusError) as caught:
            await case.call(client)
    exc = caught.value
    assert type(exc) is case.exception
    assert exc.status_code == case.status
    assert exc.response.headers["content-type"].startswith("application/json")
    error = assert_openai_error(exc.response.json(), type_="invalid_request_error", code=case.code)
    assert (exc.code, exc.param) == (case.code, case.param)
    assert error["param"] == case.param
    assert case.hint in error["message"]
    assert fake.received == []


async def test_unknown_route_outside_v1_is_an_openai_not_found(gateway_url: str) -> None:
    async with sdk(gateway_url, {"x-portkey-provider": "openai"}) as client:
        with pytest.raises(openai.NotFoundError) as caught:
            await client.get("/v2/chat/completions", cast_to=object)
    assert_openai_error(caught.value.response.json(), type_="invalid_request_error", code="not_found")
    assert "/v1/" in caught.value.message


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_wrong_method_on_a_gateway_route_is_405_with_allow(
    http: aiohttp.ClientSession, gateway_url: str
) -> None:
    async with http.post(f"{gateway_url}/healthz", json={}) as response:
        assert response.status == 405
        assert "GET" in response.headers["Allow"]
        assert_openai_error(await response.json(), type_="invalid_request_error", code="method_not_allowed")


# --- bodies over the limits ------------------------------------------------------------------------

LIMIT = 64 * 1024


@pytest.fixture
async def small_limits(make_gateway: GatewayFactory) -> str:
    server = await make_gateway(
        settings_with(limits={"max_json_body_bytes": LIMIT, "max_upload_bytes": LIMIT})
    )
    return f"http://127.0.0.1:{server.port}"


async def chunks(total: int, size: int = 8192) -> AsyncIterator[bytes]:
    for _ in range(total // size):
        yield b"a" * size


async def test_json_body_over_the_limit_with_content_length_is_413(
    small_limits: str, fake: FakeProvider, provider_headers: dict[str, str]
) -> None:
    async with sdk(f"{small_limits}/v1", provider_headers) as client:
        with pytest.raises(openai.APIStatusError) as caught:
            await client.embeddings.create(model="text-embedding-3-small", input="word " * LIMIT)
    assert caught.value.status_code == 413
    assert_openai_error(caught.value.response.json(), type_="invalid_request_error", code="payload_too_large")
    assert fake.received == []


async def test_json_body_over_the_limit_chunked_is_413(
    small_limits: str, fake: FakeProvider, provider_headers: dict[str, str], http: aiohttp.ClientSession
) -> None:
    headers = {**provider_headers, "Content-Type": "application/json"}
    url = f"{small_limits}/v1/chat/completions"
    async with http.post(url, data=chunks(4 * LIMIT), headers=headers) as response:
        assert response.status == 413
        assert_openai_error(await response.json(), type_="invalid_request_error", code="payload_too_large")
    assert fake.received == []


async def test_json_body_over_the_limit_chunked_sent_whole_with_its_headers_is_413(
    small_limits: str, fake: FakeProvider, provider_headers: dict[str, str]
) -> None:
    # One write: the body is all there before the handler reads it (no size was announced).
    body = json.dumps({"model": "gpt-4o", "input": "a" * (LIMIT + 1000)}).encode()
    head = "".join(f"{name}: {value}\r\n" for name, value in provider_headers.items())
    request = (
        f"POST /v1/embeddings HTTP/1.1\r\nHost: gateway\r\n{head}Content-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode() + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    reader, writer = await asyncio.open_connection("127.0.0.1", int(small_limits.rsplit(":", 1)[1]))
    writer.write(request)
    answer = await reader.read()
    writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split()[1] == b"413"
    payload = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert_openai_error(payload, type_="invalid_request_error", code="payload_too_large")
    assert fake.received == []


async def test_upload_over_the_limit_with_content_length_is_refused_before_the_provider(
    small_limits: str, fake: FakeProvider, provider_headers: dict[str, str]
) -> None:
    async with sdk(f"{small_limits}/v1", provider_headers) as client:
        with pytest.raises(openai.APIStatusError) as caught:
            await client.audio.transcriptions.create(model="whisper-1", file=("a.wav", b"\0" * 4 * LIMIT))
    assert caught.value.status_code == 413
    assert_openai_error(caught.value.response.json(), type_="invalid_request_error", code="payload_too_large")
    assert fake.received == []


async def test_chunked_upload_over_the_limit_is_413_and_never_fully_forwarded(
    small_limits: str, fake: FakeProvider, provider_headers: dict[str, str], http: aiohttp.ClientSession
) -> None:
    total = 16 * LIMIT
    headers = {**provider_headers, "Content-Type": "multipart/form-data; boundary=xyz"}
    async with http.post(
        f"{small_limits}/v1/audio/transcriptions", data=chunks(total), headers=headers
    ) as response:
        assert response.status == 413
        assert_openai_error(await response.json(), type_="invalid_request_error", code="payload_too_large")
    assert all(received.size < total for received in fake.received)


# --- upstream errors --------------------------------------------------------------------------------


def upstream_error(message: str, type_: str, code: str | None) -> bytes:
    """An error body as OpenAI formats it (indented, so any re-encoding would show)."""
    return json.dumps(
        {"error": {"message": message, "type": type_, "param": None, "code": code}}, indent=4
    ).encode()


UPSTREAM_ERRORS = [
    pytest.param(
        401, openai.AuthenticationError, upstream_error(
            "Incorrect API key provided: sk-wron****1234.", "invalid_request_error", "invalid_api_key"
        ), {}, id="401",
    ),
    pytest.param(
        404, openai.NotFoundError, upstream_error(
            "The model `gpt-9` does not exist or you do not have access to it.", "invalid_request_error",
            "model_not_found",
        ), {}, id="404",
    ),
    pytest.param(
        429, openai.RateLimitError, upstream_error(
            "Rate limit reached for gpt-4o-mini on requests per min (RPM): Limit 3, Used 3, Requested 1.",
            "requests", "rate_limit_exceeded",
        ), {
            "retry-after": "20", "x-ratelimit-limit-requests": "3", "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": "20s", "x-request-id": "req_123",
        }, id="429",
    ),
    pytest.param(
        500, openai.InternalServerError, upstream_error(
            "The server had an error while processing your request. Sorry about that!", "server_error", None
        ), {"x-request-id": "req_500"}, id="500",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("status", "exception", "body", "headers"), UPSTREAM_ERRORS)
async def test_upstream_error_keeps_status_headers_and_body_bytes(
    status: int,
    exception: type[openai.APIStatusError],
    body: bytes,
    headers: dict[str, str],
    client: AsyncOpenAI,
    fake: FakeProvider,
    gateway_url: str,
    provider_headers: dict[str, str],
    http: aiohttp.ClientSession,
) -> None:
    async def fail(request: web.Request, received: Received) -> web.StreamResponse:
        return web.Response(status=status, body=body, content_type="application/json", headers=headers)

    fake.on("POST", "/v1/chat/completions", fail)
    with pytest.raises(exception) as caught:
        await chat(client)
    assert caught.value.status_code == status
    assert caught.value.body == json.loads(body)["error"]
    url = f"{gateway_url}/v1/chat/completions"
    async with http.post(url, json=CHAT, headers=provider_headers) as response:
        assert response.status == status
        assert await response.read() == body
        for name, value in headers.items():
            assert response.headers[name] == value


# --- upstream unreachable and timeouts -------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_unreachable_upstream_is_502_naming_the_provider(gateway_url: str) -> None:
    headers = {
        "x-portkey-provider": "deepseek",
        "x-portkey-custom-host": f"http://127.0.0.1:{closed_port()}/v1",
    }
    async with sdk(f"{gateway_url}/v1", headers) as client:
        with pytest.raises(openai.InternalServerError) as caught:
            await chat(client)
    assert caught.value.status_code == 502
    error = assert_openai_error(caught.value.response.json(), type_="api_error", code="upstream_unreachable")
    assert "deepseek" in error["message"]


@pytest.fixture
async def stalled(fake: FakeProvider) -> AsyncIterator[FakeProvider]:
    """The fake accepts chat requests and says nothing until the test ends."""
    release = asyncio.Event()

    async def stall(request: web.Request, received: Received) -> web.StreamResponse:
        await asyncio.wait_for(release.wait(), 30)
        return web.json_response({})

    fake.on("POST", "/v1/chat/completions", stall)
    yield fake
    release.set()


async def timed_chat(server: TestServer, headers: dict[str, str]) -> tuple[openai.APIStatusError, float]:
    started = time.perf_counter()
    async with sdk(f"http://127.0.0.1:{server.port}/v1", headers) as client:
        with pytest.raises(openai.APIStatusError) as caught:
            await chat(client)
    return caught.value, time.perf_counter() - started


async def test_silent_upstream_hits_the_idle_timeout_as_504(
    make_gateway: GatewayFactory, stalled: FakeProvider, provider_headers: dict[str, str]
) -> None:
    server = await make_gateway(settings_with(upstream={"idle_timeout": 0.2}))
    exc, elapsed = await timed_chat(server, provider_headers)
    assert exc.status_code == 504
    assert_openai_error(exc.response.json(), type_="timeout_error", code="upstream_idle_timeout")
    assert elapsed < 10


async def test_callers_request_timeout_exceeded_is_408(
    gateway: TestServer, stalled: FakeProvider, provider_headers: dict[str, str]
) -> None:
    exc, elapsed = await timed_chat(gateway, {**provider_headers, "x-portkey-request-timeout": "200"})
    assert type(exc) is openai.APIStatusError
    assert exc.status_code == 408
    error = assert_openai_error(exc.response.json(), type_="timeout_error", code="request_timeout")
    assert "x-portkey-request-timeout" in error["message"]
    assert elapsed < 10


async def test_settings_request_timeout_exceeded_is_504(
    make_gateway: GatewayFactory, stalled: FakeProvider, provider_headers: dict[str, str]
) -> None:
    server = await make_gateway(settings_with(upstream={"request_timeout": 0.2}))
    exc, elapsed = await timed_chat(server, provider_headers)
    assert exc.status_code == 504
    assert_openai_error(exc.response.json(), type_="timeout_error", code="upstream_timeout")
    assert elapsed < 10


# --- nothing leaks ----------------------------------------------------------------------------------


async def test_api_key_reaches_neither_logs_nor_error_bodies(
    make_gateway: GatewayFactory,
    stalled: FakeProvider,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    server = await make_gateway(settings_with(server={"access_log": True}, upstream={"idle_timeout": 0.2}))
    fake_host = stalled.base_url

    async def refuse(request: web.Request, received: Received) -> web.StreamResponse:
        return web.Response(
            status=401, body=upstream_error("Bad key.", "invalid_request_error", "invalid_api_key")
        )

    stalled.on("POST", "/v1/embeddings", refuse)
    cases = [
        ("/v1/chat/completions", {"x-portkey-provider": "opnai"}),
        ("/v1/chat/completions", {"x-portkey-provider": "openai", "x-portkey-metadata": "[1]"}),
        ("/v1/embeddings", {"x-portkey-provider": "openai", "x-portkey-custom-host": fake_host}),
        ("/v1/chat/completions", {"x-portkey-provider": "openai", "x-portkey-custom-host": fake_host}),
        (
            "/v1/chat/completions",
            {"x-portkey-provider": "openai", "x-portkey-custom-host": f"http://127.0.0.1:{closed_port()}/v1"},
        ),
    ]
    statuses = []
    for index, (path, headers) in enumerate(cases):
        auth = {"Authorization": f"Bearer {SECRET}"} if index % 2 else {"x-portkey-api-key": SECRET}
        async with http.post(
            f"http://127.0.0.1:{server.port}{path}", json=CHAT, headers=auth | headers
        ) as response:
            statuses.append(response.status)
            text = await response.text()
            assert SECRET not in text
            assert "Traceback" not in text
    assert statuses == [400, 400, 401, 504, 502]
    await server.app[RECORDER].flush()
    assert any(record.name == "gateway.access" for record in caplog.records)
    for record in caplog.records:
        assert SECRET not in record.getMessage()
        assert SECRET not in (record.exc_text or "")
    assert SECRET not in caplog.text


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON"]
)
async def test_a_json_body_is_read_as_json_whatever_the_spelling_of_its_media_type(
    content_type: str, gateway_url: str, fake: FakeProvider
) -> None:
    # The config's override applies only to a body read as JSON (an upload streams through as is).
    config = {"provider": "openai", "custom_host": fake.base_url, "override_params": {"temperature": 0}}
    headers = {"x-portkey-config": json.dumps(config), "Content-Type": content_type}
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{gateway_url}/v1/chat/completions", data=json.dumps(body), headers=headers) as response,
    ):
        assert response.status == 200, await response.text()
    assert fake.last.json() == {**body, "temperature": 0}
