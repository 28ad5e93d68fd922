"""The lean upstream client (``[upstream] lean_http``, on by default) through the real wire.

Every upstream POST of a bytes body goes through it, whichever the provider; the upstreams here are
a raw HTTP/1.1 server that writes exactly the bytes a test scripts (``raw_http.py``) and the fake
provider (an aiohttp server). Failures are compared with a gateway on aiohttp's client: the lean
path must answer the same errors.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI

from gateway.appkeys import LEAN
from gateway.config.settings import Settings
from tests.conftest import GatewayFactory, settings_with
from tests.fake_provider import FakeProvider, Received
from tests.functional.gateway_process import eventually
from tests.functional.raw_http import RawRequest, RawUpstream, Script, chunked, sized
from tests.functional.tls_cert import self_signed

CHAT = "/v1/chat/completions"
HANG = 10.0  # wide upper bound: only a hang ever reaches it
BODY: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
COMPLETION = orjson.dumps(
    {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Hello"}, "finish_reason": "stop"}
        ],
    }
)
EVENTS = [
    b'data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"He"}}]}\n\n',
    b'data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"y"}}]}\n\n',
    b'data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},'
    b'"finish_reason":"stop"}]}\n\n',
    b"data: [DONE]\n\n",
]


def lean(**upstream: Any) -> Settings:
    return settings_with(upstream={"lean_http": True, **upstream})


def on_aiohttp(**upstream: Any) -> Settings:
    """A gateway whose upstream requests all go through aiohttp's client (the comparison)."""
    return settings_with(upstream={"lean_http": False, **upstream})


@pytest.fixture
async def lean_gateway(make_gateway: GatewayFactory) -> TestServer:
    return await make_gateway(lean())


async def post(
    server: TestServer, custom_host: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    """POST a chat request through ``server`` to ``custom_host``: the status and the whole body."""
    sent = {
        "x-portkey-provider": "openai",
        "x-portkey-custom-host": custom_host,
        "Authorization": "Bearer sk-t",
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"http://127.0.0.1:{server.port}{CHAT}",
            data=orjson.dumps(body or BODY),
            headers=sent | {"Content-Type": "application/json"} | (headers or {}),
        ) as response,
    ):
        return response.status, await asyncio.wait_for(response.read(), HANG)


