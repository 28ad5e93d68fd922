"""A stream is committed to the client only with its first chunk, and never ends looking complete
when it is not."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from openai import AsyncOpenAI

from tests.conftest import GatewayFactory, settings_with
from tests.fake_provider import FakeProvider, Received
from tests.functional.raw_http import RawUpstream, chunked

CHAT: dict[str, Any] = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
_HEAD = b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,'
CHUNK = _HEAD + b'"delta":{"content":"hi"},"finish_reason":null}]}\n\n'
FINAL = _HEAD + b'"delta":{},"finish_reason":"stop"}]}\n\n'
DONE = b"data: [DONE]\n\n"


def streaming(*parts: bytes, then: str = "end") -> Callable[..., Awaitable[web.StreamResponse]]:
    """A stream of ``parts``, then: ``end`` cleanly, ``abort`` the connection, or ``hang``."""

    async def respond(request: web.Request, received: Received) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for part in parts:
            await response.write(part)
        if then == "abort":
            assert request.transport is not None
            request.transport.abort()
        elif then == "hang":
            await asyncio.sleep(30)
        else:
            await response.write_eof()
        return response

    return respond


async def post(url: str, headers: dict[str, str]) -> tuple[int, bytes]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{url}/v1/chat/completions", json=CHAT, headers=headers) as response,
    ):
        return response.status, await asyncio.wait_for(response.read(), 10)


def fallback(*fakes: FakeProvider) -> dict[str, str]:
    targets = [{"provider": "openai", "api_key": "sk-x", "custom_host": fake.base_url} for fake in fakes]
    return {"x-portkey-config": json.dumps({"strategy": {"mode": "fallback"}, "targets": targets})}


async def test_a_stream_that_breaks_before_its_first_chunk_is_a_502_not_a_cut_200(
    gateway_url: str, fake: FakeProvider, provider_headers: dict[str, str]
) -> None:
    fake.on("POST", "/v1/chat/completions", streaming(then="abort"))
    status, body = await post(gateway_url, provider_headers)
    assert status == 502
    assert json.loads(body)["error"]["code"] == "upstream_error"


async def test_a_stream_that_breaks_before_its_first_chunk_falls_back(
    gateway_url: str, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    fake.on("POST", "/v1/chat/completions", streaming(then="abort"))
    fake_b.on("POST", "/v1/chat/completions", streaming(CHUNK, FINAL, DONE))
    assert await post(gateway_url, fallback(fake, fake_b)) == (200, CHUNK + FINAL + DONE)


async def test_a_silent_stream_past_the_first_token_timeout_falls_back(
    make_gateway: GatewayFactory, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    server = await make_gateway(settings_with(upstream={"first_token_timeout": 0.3}))
    url = f"http://127.0.0.1:{server.port}"
    fake.on("POST", "/v1/chat/completions", streaming(then="hang"))
    fake_b.on("POST", "/v1/chat/completions", streaming(CHUNK, FINAL, DONE))
    assert await post(url, fallback(fake, fake_b)) == (200, CHUNK + FINAL + DONE)
    status, body = await post(url, fallback(fake))
    assert status == 504
    assert json.loads(body)["error"]["code"] == "upstream_first_token_timeout"


async def test_a_stream_ending_without_done_or_finish_reason_ends_with_an_error_event(
    gateway_url: str, fake: FakeProvider, provider_headers: dict[str, str]
) -> None:
    fake.on("POST", "/v1/chat/completions", streaming(CHUNK, CHUNK))
    status, body = await post(gateway_url, provider_headers)
    assert status == 200
    assert body.startswith(CHUNK + CHUNK)
    assert DONE not in body
    error = json.loads(body[len(CHUNK + CHUNK) :].removeprefix(b"data: "))["error"]
    assert error["code"] == "upstream_error"
    assert "before it was complete" in error["message"]


async def test_a_finished_stream_without_done_is_completed_for_the_client(
    gateway_url: str, fake: FakeProvider, client: AsyncOpenAI
) -> None:
    fake.on("POST", "/v1/chat/completions", streaming(CHUNK, FINAL))
    stream = await client.chat.completions.create(**CHAT)
    chunks = [chunk async for chunk in stream]
    assert [choice.finish_reason for chunk in chunks for choice in chunk.choices] == [None, "stop"]
    status, body = await post(
        gateway_url, {"x-portkey-provider": "openai", "x-portkey-custom-host": fake.base_url}
    )
    assert (status, body) == (200, CHUNK + FINAL + DONE)


@pytest.mark.parametrize(
    ("events", "relayed"),
    [
        ([CHUNK, FINAL, DONE], CHUNK + FINAL + DONE),
        ([CHUNK, FINAL], CHUNK + FINAL + DONE),  # [DONE] added for the client
    ],
)
async def test_a_stream_that_arrives_in_one_piece_is_relayed_whole(
    gateway_url: str, raw: RawUpstream, events: list[bytes], relayed: bytes
) -> None:
    """The whole stream, its end included, in one read: it goes out with the head and the end of
    the gateway's answer in one write, the same bytes as when it trickles in."""
    raw.scripts.append(chunked(events, b"text/event-stream", at_once=True))
    status, body = await post(
        gateway_url, {"x-portkey-provider": "openai", "x-portkey-custom-host": raw.base_url}
    )
    assert (status, body) == (200, relayed)


