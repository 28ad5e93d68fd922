"""Streams through the real wire: byte-for-byte, chunk-by-chunk, and failures that never look complete.

The fake provider and the clients run on the same event loop, so "no buffering" is proved by
lock-step, not by timing: the fake writes piece k+1 only after the client has received piece k. A
gateway that held anything back would deadlock, and the test would fail on its ``wait_for`` bound.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from openai import APIError, AsyncOpenAI, InternalServerError

from gateway.appkeys import RECORDER
from gateway.streaming.relay import SMALL_BODY
from tests.conftest import GatewayFactory, settings_with
from tests.fake_provider import FakeProvider, Received, Responder

CHAT = "/v1/chat/completions"
Post = Callable[..., Any]
Caplog = pytest.LogCaptureFixture
HANG = 10.0  # wide upper bound: only a hang (a buffering or stuck gateway) ever reaches it
SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8"}
USAGE = {
    "prompt_tokens": 11,
    "completion_tokens": 7,
    "total_tokens": 18,
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
}


def _chunk(content: str | None, *, usage: dict[str, object] | None = None) -> bytes:
    """An OpenAI 2025+ chunk: ``obfuscation`` padding; the usage chunk has ``"choices": []``."""
    choices = [] if content is None else [{"index": 0, "delta": {"content": content}, "finish_reason": None}]
    return orjson.dumps(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "gpt-4o-mini",
            "choices": choices,
            "usage": usage,
            "obfuscation": "Xq3" * (len(content or "") + 1),
        }
    )


def _completion(content: str) -> bytes:
    return orjson.dumps(
        {
            "id": "chatcmpl-2",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
            "usage": USAGE,
        }
    )


PAYLOADS = [_chunk(""), _chunk("Hel"), _chunk("lo"), _chunk(None, usage=USAGE)]
EVENTS = [b"data: " + payload + b"\n\n" for payload in PAYLOADS] + [b"data: [DONE]\n\n"]


def _streams(pieces: Sequence[bytes], acks: asyncio.Queue[None] | None = None, end: str = "eof") -> Responder:
    """A responder writing ``pieces``; with ``acks`` it waits for the client's ack after each one
    but the last. ``end``: ``eof`` (a clean end), ``cut`` (the connection closed with the body
    unfinished), ``hang`` (silence until the gateway closes the connection)."""

    async def respond(request: web.Request, received: Received) -> web.StreamResponse:
        response = web.StreamResponse(headers=SSE_HEADERS)
        await response.prepare(request)
        for index, piece in enumerate(pieces):
            await response.write(piece)
            if acks is not None and (index < len(pieces) - 1 or end != "eof"):
                await acks.get()
        if end == "cut":
            assert request.transport is not None
            request.transport.close()  # sends what was written, then FIN: no terminating chunk
        elif end == "hang":
            await _until_closed(request)
            received.disconnected.set()
        else:
            await response.write_eof()
        return response

    return respond


async def _until_closed(request: web.Request) -> None:
    """Wait, silently, until the gateway closes this connection."""
    # aiohttp offers no event for this, and this server does not cancel its handlers.
    while request.transport is not None and not request.transport.is_closing():  # noqa: ASYNC110
        await asyncio.sleep(0.01)


def _chat(stream: bool = True) -> dict[str, object]:
    body: dict[str, object] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    return body


def _in_band_error(body: bytes) -> dict[str, str]:
    """The error in the stream's last event (one ``data:`` line per event, as OpenAI sends)."""
    last = orjson.loads(body.split(b"\n\n")[-2].removeprefix(b"data: "))
    assert set(last) == {"error"}, last
    return last["error"]  # type: ignore[no-any-return]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def post(http: aiohttp.ClientSession, gateway_url: str, provider_headers: dict[str, str]) -> Post:
    """POST a chat request with aiohttp, to the default gateway or to ``server``."""

    def send(body: object = None, *, server: TestServer | None = None, headers: Any = None) -> Any:
        base = f"http://127.0.0.1:{server.port}" if server is not None else gateway_url
        return http.post(base + CHAT, json=body or _chat(), headers=provider_headers | (headers or {}))

    return send


async def test_stream_reaches_the_client_byte_for_byte(post: Post, fake: FakeProvider) -> None:
    fake.on("POST", CHAT, _streams([EVENTS[0], b"".join(EVENTS[1:3]), *EVENTS[3:]]))
    async with post() as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == SSE_HEADERS["Content-Type"]
        assert await response.read() == b"".join(EVENTS)