def until_closed(answer: bytes) -> Script:
    """Writes ``answer``, then waits, silent, until the gateway closes the connection."""

    async def write(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        writer.write(answer)
        await writer.drain()
        await asyncio.wait_for(reader.read(), HANG)
        return False

    return write


def closes_after(answer: bytes) -> Script:
    """Writes ``answer`` (maybe nothing), then closes the connection."""

    async def write(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        writer.write(answer)
        await writer.drain()
        return False

    return write


async def test_the_lean_client_is_on_by_default_unless_turned_off(make_gateway: GatewayFactory) -> None:
    assert LEAN in (await make_gateway()).app
    assert LEAN not in (await make_gateway(on_aiohttp())).app


async def test_json_answer_reaches_the_sdk_and_the_request_goes_out_as_sent(
    lean_gateway: TestServer, raw: RawUpstream
) -> None:
    raw.scripts.append(sized(COMPLETION))
    async with AsyncOpenAI(
        base_url=f"http://127.0.0.1:{lean_gateway.port}/v1",
        api_key="sk-secret",
        default_headers={"x-portkey-provider": "openai", "x-portkey-custom-host": raw.base_url},
        max_retries=0,
    ) as client:
        completion = await client.chat.completions.create(**BODY)
    assert completion.choices[0].message.content == "Hello"
    request = raw.requests[0]
    assert request.head.startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    assert request.header("Host") == f"127.0.0.1:{raw.port}"
    assert request.header("Authorization") == "Bearer sk-secret"
    assert request.header("Content-Type") == "application/json"
    assert request.header("Content-Length") == str(len(request.body))
    assert request.header("Accept-Encoding") is not None
    assert orjson.loads(request.body) == BODY


#: One request per kind of adapter: an OpenAI-format row, an OpenAICompatible subclass, and
#: providers whose request and answer are translated (their own paths, headers and auth forms).
PROVIDERS = {
    "openai": {"x-portkey-provider": "openai", "Authorization": "Bearer sk-t"},
    "mistral-ai": {"x-portkey-provider": "mistral-ai", "Authorization": "Bearer sk-t"},
    "anthropic": {"x-portkey-provider": "anthropic", "Authorization": "Bearer sk-ant"},
    "cohere": {"x-portkey-provider": "cohere", "Authorization": "Bearer co-key"},
    "google": {"x-portkey-provider": "google", "Authorization": "Bearer g-key"},
}


def sent_on_the_wire(request: RawRequest) -> tuple[bytes, list[tuple[str, str]], bytes]:
    """The request line, the headers (lower-cased names, in a stable order) and the body."""
    line, *fields = request.head.rstrip(b"\r\n").split(b"\r\n")
    headers = []
    for field_line in fields:
        name, _, value = field_line.decode("utf-8").partition(":")
        headers.append((name.lower(), value.strip()))
    return line, sorted(headers), request.body


@pytest.mark.parametrize("provider", list(PROVIDERS))
async def test_each_kind_of_provider_request_goes_out_as_aiohttps_client_sends_it(
    provider: str, make_gateway: GatewayFactory, raw: RawUpstream
) -> None:
    """The same request line, headers (those aiohttp adds included; a header value outside ASCII
    in UTF-8, as aiohttp writes it) and body, and the same answer back (an error: a translated
    success would carry a fresh id each time)."""
    refusal = sized(
        b'{"message":"no","error":{"message":"no","type":"invalid_request_error"}}', "400 Bad Request"
    )
    raw.scripts.extend([refusal, refusal])
    headers = PROVIDERS[provider] | {
        "x-portkey-custom-host": raw.base_url,
        "OpenAI-Organization": "Café",
        "Content-Type": "application/json",
    }
    answers = []
    for settings in (lean(), on_aiohttp()):
        server = await make_gateway(settings)
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"http://127.0.0.1:{server.port}{CHAT}", data=orjson.dumps(BODY), headers=headers
            ) as got,
        ):
            answers.append((got.status, await got.read()))
    assert answers[0] == answers[1]
    through_lean, through_aiohttp = (sent_on_the_wire(request) for request in raw.requests)
    assert through_lean == through_aiohttp
    assert ("host", f"127.0.0.1:{raw.port}") in through_lean[1]
    assert ("openai-organization", "Café") in through_lean[1]


async def test_chunked_answer_larger_than_a_small_body_arrives_whole(
    lean_gateway: TestServer, raw: RawUpstream
) -> None:
    pieces = [b'{"data":"', b"x" * 50_000, b"y" * 50_000, b'"}']
    raw.scripts.append(chunked(pieces))
    assert await post(lean_gateway, raw.base_url) == (200, b"".join(pieces))


