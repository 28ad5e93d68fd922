"""The lean server path (``[server] lean_http``, on by default) through the real wire.

Fixed-path routes are dispatched by one lookup and whole answers written in one go
(``middleware/lean_server.py``). Each request here goes over a raw socket to a gateway on the lean
path and to one on aiohttp's (``lean_http = false``), and the answers must be the same bytes,
headers in the same order, but for the clock's (``Date``, ``Server-Timing``).
"""

from __future__ import annotations

import asyncio
import re
import socket

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.conftest import GatewayFactory, settings_with
from tests.fake_provider import FakeProvider, Received

HANG = 10.0  # wide upper bound: only a hang ever reaches it
TRACE = "x-portkey-trace-id: lean-server-test\r\n"
CHAT_BODY = orjson.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})


def request(head: str, body: bytes = b"") -> bytes:
    """One raw request: ``head`` is the request line and headers, without the blank line."""
    length = f"Content-Length: {len(body)}\r\n" if body else ""
    return f"{head}\r\nHost: gateway\r\n{TRACE}{length}\r\n".encode() + body


def chat(fake: FakeProvider, body: bytes = CHAT_BODY, extra: str = "") -> bytes:
    return request(
        "POST /v1/chat/completions HTTP/1.1\r\nContent-Type: application/json\r\n"
        f"x-portkey-provider: openai\r\nx-portkey-custom-host: {fake.base_url}\r\n"
        f"Authorization: Bearer sk-test{extra}",
        body,
    )


async def exchange(server: TestServer, data: bytes, answers: int = 1, head: bool = False) -> list[bytes]:
    """Send ``data`` on a new connection; the ``answers`` that come back, each whole."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(data)
        return [await asyncio.wait_for(read_answer(reader, head), HANG) for _ in range(answers)]
    finally:
        writer.close()


async def read_answer(reader: asyncio.StreamReader, head_only: bool) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = re.search(rb"\r\ncontent-length: (\d+)\r\n", head, re.IGNORECASE)
    if head_only or length is None:
        return head
    return head + await reader.readexactly(int(length.group(1)))


def steady(answer: bytes) -> bytes:
    """``answer`` without what the clock changes from one answer to the next."""
    answer = re.sub(rb"\r\nDate: [^\r]*", b"\r\nDate: -", answer)
    return re.sub(rb"(\r\nServer-Timing: [^\r]*)", lambda m: re.sub(rb"dur=[\d.]+", b"dur=-", m[1]), answer)


@pytest.fixture
async def gateways(make_gateway: GatewayFactory) -> tuple[TestServer, TestServer]:
    """A gateway on the lean server path, and one on aiohttp's."""
    lean = await make_gateway(settings_with(server={"lean_http": True}))
    plain = await make_gateway(settings_with(server={"lean_http": False}))
    return lean, plain


async def same_answers(gateways: tuple[TestServer, TestServer], data: bytes, answers: int = 1) -> list[bytes]:
    lean, plain = gateways
    head = data.startswith(b"HEAD ")
    got = await exchange(lean, data, answers, head)
    expected = await exchange(plain, data, answers, head)
    assert [steady(answer) for answer in got] == [steady(answer) for answer in expected]
    return got


async def test_a_completion_is_the_same_bytes(
    gateways: tuple[TestServer, TestServer], fake: FakeProvider
) -> None:
    [answer] = await same_answers(gateways, chat(fake))
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b'"object": "fake"' in answer
    assert b"\r\nx-portkey-trace-id: lean-server-test\r\n" in answer
    assert fake.received  # it went upstream


async def test_an_error_answer_is_the_same_bytes(
    gateways: tuple[TestServer, TestServer], fake: FakeProvider
) -> None:
    [answer] = await same_answers(gateways, chat(fake, body=b"{not json"))
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b'"type":"invalid_request_error"' in answer


@pytest.mark.parametrize(
    "head",
    [
        "GET /healthz HTTP/1.1",
        "GET /readyz HTTP/1.1",
        "HEAD /healthz HTTP/1.1",  # aiohttp's way: a head without its body
        "GET /healthz HTTP/1.0",  # aiohttp's way: HTTP/1.0 keep-alive rules
        "DELETE /healthz HTTP/1.1",  # a fixed path, a method it does not take: the router's 405
        "POST /v1/no/such/route HTTP/1.1",  # the /v1 catch-all: the router's
        "GET /v1/models/gpt-4o-mini HTTP/1.1",  # a path with a parameter: the router's
        "GET /healthz HTTP/1.1\r\nConnection: close",
    ],
)
async def test_other_answers_are_the_same_bytes(gateways: tuple[TestServer, TestServer], head: str) -> None:
    await same_answers(gateways, request(head))


async def test_expect_continue_goes_the_routers_way(
    gateways: tuple[TestServer, TestServer], fake: FakeProvider
) -> None:
    """aiohttp answers ``Expect: 100-continue`` before the body is sent: the lean path leaves it."""
    [answer] = await same_answers(gateways, chat(fake, extra="\r\nExpect: 100-continue"))
    assert answer.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")


async def test_pipelined_requests_are_answered_in_order_on_one_connection(
    gateways: tuple[TestServer, TestServer], fake: FakeProvider
) -> None:
    three = chat(fake) + request("GET /healthz HTTP/1.1") + chat(fake, body=b"[]")
    first, second, third = await same_answers(gateways, three, answers=3)
    assert first.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b'"object": "fake"' in first
    assert second.endswith(b'{"status": "ok"}')
    assert third.startswith(b"HTTP/1.1 400 ")


async def test_a_connection_serves_request_after_request(
    make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    server = await make_gateway()  # the defaults: the lean path
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        for _ in range(3):
            writer.write(chat(fake))
            answer = await asyncio.wait_for(read_answer(reader, False), HANG)
            assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
            assert b"\r\nConnection: close" not in answer
        writer.write(request("GET /healthz HTTP/1.1\r\nConnection: close"))
        last = await asyncio.wait_for(read_answer(reader, False), HANG)
        assert b"\r\nConnection: close\r\n" in last
        assert await asyncio.wait_for(reader.read(), HANG) == b""  # and the gateway closed it
    finally:
        writer.close()


async def test_a_big_whole_answer_reaches_a_slow_reader_whole(
    make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    """A cache HIT is a whole answer however big (here 3 MB): written in one go to a client that
    reads slowly, it arrives whole, and the connection then serves the next request."""
    content = "x" * (3 * 1024 * 1024)

    async def big(request: web.Request, received: Received) -> web.StreamResponse:
        choice = {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        return web.json_response({"id": "c", "object": "chat.completion", "choices": [choice]})

    fake.on("POST", "/v1/chat/completions", big)
    server = await make_gateway(settings_with(cache={"mode": "simple"}))
    [stored] = await exchange(server, chat(fake))  # a MISS, stored
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)  # the kernel holds little of it
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port or 0))
    reader, writer = await asyncio.open_connection(sock=sock)
    try:
        writer.write(chat(fake))
        await asyncio.sleep(0.3)  # the gateway meanwhile writes into a full socket
        hit = await asyncio.wait_for(read_answer(reader, False), HANG)
        assert b"\r\nx-portkey-cache-status: HIT\r\n" in hit
        assert hit.partition(b"\r\n\r\n")[2] == stored.partition(b"\r\n\r\n")[2]
        writer.write(request("GET /healthz HTTP/1.1"))
        assert (await asyncio.wait_for(read_answer(reader, False), HANG)).endswith(b'{"status": "ok"}')
    finally:
        writer.close()
    assert len(fake.received) == 1