async def test_sdk_stream_yields_the_providers_chunks(client: AsyncOpenAI, fake: FakeProvider) -> None:
    fake.on("POST", CHAT, _streams(EVENTS))
    stream = await client.chat.completions.create(**_chat())  # type: ignore[call-overload]
    chunks = [chunk async for chunk in stream]
    assert [chunk.to_dict() for chunk in chunks] == [orjson.loads(payload) for payload in PAYLOADS]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 7


async def test_stream_is_relayed_in_lock_step_without_buffering(post: Post, fake: FakeProvider) -> None:
    acks: asyncio.Queue[None] = asyncio.Queue()
    fake.on("POST", CHAT, _streams(EVENTS, acks))

    async def lock_step() -> None:
        async with post() as response:
            for event in EVENTS:
                assert await response.content.readexactly(len(event)) == event
                acks.put_nowait(None)
            assert await response.content.read() == b""

    await asyncio.wait_for(lock_step(), HANG)


async def test_sdk_stream_is_relayed_in_lock_step_without_buffering(
    client: AsyncOpenAI, fake: FakeProvider
) -> None:
    acks: asyncio.Queue[None] = asyncio.Queue()
    fake.on("POST", CHAT, _streams(EVENTS, acks))

    async def lock_step() -> list[bytes]:
        stream = await client.chat.completions.create(**_chat())  # type: ignore[call-overload]
        seen = []
        async for chunk in stream:
            seen.append(orjson.dumps(chunk.to_dict()))
            acks.put_nowait(None)
        return seen

    seen = await asyncio.wait_for(lock_step(), HANG)
    assert [orjson.loads(chunk) for chunk in seen] == [orjson.loads(payload) for payload in PAYLOADS]


async def test_paced_pieces_arrive_neither_coalesced_nor_split(post: Post, fake: FakeProvider) -> None:
    # Pieces that cut events anywhere: the gateway must not wait for event boundaries either.
    whole = b"".join(EVENTS)
    cut = whole.index(b"\n")
    pieces = [whole[:7], whole[7:cut], b"\n", whole[cut + 1 : 300], whole[300:301], whole[301:]]
    assert b"".join(pieces) == whole
    acks: asyncio.Queue[None] = asyncio.Queue()
    fake.on("POST", CHAT, _streams(pieces, acks))

    async def lock_step() -> None:
        async with post() as response:
            for piece in pieces:
                assert await response.content.readany() == piece
                acks.put_nowait(None)
            assert await response.content.read() == b""

    await asyncio.wait_for(lock_step(), HANG)


async def _access_line(caplog: Caplog, server: TestServer) -> str:
    """The access-log line of the one finished request (its record is queued off the hot path)."""

    async def written() -> str:
        while True:
            await server.app[RECORDER].flush()
            lines = [r.getMessage() for r in caplog.records if r.name == "gateway.access"]
            if lines:
                return lines[-1]
            await asyncio.sleep(0.01)

    return await asyncio.wait_for(written(), HANG)


# How the stream's end (usage chunk, then [DONE]) arrives at the gateway: in one read or several.
_IN_USAGE_KEY = EVENTS[3].index(b'"usage"') + 3
ENDINGS = {
    "together": [b"".join(EVENTS[:3]), EVENTS[3] + EVENTS[4]],
    "apart": EVENTS,
    "usage_split": [*EVENTS[:3], EVENTS[3][:_IN_USAGE_KEY], EVENTS[3][_IN_USAGE_KEY:], EVENTS[4]],
    "done_split": [*EVENTS[:4], EVENTS[4][:-2], EVENTS[4][-2:]],
}