async def test_answer_ended_by_closing_arrives_whole_and_its_connection_is_not_reused(
    lean_gateway: TestServer, raw: RawUpstream
) -> None:
    raw.scripts.append(
        closes_after(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" + COMPLETION)
    )
    assert await post(lean_gateway, raw.base_url) == (200, COMPLETION)
    assert await post(lean_gateway, raw.base_url) == (200, b'{"ok":true}')
    assert [request.connection for request in raw.requests] == [1, 2]


async def test_interim_answers_are_skipped_for_the_final_one(
    lean_gateway: TestServer, raw: RawUpstream
) -> None:
    early = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n"
    final = sized(COMPLETION)

    async def write(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        writer.write(early)
        return await final(reader, writer)

    raw.scripts += [write, sized(COMPLETION)]
    assert await post(lean_gateway, raw.base_url) == (200, COMPLETION)
    assert await post(lean_gateway, raw.base_url) == (200, COMPLETION)
    assert [request.connection for request in raw.requests] == [1, 1]


async def test_keep_alive_sends_every_request_on_one_connection(
    lean_gateway: TestServer, raw: RawUpstream
) -> None:
    raw.scripts += [sized(COMPLETION), chunked([COMPLETION]), sized(COMPLETION)]
    for _ in range(3):
        assert await post(lean_gateway, raw.base_url) == (200, COMPLETION)
    assert [request.connection for request in raw.requests] == [1, 1, 1]


async def test_connection_of_a_stream_the_client_left_is_never_reused(
    lean_gateway: TestServer, raw: RawUpstream
) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    raw.scripts.append(until_closed(head + b"%x\r\n" % len(EVENTS[0]) + EVENTS[0] + b"\r\n"))
    sent = {
        "x-portkey-provider": "openai",
        "x-portkey-custom-host": raw.base_url,
        "Authorization": "Bearer t",
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"http://127.0.0.1:{lean_gateway.port}{CHAT}", json=BODY | {"stream": True}, headers=sent
        ) as r,
    ):
        assert await asyncio.wait_for(r.content.readexactly(len(EVENTS[0])), HANG) == EVENTS[0]
    # The client left mid-stream: the gateway drops that upstream connection, the next request
    # gets a fresh one.
    assert await post(lean_gateway, raw.base_url) == (200, b'{"ok":true}')
    assert [request.connection for request in raw.requests] == [1, 2]


async def test_stream_is_relayed_chunk_by_chunk_in_lock_step(
    lean_gateway: TestServer, fake: FakeProvider
) -> None:
    """The fake writes event k+1 only once the client has read event k: any buffering hangs."""
    acks: asyncio.Queue[None] = asyncio.Queue()

    async def respond(request: web.Request, received: Received) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for index, event in enumerate(EVENTS):
            await response.write(event)
            if index < len(EVENTS) - 1:
                await acks.get()
        await response.write_eof()
        return response

    fake.on("POST", CHAT, respond)
    sent = {
        "x-portkey-provider": "openai",
        "x-portkey-custom-host": fake.base_url,
        "Authorization": "Bearer t",
    }

    async def lock_step() -> None:
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"http://127.0.0.1:{lean_gateway.port}{CHAT}", json=BODY | {"stream": True}, headers=sent
            ) as response,
        ):
            assert response.headers["Content-Type"] == "text/event-stream"
            for event in EVENTS:
                assert await response.content.readexactly(len(event)) == event
                acks.put_nowait(None)
            assert await response.content.read() == b""

    await asyncio.wait_for(lock_step(), HANG)


async def test_big_bodies_go_out_and_come_back_byte_for_byte(
    lean_gateway: TestServer, fake: FakeProvider
) -> None:
    answer = b'{"data":"' + b"z" * (6 * 1024 * 1024) + b'"}'

    async def respond(request: web.Request, received: Received) -> web.StreamResponse:
        return web.Response(body=answer, content_type="application/json")

    fake.on("POST", CHAT, respond)
    body = BODY | {"messages": [{"role": "user", "content": "w" * (5 * 1024 * 1024)}]}
    status, relayed = await post(lean_gateway, fake.base_url, body)
    assert (status, len(relayed), relayed == answer) == (200, len(answer), True)
    sent = orjson.dumps(body)
    assert (fake.last.size, fake.last.sha256) == (len(sent), hashlib.sha256(sent).hexdigest())


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


STREAM_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
FIRST_EVENT = b"%x\r\n" % len(EVENTS[0]) + EVENTS[0] + b"\r\n"


