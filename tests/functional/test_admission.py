"""Admission control through the wire: requests in flight, body bytes, loop lag, slow clients,
the connection cap. Fake providers hold requests in flight on an ``asyncio.Event``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.appkeys import ADMISSION
from gateway.observability.admission import AdmissionCounters
from tests.conftest import GatewayFactory, settings_with
from tests.fake_provider import FakeProvider, Received

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def gate(fake: FakeProvider) -> asyncio.Event:
    """The fake answers chat requests only once this is set."""
    release = asyncio.Event()

    async def held(request: web.Request, received: Received) -> web.StreamResponse:
        await release.wait()
        return web.json_response({"object": "chat.completion", "choices": []})

    fake.on("POST", "/v1/chat/completions", held)
    return release


@pytest.fixture
async def session(fake: FakeProvider) -> AsyncIterator[aiohttp.ClientSession]:
    headers = {
        "x-portkey-provider": "openai",
        "x-portkey-custom-host": fake.base_url,
        "Authorization": "Bearer k",
    }
    async with aiohttp.ClientSession(headers=headers) as client:
        yield client


def counters(gateway: TestServer) -> AdmissionCounters:
    return gateway.app[ADMISSION].counters


async def wait_for(condition: object, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def hold(
    session: aiohttp.ClientSession, url: str, fake: FakeProvider, count: int
) -> list[asyncio.Task[int]]:
    """``count`` chat requests in flight (each reached the fake, which holds them)."""

    async def one() -> int:
        async with session.post(url, json=CHAT) as response:
            await response.read()
            return response.status

    before = len(fake.received)
    tasks = [asyncio.create_task(one()) for _ in range(count)]
    await wait_for(lambda: len(fake.received) >= before + count)
    return tasks


def assert_overloaded(status: int, headers: object, body: bytes) -> None:
    assert status == 503
    assert headers["Retry-After"] == "1"  # type: ignore[index]
    error = orjson.loads(body)["error"]
    assert error["code"] == "overloaded"
    assert error["type"] == "api_error"
    assert set(error) == {"message", "type", "param", "code"}


async def test_past_max_in_flight_the_next_request_is_a_fast_503_while_admitted_ones_complete(
    make_gateway: GatewayFactory, fake: FakeProvider, gate: asyncio.Event, session: aiohttp.ClientSession
) -> None:
    gateway = await make_gateway(settings_with(limits={"max_in_flight": 2}))
    url = f"http://127.0.0.1:{gateway.port}/v1/chat/completions"
    admitted = await hold(session, url, fake, 2)

    async with session.post(url, json=CHAT, headers={"x-portkey-trace-id": "trace-shed-1"}) as response:
        body = await response.read()
        assert_overloaded(response.status, response.headers, body)
        assert response.headers["x-portkey-trace-id"] == "trace-shed-1"
    assert len(fake.received) == 2  # the shed request never reached the provider

    gate.set()
    assert await asyncio.gather(*admitted) == [200, 200]
    assert counters(gateway).shed_in_flight == 1
    assert counters(gateway).shed_early == 1
    async with session.post(url, json=CHAT) as response:
        assert response.status == 200


async def test_a_shed_answer_keeps_the_connection_open_for_the_next_request(
    make_gateway: GatewayFactory, fake: FakeProvider, gate: asyncio.Event, session: aiohttp.ClientSession
) -> None:
    gateway = await make_gateway(settings_with(limits={"max_in_flight": 1}))
    admitted = await hold(session, f"http://127.0.0.1:{gateway.port}/v1/chat/completions", fake, 1)
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    body = orjson.dumps(CHAT)
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
        b"x-portkey-provider: openai\r\nx-portkey-custom-host: %s\r\nContent-Length: %d\r\n\r\n%s"
        % (fake.base_url.encode(), len(body), body)
    )
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503 ")
    assert b"x-portkey-trace-id: " in head
    length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    assert orjson.loads(await reader.readexactly(length))["error"]["code"] == "overloaded"

    gate.set()
    await asyncio.gather(*admitted)
    writer.write(request)  # the same connection, now admitted
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    writer.close()


async def read_answer(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    return head, await reader.readexactly(length)


def shed_request(number: int, extra: bytes = b"") -> bytes:
    body = orjson.dumps(CHAT)
    return (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
        b"X-Portkey-Trace-Id: trace-%d\r\n%sContent-Length: %d\r\n\r\n%s" % (number, extra, len(body), body)
    )


@pytest.mark.parametrize(
    "chunks",
    [
        pytest.param(lambda a, b: [a, b], id="one-write-each"),
        pytest.param(lambda a, b: [a + b], id="pipelined"),
        pytest.param(lambda a, b: [a[:40], a[40:] + b[:-5], b[-5:]], id="split-anywhere"),
        pytest.param(lambda a, b: [a[:-1], a[-1:], b], id="body-late"),
    ],
)
async def test_every_request_is_answered_once_in_order_while_shedding_however_its_bytes_arrive(
    chunks: Any, make_gateway: GatewayFactory
) -> None:
    gateway = await make_gateway(settings_with(limits={"max_in_flight": 0}))
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    for chunk in chunks(shed_request(1), shed_request(2)):
        writer.write(chunk)
        await asyncio.sleep(0.02)  # each write its own read
    for number in (1, 2):
        head, body = await read_answer(reader)
        assert head.startswith(b"HTTP/1.1 503 ")
        assert b"x-portkey-trace-id: trace-%d\r\n" % number in head
        assert orjson.loads(body)["error"]["code"] == "overloaded"
    writer.write(shed_request(3))  # still open, still in step
    assert b"trace-3" in (await read_answer(reader))[0]
    writer.close()


async def test_a_shed_request_that_asks_to_close_gets_its_answer_then_the_close(
    make_gateway: GatewayFactory,
) -> None:
    gateway = await make_gateway(settings_with(limits={"max_in_flight": 0}))
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    writer.write(shed_request(1, b"Connection: close\r\n"))
    head, _ = await read_answer(reader)
    assert head.startswith(b"HTTP/1.1 503 ")
    assert b"Connection: close" in head
    assert await reader.read() == b""
    writer.close()


async def test_health_endpoints_are_answered_while_shedding(
    make_gateway: GatewayFactory, fake: FakeProvider, gate: asyncio.Event, session: aiohttp.ClientSession
) -> None:
    gateway = await make_gateway(settings_with(limits={"max_in_flight": 1}))
    base = f"http://127.0.0.1:{gateway.port}"
    admitted = await hold(session, f"{base}/v1/chat/completions", fake, 1)
    for path in ("/healthz", "/readyz", "/"):
        async with session.get(base + path) as response:
            assert response.status == 200, path
    async with session.get(f"{base}/v1/models") as response:
        assert response.status == 503
    gate.set()
    await asyncio.gather(*admitted)


async def test_past_the_body_byte_budget_a_json_request_is_503_and_a_too_large_one_still_413(
    make_gateway: GatewayFactory, fake: FakeProvider, gate: asyncio.Event, session: aiohttp.ClientSession
) -> None:
    limits = {"max_buffered_body_bytes": 1500, "max_json_body_bytes": 1000}
    gateway = await make_gateway(settings_with(limits=limits))
    url = f"http://127.0.0.1:{gateway.port}/v1/chat/completions"
    padded = CHAT | {"user": "x" * 800}
    admitted = [asyncio.create_task(session.post(url, json=padded))]
    await wait_for(lambda: len(fake.received) == 1)
    assert gateway.app[ADMISSION].buffered_body_bytes > 800

    async with session.post(url, json=padded) as response:
        assert_overloaded(response.status, response.headers, await response.read())
    assert counters(gateway).shed_body_bytes == 1
    async with session.post(url, json=CHAT | {"user": "x" * 2000}) as response:
        assert response.status == 413

    gate.set()
    (first,) = await asyncio.gather(*admitted)
    assert first.status == 200
    first.release()
    assert gateway.app[ADMISSION].buffered_body_bytes == 0


async def test_a_body_that_does_not_arrive_in_time_is_408_and_the_connection_closed(
    make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    gateway = await make_gateway(settings_with(limits={"body_timeout": 0.5}))
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
        b"x-portkey-provider: openai\r\nx-portkey-custom-host: %s\r\nContent-Length: 1000\r\n\r\n{"
        % fake.base_url.encode()
    )

    async def drip() -> None:  # a byte every 100 ms: the timeout is on the whole body, not between bytes
        while True:
            await asyncio.sleep(0.1)
            writer.write(b" ")

    dripping = asyncio.create_task(drip())
    started = time.monotonic()
    try:
        answer = await asyncio.wait_for(reader.read(), 5)  # read() returns at EOF: the gateway closed
    finally:
        dripping.cancel()
    assert time.monotonic() - started < 3
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ")
    assert orjson.loads(body)["error"]["code"] == "body_timeout"
    assert counters(gateway).body_timeouts == 1
    assert not fake.received
    writer.close()


async def test_a_client_sending_its_headers_slowly_is_disconnected(make_gateway: GatewayFactory) -> None:
    gateway = await make_gateway(settings_with(limits={"header_timeout": 0.3}))
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: gw\r\n")

    async def drip() -> None:
        for _ in range(100):
            await asyncio.sleep(0.05)
            writer.write(b"X")

    dripping = asyncio.create_task(drip())
    try:
        assert await asyncio.wait_for(reader.read(), 5) == b""
    finally:
        dripping.cancel()
    assert counters(gateway).header_timeouts == 1
    writer.close()


async def test_the_connection_past_max_connections_is_refused_and_counted(
    make_gateway: GatewayFactory,
) -> None:
    gateway = await make_gateway(settings_with(limits={"max_connections": 2}))
    held = [await asyncio.open_connection("127.0.0.1", gateway.port) for _ in range(2)]
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    assert await asyncio.wait_for(reader.read(), 5) == b""  # accepted, then closed at once
    writer.close()
    assert counters(gateway).refused_connections == 1

    for held_reader, held_writer in held:  # the connections within the cap still work
        held_writer.write(b"GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n")
        assert (await held_reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200 ")
    held[0][1].close()
    await wait_for(lambda: gateway.runner.server.open_connections < 2)  # type: ignore[union-attr]
    async with (
        aiohttp.ClientSession() as client,
        client.get(f"http://127.0.0.1:{gateway.port}/healthz") as response,
    ):
        assert response.status == 200
    held[1][1].close()


async def test_while_the_event_loop_lags_the_in_flight_cap_shrinks_then_lifts_once_it_catches_up(
    make_gateway: GatewayFactory, fake: FakeProvider, gate: asyncio.Event, session: aiohttp.ClientSession
) -> None:
    gateway = await make_gateway(settings_with(limits={"max_loop_lag": 0.01}), loop_lag=True)
    admission = gateway.app[ADMISSION]
    base = f"http://127.0.0.1:{gateway.port}"
    held = await hold(session, f"{base}/v1/chat/completions", fake, 3)
    loop = asyncio.get_running_loop()
    busy_until = loop.time() + 1.0

    def hog() -> None:  # CPU-bound work in the gateway's loop: 30 ms blocks, 5 ms apart
        time.sleep(0.03)
        if loop.time() < busy_until:
            loop.call_later(0.005, hog)

    hog()
    await wait_for(lambda: admission.limit <= 3)  # at most what was in flight, less the cut
    async with session.get(f"{base}/v1/models") as response:
        assert_overloaded(response.status, response.headers, await response.read())
    async with session.get(f"{base}/healthz") as response:
        assert response.status == 200
    assert counters(gateway).shed_loop_lag >= 1

    gate.set()  # the held requests finish; the loop is on time again once the hog stops
    assert [await task for task in held] == [200, 200, 200]
    await wait_for(lambda: admission.limit == 1024)
    async with session.get(f"{base}/v1/models") as response:
        assert response.status == 200


async def test_an_upload_is_cut_only_when_no_byte_arrives_for_the_body_timeout(
    make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    gateway = await make_gateway(settings_with(limits={"body_timeout": 0.4}))
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    writer.write(
        b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: gw\r\n"
        b"Content-Type: multipart/form-data; boundary=b\r\nAuthorization: Bearer k\r\n"
        b"x-portkey-provider: openai\r\nx-portkey-custom-host: %s\r\nContent-Length: 100000\r\n\r\n"
        % fake.base_url.encode()
    )
    started = time.monotonic()
    while time.monotonic() - started < 1.2:  # slow but moving: longer than the timeout in total
        writer.write(b"x" * 100)
        await asyncio.sleep(0.1)
    answer = await asyncio.wait_for(reader.read(), 5)  # then silence: 408, and the connection closed
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ")
    assert orjson.loads(body)["error"]["code"] == "body_timeout"
    assert time.monotonic() - started > 1.2
    assert counters(gateway).body_timeouts == 1
    writer.close()