@pytest.mark.parametrize("pieces", ENDINGS.values(), ids=ENDINGS.keys())
async def test_access_log_counts_tokens_from_the_final_usage_chunk(
    pieces: list[bytes], make_gateway: GatewayFactory, fake: FakeProvider, post: Post, caplog: Caplog
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.access")
    server = await make_gateway(settings_with(server={"access_log": True}))
    acks: asyncio.Queue[None] = asyncio.Queue()
    fake.on("POST", CHAT, _streams(pieces, acks))
    async with post(server=server) as response:
        for piece in pieces:  # lock-step, so each piece is a read of its own in the gateway
            await asyncio.wait_for(response.content.readexactly(len(piece)), HANG)
            acks.put_nowait(None)
    line = await _access_line(caplog, server)
    assert "POST /v1/chat/completions 200 provider=openai outcome=ok" in line
    assert "prompt_tokens=11 completion_tokens=7" in line


async def test_access_log_counts_tokens_of_a_json_response(
    make_gateway: GatewayFactory, fake: FakeProvider, provider_headers: dict[str, str], caplog: Caplog
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.access")
    server = await make_gateway(settings_with(server={"access_log": True}))
    fake.on("POST", CHAT, lambda request, received: _json(_completion("hi")))
    base_url = f"http://127.0.0.1:{server.port}/v1"
    async with AsyncOpenAI(base_url=base_url, api_key="sk-test", default_headers=provider_headers) as sdk:
        result = await sdk.chat.completions.create(**_chat(stream=False))  # type: ignore[call-overload]
    assert result.usage.prompt_tokens == 11
    assert "prompt_tokens=11 completion_tokens=7" in await _access_line(caplog, server)


async def _json(body: bytes) -> web.Response:
    return web.Response(body=body, content_type="application/json")


@pytest.mark.parametrize(
    "pieces",
    [EVENTS[:2], [EVENTS[0], EVENTS[1][:25]], [EVENTS[0], EVENTS[1][:-1]]],
    ids=["between_events", "mid_line", "before_the_blank_line"],
)
async def test_upstream_cut_mid_stream_ends_with_an_in_band_error(
    pieces: list[bytes], post: Post, fake: FakeProvider
) -> None:
    acks: asyncio.Queue[None] = asyncio.Queue()
    fake.on("POST", CHAT, _streams(pieces, acks, end="cut"))
    async with post() as response:
        assert response.status == 200
        for piece in pieces:
            assert await asyncio.wait_for(response.content.readexactly(len(piece)), HANG) == piece
            acks.put_nowait(None)
        body = b"".join(pieces) + await asyncio.wait_for(response.content.read(), HANG)
    assert body.startswith(b"".join(pieces))
    assert b"[DONE]" not in body
    assert body.endswith(b"\n\n")
    error = _in_band_error(body)  # parsed as an event of its own, whatever the cut left behind
    assert "openai" in error["message"]
    assert error["code"] == "upstream_error"


async def test_sdk_raises_when_the_upstream_cuts_the_stream(client: AsyncOpenAI, fake: FakeProvider) -> None:
    acks: asyncio.Queue[None] = asyncio.Queue()
    fake.on("POST", CHAT, _streams(EVENTS[:3], acks, end="cut"))
    stream = await client.chat.completions.create(**_chat())  # type: ignore[call-overload]
    contents = []

    async def consume() -> None:
        async for chunk in stream:
            contents.append(chunk.choices[0].delta.content)
            acks.put_nowait(None)

    with pytest.raises(APIError, match="openai") as raised:
        await asyncio.wait_for(consume(), HANG)
    assert contents == ["", "Hel", "lo"]
    assert isinstance(raised.value.body, dict)
    assert raised.value.body["code"] == "upstream_error"


@pytest.mark.parametrize(
    ("settings", "headers", "code"),
    [
        ({"upstream": {"idle_timeout": 0.3}}, {}, "upstream_idle_timeout"),
        ({}, {"x-portkey-request-timeout": "300"}, "request_timeout"),
    ],
    ids=["idle_gap", "caller_deadline"],
)
async def test_timeout_mid_stream_ends_with_an_in_band_error(
    settings: dict[str, dict[str, object]],
    headers: dict[str, str],
    code: str,
    make_gateway: GatewayFactory,
    fake: FakeProvider,
    post: Post,
) -> None:
    server = await make_gateway(settings_with(**settings))
    fake.on("POST", CHAT, _streams(EVENTS[:2], end="hang"))
    async with post(server=server, headers=headers) as response:
        assert response.status == 200
        body = await asyncio.wait_for(response.read(), HANG)
    assert body.startswith(b"".join(EVENTS[:2]))
    assert b"[DONE]" not in body
    error = _in_band_error(body)
    assert error["code"] == code
    assert error["type"] == "timeout_error"
    await asyncio.wait_for(fake.last.disconnected.wait(), HANG)  # and the upstream was let go


@pytest.mark.parametrize("length", [SMALL_BODY * 2, None], ids=["large_content_length", "chunked"])
async def test_cut_json_response_is_broken_for_the_client(
    length: int | None, post: Post, fake: FakeProvider, client: AsyncOpenAI
) -> None:
    acks: asyncio.Queue[None] = asyncio.Queue()
    start = b'{"id": "chatcmpl-3", "object": "chat.completion", "choices": ['

    async def cut_short(request: web.Request, received: Received) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = length
        await response.prepare(request)
        await response.write(start)
        await acks.get()
        assert request.transport is not None
        request.transport.close()
        return response

    fake.on("POST", CHAT, cut_short)
    async with post(_chat(stream=False)) as response:
        assert response.status == 200
        assert response.content_length == length
        assert await asyncio.wait_for(response.content.readexactly(len(start)), HANG) == start
        acks.put_nowait(None)
        with pytest.raises(aiohttp.ClientPayloadError):
            await asyncio.wait_for(response.content.read(), HANG)

    acks.put_nowait(None)  # the SDK reads the whole body before returning: no lock-step
    with pytest.raises(APIError):
        await asyncio.wait_for(client.chat.completions.create(**_chat(stream=False)), HANG)  # type: ignore[call-overload]


async def test_cut_small_json_response_is_a_502_naming_the_provider(
    post: Post, fake: FakeProvider, client: AsyncOpenAI
) -> None:
    # A small body of known length is read whole before the status goes out, so a cut one can
    # still be answered with an error status instead of a broken 200.
    async def cut_short(request: web.Request, received: Received) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = 4096
        await response.prepare(request)
        await response.write(b'{"id": "chatcmpl-4", "object": "chat.completion", "choices": [')
        assert request.transport is not None
        request.transport.close()
        return response

    fake.on("POST", CHAT, cut_short)
    async with post(_chat(stream=False)) as response:
        assert response.status == 502
        error = (await response.json())["error"]
    assert error["code"] == "upstream_error"
    assert "openai" in error["message"]
    with pytest.raises(InternalServerError):
        await asyncio.wait_for(client.chat.completions.create(**_chat(stream=False)), HANG)  # type: ignore[call-overload]


async def test_client_disconnect_cancels_upstream(post: Post, fake: FakeProvider) -> None:
    # The fake stays silent after the first event: only the gateway giving up its upstream
    # request (not a failed write) can close the fake's connection.
    fake.on("POST", CHAT, _streams(EVENTS[:1], end="hang"))
    response = await post()
    assert await asyncio.wait_for(response.content.readexactly(len(EVENTS[0])), HANG) == EVENTS[0]
    response.close()
    await asyncio.wait_for(fake.last.disconnected.wait(), 5)


async def test_sdk_closing_its_stream_cancels_upstream(client: AsyncOpenAI, fake: FakeProvider) -> None:
    fake.on("POST", CHAT, _streams(EVENTS[:1], end="hang"))
    stream = await client.chat.completions.create(**_chat())  # type: ignore[call-overload]
    first = await asyncio.wait_for(anext(aiter(stream)), HANG)
    assert first.choices[0].delta.content == ""
    await stream.close()
    await asyncio.wait_for(fake.last.disconnected.wait(), 5)


COMPLETION = _completion("zip")
GZIPPED = gzip.compress(COMPLETION, mtime=0)


async def _gzip_when_asked(request: web.Request, received: Received) -> web.Response:
    if "gzip" not in request.headers.get("Accept-Encoding", ""):
        return web.Response(body=COMPLETION, content_type="application/json")
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    return web.Response(body=GZIPPED, headers=headers)


async def test_gzip_response_is_relayed_compressed_and_untouched(
    fake: FakeProvider, gateway_url: str, provider_headers: dict[str, str], client: AsyncOpenAI
) -> None:
    fake.on("POST", CHAT, _gzip_when_asked)
    raw = aiohttp.ClientSession(auto_decompress=False)
    headers = provider_headers | {"Accept-Encoding": "gzip"}
    async with raw, raw.post(gateway_url + CHAT, json=_chat(stream=False), headers=headers) as response:
        assert response.headers["Content-Encoding"] == "gzip"
        assert await response.read() == GZIPPED
    assert fake.last.headers["Accept-Encoding"] == "gzip"

    completion = await client.chat.completions.create(**_chat(stream=False))  # type: ignore[call-overload]
    assert "gzip" in fake.last.headers["Accept-Encoding"]
    assert completion.choices[0].message.content == "zip"


async def test_client_without_accept_encoding_gets_no_compression(
    fake: FakeProvider, gateway_url: str, provider_headers: dict[str, str]
) -> None:
    fake.on("POST", CHAT, _gzip_when_asked)
    bare = aiohttp.ClientSession(skip_auto_headers=("Accept-Encoding",), auto_decompress=False)
    async with bare, bare.post(gateway_url + CHAT, json=_chat(stream=False), headers=provider_headers) as got:
        assert "Content-Encoding" not in got.headers
        assert await got.read() == COMPLETION
    # No compression asked for: said explicitly, so the HTTP client adds no default of its own.
    assert fake.last.headers.get("Accept-Encoding", "identity") == "identity"