def resets_after(answer: bytes) -> Script:
    """Writes ``answer``, then resets the connection (RST, not FIN)."""

    async def write(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        writer.write(answer)
        await writer.drain()
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
        return False

    return write


@dataclass(frozen=True)
class Failure:
    script: Script | None  # None: nothing listens
    upstream: dict[str, float] = field(default_factory=lambda: {"idle_timeout": 0.3})
    headers: dict[str, str] = field(default_factory=dict)
    stream: bool = False


FAILURES = {
    "closed_before_answering": Failure(closes_after(b"")),
    "reset_before_answering": Failure(resets_after(b"")),
    "content_length_body_cut": Failure(closes_after(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"cut')),
    "malformed_status_line": Failure(closes_after(b"HTTP/1.1 abc\r\n\r\n")),
    "chunked_body_cut_mid_stream": Failure(closes_after(STREAM_HEAD + FIRST_EVENT), stream=True),
    "reset_mid_stream": Failure(resets_after(STREAM_HEAD + FIRST_EVENT), stream=True),
    "malformed_chunk_mid_stream": Failure(closes_after(STREAM_HEAD + FIRST_EVENT + b"zz\r\n"), stream=True),
    "silent_past_the_idle_timeout": Failure(until_closed(b"")),
    "silent_mid_stream_past_the_idle_timeout": Failure(until_closed(STREAM_HEAD + FIRST_EVENT), stream=True),
    "silent_past_the_headers_timeout": Failure(until_closed(b""), {"headers_timeout": 0.3}),
    "silent_past_the_callers_request_timeout": Failure(
        until_closed(b""), {}, {"x-portkey-request-timeout": "300"}
    ),
    "connection_refused": Failure(None),
}


@pytest.mark.parametrize("name", list(FAILURES))
async def test_upstream_failures_answer_what_aiohttps_client_answers(
    name: str, make_gateway: GatewayFactory, raw: RawUpstream
) -> None:
    failure = FAILURES[name]
    custom_host = raw.base_url if failure.script is not None else f"http://127.0.0.1:{_closed_port()}/v1"
    body = BODY | ({"stream": True} if failure.stream else {})
    answers = []
    for settings in (lean(**failure.upstream), on_aiohttp(**failure.upstream)):
        if failure.script is not None:
            raw.scripts.append(failure.script)
        answers.append(await post(await make_gateway(settings), custom_host, body, failure.headers))
    lean_answer, aiohttp_answer = answers
    assert lean_answer == aiohttp_answer
    status, answer = lean_answer
    assert status >= 400 or b'"error"' in answer
    assert b"openai" in answer  # the error names the provider


async def test_address_the_ssrf_guard_refuses_at_connect_time_is_the_same_400(
    make_gateway: GatewayFactory,
) -> None:
    """ollama's catalog host is localhost: the name passes, its loopback address does not."""
    answers = []
    for upstream in ({"lean_http": True}, {"lean_http": False}):
        server = await make_gateway(settings_with(server={"host": "0.0.0.0"}, upstream=upstream))
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"http://127.0.0.1:{server.port}{CHAT}",
                json=BODY,
                headers={"x-portkey-provider": "ollama", "Authorization": "Bearer x"},
            ) as response,
        ):
            answers.append((response.status, await response.json()))
    assert answers[0] == answers[1]
    status, body = answers[0]
    assert (status, body["error"]["code"]) == (400, "custom_host_not_allowed")
    assert "localhost resolves to" in body["error"]["message"]


@pytest.fixture
async def tls_fake(tmp_path: Path) -> AsyncIterator[tuple[FakeProvider, Path]]:
    """The fake provider over https, with a self-signed certificate; and that certificate."""
    cert, key = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    fake = FakeProvider()
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server(ssl=context)
    fake.port = server.port or 0
    yield fake, cert
    await server.close()


async def test_https_upstream_whose_certificate_is_trusted_answers(
    tls_fake: tuple[FakeProvider, Path], make_gateway: GatewayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, cert = tls_fake
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # read when the lean client makes its context
    server = await make_gateway(lean())
    status, body = await post(server, f"https://127.0.0.1:{fake.port}/v1")
    assert (status, orjson.loads(body)["path"]) == (200, CHAT)
    assert fake.last.headers["Authorization"] == "Bearer sk-t"


async def test_https_upstream_whose_certificate_is_not_trusted_is_refused_as_aiohttp_does(
    tls_fake: tuple[FakeProvider, Path], make_gateway: GatewayFactory
) -> None:
    fake, _ = tls_fake
    answers = [
        await post(await make_gateway(settings), f"https://127.0.0.1:{fake.port}/v1")
        for settings in (lean(), on_aiohttp())
    ]
    assert answers[0] == answers[1]
    status, body = answers[0]
    assert status == 502
    assert b"CERTIFICATE_VERIFY_FAILED" in body
    assert fake.received == []


def held_until(release: asyncio.Event) -> Script:
    """Answers :data:`COMPLETION` once ``release`` is set (the connection kept alive)."""

    async def write(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        await asyncio.wait_for(release.wait(), HANG)
        return await sized(COMPLETION)(reader, writer)

    return write


#: Each per-host cap test runs on both clients: the lean one must queue as aiohttp's connector does.
CLIENTS = {"lean": lean, "aiohttp": on_aiohttp}


async def _one_request_held(
    starting: Awaitable[TestServer], raw: RawUpstream
) -> tuple[TestServer, asyncio.Event, asyncio.Task[tuple[int, bytes]]]:
    """A gateway with one request in flight at ``raw``, held there until the event is set."""
    server = await starting
    release = asyncio.Event()
    raw.scripts.append(held_until(release))
    first = asyncio.create_task(post(server, raw.base_url))
    await eventually(lambda: raw.requests, HANG, "the first request upstream")
    return server, release, first


@pytest.mark.parametrize("client", list(CLIENTS))
async def test_requests_past_the_per_host_cap_wait_for_one_to_end_then_reuse_its_connection(
    client: str, make_gateway: GatewayFactory, raw: RawUpstream
) -> None:
    server, release, first = await _one_request_held(make_gateway(CLIENTS[client](limit_per_host=1)), raw)
    queued = [asyncio.create_task(post(server, raw.base_url)) for _ in range(2)]
    await asyncio.sleep(0.2)
    assert len(raw.requests) == 1  # the others wait in the gateway, not at the provider
    release.set()
    assert await first == (200, COMPLETION)
    assert await asyncio.gather(*queued) == [(200, b'{"ok":true}')] * 2
    assert [request.connection for request in raw.requests] == [1, 1, 1]


@pytest.mark.parametrize("client", list(CLIENTS))
async def test_a_caller_leaving_the_per_host_queue_gives_its_turn_to_the_next(
    client: str, make_gateway: GatewayFactory, raw: RawUpstream
) -> None:
    server, release, first = await _one_request_held(make_gateway(CLIENTS[client](limit_per_host=1)), raw)
    leaving = asyncio.create_task(post(server, raw.base_url))
    await asyncio.sleep(0.1)
    leaving.cancel()  # the caller hangs up while queued: the gateway cancels its request
    staying = asyncio.create_task(post(server, raw.base_url))
    await asyncio.sleep(0.1)
    release.set()
    assert await first == (200, COMPLETION)
    assert await staying == (200, b'{"ok":true}')
    assert len(raw.requests) == 2  # the one that left never reached the provider


async def test_a_wait_for_a_place_past_the_connect_timeout_answers_what_aiohttp_answers(
    make_gateway: GatewayFactory, raw: RawUpstream
) -> None:
    answers = []
    for settings in CLIENTS.values():
        server, release, first = await _one_request_held(
            make_gateway(settings(limit_per_host=1, connect_timeout=0.3)), raw
        )
        answers.append(await post(server, raw.base_url))
        release.set()
        assert await first == (200, COMPLETION)
        raw.requests.clear()
    lean_answer, aiohttp_answer = answers
    assert lean_answer == aiohttp_answer
    assert lean_answer[0] >= 500
    assert b"openai" in lean_answer[1]