async def test_a_broken_stream_that_arrives_in_one_piece_ends_with_an_error_event(
    gateway_url: str, raw: RawUpstream
) -> None:
    raw.scripts.append(chunked([CHUNK, CHUNK], b"text/event-stream", at_once=True))
    status, body = await post(
        gateway_url, {"x-portkey-provider": "openai", "x-portkey-custom-host": raw.base_url}
    )
    assert status == 200
    assert body.startswith(CHUNK + CHUNK)
    error = json.loads(body[len(CHUNK + CHUNK) :].removeprefix(b"data: "))["error"]
    assert "before it was complete" in error["message"]


def answering_after(seconds: float) -> Callable[..., Awaitable[web.StreamResponse]]:
    async def respond(request: web.Request, received: Received) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return web.json_response({"id": "late"})

    return respond


async def test_a_provider_slow_to_send_headers_gets_a_504_or_a_fallback(
    make_gateway: GatewayFactory, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    server = await make_gateway(settings_with(upstream={"headers_timeout": 0.3}))
    url = f"http://127.0.0.1:{server.port}"
    fake.on("POST", "/v1/chat/completions", answering_after(5))
    fake_b.on("POST", "/v1/chat/completions", streaming(CHUNK, FINAL, DONE))
    status, body = await post(url, {"x-portkey-provider": "openai", "x-portkey-custom-host": fake.base_url})
    assert status == 504
    assert json.loads(body)["error"]["code"] == "upstream_headers_timeout"
    assert await post(url, fallback(fake, fake_b)) == (200, CHUNK + FINAL + DONE)


async def test_the_headers_timeout_ends_once_the_headers_came(
    make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    server = await make_gateway(settings_with(upstream={"headers_timeout": 0.1}))

    async def slow_body(request: web.Request, received: Received) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        # Past the headers timeout, after the headers: both are timers on this one loop, started
        # in this order, so the timeout's moment always comes first.
        await asyncio.sleep(0.15)
        await response.write(CHUNK + FINAL + DONE)
        return response

    fake.on("POST", "/v1/chat/completions", slow_body)
    headers = {"x-portkey-provider": "openai", "x-portkey-custom-host": fake.base_url}
    assert await post(f"http://127.0.0.1:{server.port}", headers) == (200, CHUNK + FINAL + DONE)


@pytest.mark.parametrize(
    "ending",
    [b"data: {not json\n\n", b'event: error\ndata: {"error":{"message":"overloaded"}}\n\n'],
    ids=["malformed_chunk", "upstream_error_event"],
)
async def test_a_stream_that_goes_wrong_after_its_first_chunk_never_ends_clean(
    ending: bytes, gateway_url: str, fake: FakeProvider, provider_headers: dict[str, str]
) -> None:
    fake.on("POST", "/v1/chat/completions", streaming(CHUNK, ending))
    status, body = await post(gateway_url, provider_headers)
    assert status == 200
    assert body.startswith(CHUNK + ending)  # relayed as sent: bytes are not rewritten
    assert DONE not in body
    error = json.loads(body[len(CHUNK + ending) :].removeprefix(b"data: "))["error"]
    assert error["code"] == "upstream_error"
