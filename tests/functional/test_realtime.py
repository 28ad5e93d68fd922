"""``/v1/realtime`` through the real gateway: websocket clients on one side, a fake OpenAI Realtime
API (:mod:`tests.functional.fake_realtime`) on the other, real sockets on 127.0.0.1 in between.

Covers what the bridge must keep (frames byte for byte, in order, with their type; close codes and
reasons), what it must change on the way (credentials, gateway options, Azure's URLs), and how it
fails and protects itself (refusals, timeouts, limits, backpressure, drain).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import socket
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Close

from gateway.appkeys import REALTIME, RECORDER
from gateway.providers.azure_openai import REALTIME_API_VERSION
from tests.conftest import GatewayFactory, fixtures_present, settings_with
from tests.fake_provider import FakeProvider
from tests.functional.fake_realtime import (
    FROM_CLIENT,
    FROM_SERVER,
    SESSION_CREATED,
    SUBPROTOCOL,
    USAGE,
    FakeRealtime,
    flood_frame,
    response_events,
)
from tests.functional.gateway_process import (
    GatewayProcess,
    eventually,
    free_port,
    start_gateway,
)

KEY = "sk-realtime-test-key"
MODEL = "gpt-realtime"
#: Bound of every wait for a frame or a close: a hung bridge fails the test instead of hanging it.
WAIT = 10.0
Data = str | bytes


def provider_headers(fake: FakeRealtime) -> dict[str, str]:
    return {
        "x-portkey-provider": "openai",
        "x-portkey-custom-host": fake.base_url,
        "Authorization": f"Bearer {KEY}",
    }


def ws_url(server: TestServer | GatewayProcess, query: str = f"model={MODEL}") -> str:
    return f"ws://127.0.0.1:{server.port}/v1/realtime" + (f"?{query}" if query else "")


def open_session(
    server: TestServer | GatewayProcess,
    headers: dict[str, str] | None = None,
    query: str = f"model={MODEL}",
    **options: Any,
) -> connect:
    """A ``websockets`` client of the gateway: no size limit, no compression (as the SDK connects)."""
    options = {"max_size": None, "compression": None, "open_timeout": WAIT, "close_timeout": WAIT, **options}
    return connect(ws_url(server, query), additional_headers=headers or {}, **options)


async def receive(ws: ClientConnection) -> Data:
    """The next message: ``str`` for a text frame, ``bytes`` for a binary one."""
    return await asyncio.wait_for(ws.recv(), WAIT)


async def received_text(ws: ClientConnection) -> bytes:
    message = await receive(ws)
    assert isinstance(message, str), f"a binary frame where a text frame was sent: {message[:60]!r}"
    return message.encode()  # UTF-8 decoding is lossless: these are the bytes that came


async def close_of(ws: ClientConnection) -> Close:
    """The close frame the gateway sent, once the client reads its way to it."""
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(read_until_closed(ws), WAIT)
    assert closed.value.rcvd is not None, f"closed without a close frame: {closed.value}"
    return closed.value.rcvd


async def read_until_closed(ws: ClientConnection) -> None:
    while True:
        await ws.recv()


async def session_created(ws: ClientConnection) -> None:
    assert await received_text(ws) == SESSION_CREATED


def control(kind: str, **fields: Any) -> str:
    """A trigger message for the fake (see its module doc)."""
    return json.dumps({"type": f"fake.{kind}", **fields})


# --- frames ------------------------------------------------------------------------------------------

#: Client events as a client may write them: non-ASCII, escapes, odd whitespace, one huge line.
CLIENT_EVENTS = [
    b'{"type":"session.update","session":{"type":"realtime",'
    b'"instructions":"R\xc3\xa9ponds en fran\xc3\xa7ais."}}',
    '{ "type" : "conversation.item.create" ,\n\t"item": {"type":"message","role":"user",'
    '"content":[{"type":"input_text","text":"Wie ist das Wetter in Zürich? 🌦  \\u00e9 \\n"}]} }  '.encode(),
    b'{"type":"response.create","response":{"output_modalities":["text"]}}\r\n',
]


async def test_text_frames_pass_byte_exact_and_in_order_both_ways(
    gateway: TestServer, realtime: FakeRealtime
) -> None:
    async with open_session(gateway, provider_headers(realtime)) as ws:
        await session_created(ws)
        for event in CLIENT_EVENTS:
            await ws.send(event, text=True)
        downstream = [await received_text(ws) for _ in response_events()]
        upstream = await realtime.last.frames(len(CLIENT_EVENTS))
    assert downstream == response_events()
    assert [frame.data for frame in upstream] == CLIENT_EVENTS
    assert all(frame.kind is aiohttp.WSMsgType.TEXT for frame in upstream)
    counters = gateway.app[REALTIME]
    assert (counters.frames_up, counters.bytes_up) == (3, sum(map(len, CLIENT_EVENTS)))
    sent_down = [SESSION_CREATED, *response_events()]
    assert (counters.frames_down, counters.bytes_down) == (len(sent_down), sum(map(len, sent_down)))


async def test_binary_frames_pass_untouched_both_ways(gateway: TestServer, realtime: FakeRealtime) -> None:
    # Not UTF-8, every byte value, the empty frame: nothing may be decoded or re-encoded.
    frames = [bytes(range(256)) * 4, b"\xff\xfe\x00invalid utf-8 \xc3", b"", b"{}"]
    async with open_session(gateway, provider_headers(realtime)) as ws:
        await session_created(ws)
        for frame in frames:
            await ws.send(frame)
        echoed = [await receive(ws) for _ in frames]
        upstream = await realtime.last.frames(len(frames))
    assert echoed == frames
    assert [(f.kind, f.data) for f in upstream] == [(aiohttp.WSMsgType.BINARY, f) for f in frames]


async def test_upstream_gets_the_path_model_and_key_but_no_gateway_options(
    gateway: TestServer, realtime: FakeRealtime
) -> None:
    headers = {**provider_headers(realtime), "x-portkey-trace-id": "trace-rt-1", "x-portkey-metadata": "{}"}
    query = f"model={MODEL}&x-portkey-trace-id=trace-in-query&voice=caf%C3%A9&X-Portkey-Retry-Count=2"
    async with open_session(gateway, headers, query, subprotocols=[SUBPROTOCOL]) as ws:
        await session_created(ws)
        assert ws.subprotocol == SUBPROTOCOL
    session = realtime.last
    assert session.path == "/v1/realtime"
    assert session.query == f"model={MODEL}&voice=caf%C3%A9"
    assert session.headers["Authorization"] == f"Bearer {KEY}"
    assert not [name for name in session.headers if name.lower().startswith("x-portkey-")]
    assert session.offered == [SUBPROTOCOL]
    assert session.protocol == SUBPROTOCOL


async def test_openai_sdk_realtime_client_gets_typed_events(
    gateway: TestServer, realtime: FakeRealtime
) -> None:
    headers = {"x-portkey-provider": "openai", "x-portkey-custom-host": realtime.base_url}
    sdk = AsyncOpenAI(
        base_url=f"http://127.0.0.1:{gateway.port}/v1", api_key=KEY, default_headers=headers, max_retries=0
    )
    async with sdk, sdk.realtime.connect(model=MODEL) as connection:
        created = await asyncio.wait_for(connection.recv(), WAIT)
        assert created.type == "session.created"
        await connection.conversation.item.create(
            item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Météo ?"}]}
        )
        await connection.response.create()
        events = [await asyncio.wait_for(connection.recv(), WAIT) for _ in response_events()]
    assert [event.type for event in events] == [json.loads(e)["type"] for e in response_events()]
    texts = [event.delta for event in events if event.type == "response.output_text.delta"]
    assert "".join(texts) == "Bonjour, ça va très bien 👋!"
    arguments = next(event for event in events if event.type == "response.function_call_arguments.done")
    assert json.loads(arguments.arguments) == {"city": "Zürich"}
    done = events[-1]
    assert done.type == "response.done"
    assert done.response.usage is not None
    assert done.response.usage.input_tokens == USAGE["input_tokens"]
    sent = [frame.json() for frame in await realtime.last.frames(2)]
    assert [event["type"] for event in sent] == ["conversation.item.create", "response.create"]
    assert sent[0]["item"]["content"][0]["text"] == "Météo ?"
    assert realtime.last.query == f"model={MODEL}"
    assert realtime.last.headers["Authorization"] == f"Bearer {KEY}"


# --- recorded sessions -------------------------------------------------------------------------------


def recordings(config: pytest.Config) -> list[Path]:
    folder = Path(config.getoption("--fixtures-dir")) / "openai"
    found = sorted(folder.glob("realtime-*.jsonl"))
    if not found and fixtures_present(config):
        pytest.fail(f"no realtime recordings in {folder}: pass --fixtures-dir", pytrace=False)
    return found


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "recording" in metafunc.fixturenames:
        paths = recordings(metafunc.config)
        metafunc.parametrize("recording", paths, ids=[path.name for path in paths])


def recorded_frames(path: Path) -> Iterator[tuple[str, bytes]]:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            entry = json.loads(line)
            event = json.dumps(entry["event"], ensure_ascii=False).encode()
            yield entry["direction"], event


@pytest.mark.recordings
async def test_recorded_session_replays_identically_both_ways(
    gateway: TestServer, realtime: FakeRealtime, recording: Path
) -> None:
    script = list(recorded_frames(recording))
    realtime.script = script
    async with open_session(gateway, provider_headers(realtime)) as ws:
        for direction, data in script:
            if direction == FROM_CLIENT:
                await ws.send(data, text=True)
            else:
                assert direction == FROM_SERVER
                assert await received_text(ws) == data
        sent = [data for direction, data in script if direction == FROM_CLIENT]
        upstream = await realtime.last.frames(len(sent))
    assert [frame.data for frame in upstream] == sent


# --- closes ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "reason"), [(4000, "bye"), (1000, "")])
async def test_client_close_reaches_the_upstream(
    gateway: TestServer, realtime: FakeRealtime, code: int, reason: str
) -> None:
    async with open_session(gateway, provider_headers(realtime)) as ws:
        await session_created(ws)
        await ws.close(code, reason)
    await realtime.last.wait_closed()
    assert (realtime.last.close_code, realtime.last.close_reason) == (code, reason)


@pytest.mark.parametrize(("code", "reason"), [(4321, "done"), (1000, "normal")])
async def test_upstream_close_reaches_the_client(
    gateway: TestServer, realtime: FakeRealtime, code: int, reason: str
) -> None:
    async with open_session(gateway, provider_headers(realtime)) as ws:
        await session_created(ws)
        await ws.send(control("close", code=code, reason=reason))
        closed = await close_of(ws)
    assert (closed.code, closed.reason) == (code, reason)


# --- upstream failures -------------------------------------------------------------------------------


async def test_unreachable_upstream_closes_the_client_with_1011_naming_the_provider(
    gateway: TestServer,
) -> None:
    headers = {"x-portkey-provider": "openai", "x-portkey-custom-host": f"http://127.0.0.1:{free_port()}/v1"}
    async with open_session(gateway, {**headers, "Authorization": f"Bearer {KEY}"}) as ws:
        closed = await close_of(ws)
    assert closed.code == 1011
    assert "openai" in closed.reason
    assert gateway.app[REALTIME].failed == 1


@pytest.mark.parametrize(("status", "code"), [(401, 4401), (403, 4403), (429, 4429), (503, 1013)])
async def test_refused_handshake_closes_the_client_with_a_code_for_the_status(
    gateway: TestServer, realtime: FakeRealtime, status: int, code: int
) -> None:
    realtime.refuse = status
    async with open_session(gateway, provider_headers(realtime)) as ws:
        closed = await close_of(ws)
    assert closed.code == code
    assert "openai" in closed.reason
    assert str(status) in closed.reason


async def test_upstream_that_never_opens_closes_the_client_after_the_open_timeout(
    make_gateway: GatewayFactory, realtime: FakeRealtime
) -> None:
    server = await make_gateway(settings_with(realtime={"open_timeout": 0.3}))
    realtime.hang = True
    async with open_session(server, provider_headers(realtime)) as ws:
        closed = await close_of(ws)
    assert closed.code == 1011
    assert "openai" in closed.reason
    assert "0.3" in closed.reason


async def test_fallback_config_opens_the_session_on_the_next_target(
    gateway: TestServer, realtime: FakeRealtime
) -> None:
    dead = {"provider": "openai", "api_key": "sk-dead", "custom_host": f"http://127.0.0.1:{free_port()}/v1"}
    alive = {"provider": "openai", "api_key": KEY, "custom_host": realtime.base_url}
    config = {"strategy": {"mode": "fallback"}, "targets": [dead, alive]}
    async with open_session(gateway, {"x-portkey-config": json.dumps(config)}) as ws:
        await session_created(ws)
    assert realtime.last.headers["Authorization"] == f"Bearer {KEY}"
    assert len(realtime.sessions) == 1


# --- browsers ----------------------------------------------------------------------------------------


async def test_browser_sends_key_and_options_as_subprotocols_and_query(
    gateway: TestServer, realtime: FakeRealtime
) -> None:
    custom_host = f"ws://127.0.0.1:{realtime.port}/v1"
    query = f"model={MODEL}&x-portkey-provider=openai&x-portkey-custom-host={custom_host}"
    protocols = [SUBPROTOCOL, "openai-insecure-api-key.sk-xyz", "openai-beta.realtime-v1"]
    async with open_session(gateway, query=query, subprotocols=protocols) as ws:
        await session_created(ws)
        assert ws.subprotocol == SUBPROTOCOL
    session = realtime.last
    assert session.headers["Authorization"] == "Bearer sk-xyz"
    assert session.headers["OpenAI-Beta"] == "realtime=v1"
    assert session.offered == [SUBPROTOCOL]
    assert session.protocol == SUBPROTOCOL
    assert session.query == f"model={MODEL}"


async def test_openai_organization_and_project_reach_the_upstream_subprotocols_first(
    gateway: TestServer, realtime: FakeRealtime
) -> None:
    headers = {
        **provider_headers(realtime),
        "x-portkey-openai-organization": "org-header",
        "x-portkey-openai-project": "proj-header",
    }
    async with open_session(
        gateway, headers, subprotocols=[SUBPROTOCOL, "openai-project.proj-browser"]
    ) as ws:
        await session_created(ws)
    session = realtime.last
    assert session.headers["OpenAI-Organization"] == "org-header"
    assert session.headers["OpenAI-Project"] == "proj-browser"
    assert session.offered == [SUBPROTOCOL]


async def test_api_key_in_the_query_is_not_taken(gateway: TestServer, realtime: FakeRealtime) -> None:
    # A key in a URL ends up in access logs and browser history: the gateway does not read it there.
    options = f"x-portkey-provider=openai&x-portkey-custom-host={realtime.base_url}&x-portkey-api-key=sk-leak"
    query = f"model={MODEL}&{options}"
    async with open_session(gateway, query=query) as ws:
        await session_created(ws)
    session = realtime.last
    assert "Authorization" not in session.headers
    assert "sk-leak" not in session.query
    assert not [value for value in session.headers.values() if "sk-leak" in value]


# --- refusals before the upgrade ---------------------------------------------------------------------


async def handshake_refusal(server: TestServer, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    with pytest.raises(InvalidStatus) as refused:
        async with open_session(server, headers):
            pass
    response = refused.value.response
    return response.status_code, json.loads(response.body or b"{}")


async def test_upgrade_without_a_provider_is_a_400(gateway: TestServer) -> None:
    status, body = await handshake_refusal(gateway, {"Authorization": f"Bearer {KEY}"})
    assert status == 400
    assert body["error"]["type"] == "invalid_request_error"


async def test_upgrade_to_a_provider_without_realtime_is_a_400(gateway: TestServer) -> None:
    status, body = await handshake_refusal(gateway, {"x-portkey-provider": "anthropic", "x-api-key": KEY})
    assert status == 400
    assert body["error"]["code"] == "unsupported_endpoint"


async def test_plain_get_is_a_426_and_post_a_405(gateway: TestServer) -> None:
    url = f"http://127.0.0.1:{gateway.port}/v1/realtime"
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as response:
            assert response.status == 426
            assert response.headers["Upgrade"] == "websocket"
            assert (await response.json())["error"]["code"] == "websocket_required"
        async with http.post(url, json={}) as response:
            assert response.status == 405
            assert "error" in await response.json()


# --- limits ------------------------------------------------------------------------------------------


async def test_session_limit_refuses_upgrades_with_503_until_a_session_ends(
    make_gateway: GatewayFactory, realtime: FakeRealtime
) -> None:
    server = await make_gateway(settings_with(realtime={"max_sessions": 2}))
    headers = provider_headers(realtime)
    counters = server.app[REALTIME]
    async with contextlib.AsyncExitStack() as stack:
        first = await stack.enter_async_context(open_session(server, headers))
        second = await stack.enter_async_context(open_session(server, headers))
        for ws in (first, second):
            await session_created(ws)
        assert counters.active == 2
        status, body = await handshake_refusal(server, headers)
        assert status == 503
        assert body["error"]["code"] == "too_many_sessions"
        assert counters.refused == 1
        await first.close()
        await realtime.sessions[0].wait_closed()
        await wait_until(lambda: counters.active == 1)
        async with open_session(server, headers) as third:
            await session_created(third)
            assert counters.active == 2
    await wait_until(lambda: counters.active == 0)
    assert (counters.opened, counters.refused, counters.failed) == (3, 1, 0)


async def test_open_sessions_never_use_up_the_http_in_flight_budget(
    make_gateway: GatewayFactory, realtime: FakeRealtime, fake: FakeProvider
) -> None:
    # Hours-long sessions have their own limit: were they counted as requests in flight, a few
    # callers holding sessions open would have every HTTP request of every other caller shed.
    server = await make_gateway(settings_with(limits={"max_in_flight": 1}))

    async def answer(request: web.Request, received: object) -> web.Response:
        return web.json_response(CHAT_ANSWER)

    fake.on("POST", "/v1/chat/completions", answer)
    chat = {
        "x-portkey-provider": "openai",
        "x-portkey-custom-host": fake.base_url,
        "Authorization": "Bearer k",
    }
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(2):
            await session_created(
                await stack.enter_async_context(open_session(server, provider_headers(realtime)))
            )
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{server.port}/v1/chat/completions"
            async with http.post(url, json={"model": "m", "messages": []}, headers=chat) as response:
                assert response.status == 200, await response.text()


CHAT_ANSWER = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m", "choices": []}


async def wait_until(check: Callable[[], bool]) -> None:
    """Wait (bounded) for the gateway's bookkeeping, which runs just after the close frames."""
    await eventually(check, WAIT, "the gateway's session bookkeeping", interval=0.01)


async def test_idle_session_is_closed_on_both_sides(
    make_gateway: GatewayFactory, realtime: FakeRealtime
) -> None:
    server = await make_gateway(settings_with(realtime={"idle_timeout": 0.3}))
    async with open_session(server, provider_headers(realtime)) as ws:
        await session_created(ws)
        closed = await close_of(ws)
    assert closed.code == 1000
    assert "idle" in closed.reason
    await realtime.last.wait_closed()
    assert realtime.last.close_code == 1000
    assert "idle" in realtime.last.close_reason


async def test_session_that_keeps_talking_is_not_closed_as_idle(
    make_gateway: GatewayFactory, realtime: FakeRealtime
) -> None:
    server = await make_gateway(settings_with(realtime={"idle_timeout": 0.5}))
    async with open_session(server, provider_headers(realtime)) as ws:
        await session_created(ws)
        for _ in range(24):  # 1.2 s in all, more than two idle timeouts
            await asyncio.sleep(0.05)
            await ws.send(b"ping")
            assert await receive(ws) == b"ping"
        assert not realtime.last.closed.is_set()


async def test_message_over_the_size_limit_closes_both_sides_with_1009(
    make_gateway: GatewayFactory, realtime: FakeRealtime
) -> None:
    server = await make_gateway(settings_with(realtime={"max_message_bytes": 1024}))
    async with open_session(server, provider_headers(realtime)) as ws:
        await session_created(ws)
        await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": "A" * 2048}))
        closed = await close_of(ws)
    assert closed.code == 1009
    await realtime.last.wait_closed()
    assert realtime.last.close_code == 1009  # the upstream hears the same close, and why
    assert "exceeds limit" in realtime.last.close_reason
    assert realtime.last.received == []


async def test_16_mb_frame_passes_both_ways_with_the_default_limit(
    gateway: TestServer, realtime: FakeRealtime
) -> None:
    frame = bytes(range(256)) * (16 * 1024 * 1024 // 256)  # exactly realtime.max_message_bytes
    async with open_session(gateway, provider_headers(realtime)) as ws:
        await session_created(ws)
        await ws.send(frame)
        echoed = await receive(ws)
    assert echoed == frame
    assert realtime.last.received[0].data == frame


async def test_slow_client_stalls_the_upstream_instead_of_filling_the_gateway(
    gateway: TestServer, realtime: FakeRealtime
) -> None:
    count, size = 256, 256 * 1024
    # The client queues one frame and its socket buffer is small (the fake's too): what piles up
    # beyond that is the gateway's doing, or its two sockets' kernel buffers (a few MB).
    sock = await small_buffer_socket(gateway.port or 0)
    async with open_session(gateway, provider_headers(realtime), max_queue=1, sock=sock) as ws:
        await session_created(ws)
        await ws.send(control("flood", count=count, size=size))
        session = realtime.last
        stalled_at = await stalled(lambda: session.flooded)
        assert stalled_at < 64, f"{stalled_at} frames of {size} bytes sent to a client that reads none"
        for seq in range(count):
            assert await received_text(ws) == flood_frame(seq, size)
    assert session.flooded == count


async def small_buffer_socket(port: int) -> socket.socket:
    """A socket connected to ``port`` with a small receive buffer (setting one stops autotuning)."""
    sock = socket.socket()
    sock.setblocking(False)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port)), WAIT)
    return sock


async def stalled(progress: Callable[[], int]) -> int:
    """``progress()`` once it stopped moving for 0.3 s (bounded: it must stop, and start first)."""
    await wait_until(lambda: progress() > 0)
    async with asyncio.timeout(WAIT):
        last = -1
        while (now := progress()) != last:
            last = now
            await asyncio.sleep(0.3)
    return last


# --- usage -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("closer", ["client", "upstream"])
async def test_access_log_sums_usage_over_the_responses_and_never_shows_the_key(
    make_gateway: GatewayFactory, realtime: FakeRealtime, caplog: pytest.LogCaptureFixture, closer: str
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.access")
    server = await make_gateway(settings_with(server={"access_log": True}))
    async with open_session(server, provider_headers(realtime)) as ws:
        await session_created(ws)
        for _ in range(2):
            await ws.send(b'{"type":"response.create"}', text=True)
            for _ in response_events():
                await received_text(ws)
        if closer == "upstream":
            await ws.send(control("close", code=1000, reason="done"))
            await close_of(ws)
    await wait_until(lambda: server.app[REALTIME].active == 0)
    await server.app[RECORDER].flush()
    lines = [record.getMessage() for record in caplog.records if record.name == "gateway.access"]
    assert len(lines) == 1
    assert f"GET /v1/realtime 101 provider=openai outcome={closer}_closed" in lines[0]
    assert (
        f"prompt_tokens={2 * USAGE['input_tokens']} completion_tokens={2 * USAGE['output_tokens']}"
        in lines[0]
    )
    assert KEY not in caplog.text


# --- Azure -------------------------------------------------------------------------------------------


def azure_headers(fake: FakeRealtime, **options: str) -> dict[str, str]:
    return {
        "x-portkey-provider": "azure-openai",
        "x-portkey-custom-host": f"http://127.0.0.1:{fake.port}/openai",
        "Authorization": f"Bearer {KEY}",
        **options,
    }


async def test_azure_deployment_goes_in_the_query_with_an_api_version(
    gateway: TestServer, realtime: FakeRealtime
) -> None:
    headers = azure_headers(realtime, **{"x-portkey-azure-deployment-id": "rt-deploy"})
    async with open_session(gateway, headers, query="") as ws:
        await session_created(ws)
    session = realtime.last
    assert session.path == "/openai/realtime"
    query = dict(pair.split("=", 1) for pair in session.query.split("&"))
    assert query["deployment"] == "rt-deploy"
    assert query["api-version"] == REALTIME_API_VERSION
    assert session.headers["api-key"] == KEY
    assert "Authorization" not in session.headers


async def test_azure_without_a_deployment_uses_the_v1_api(
    gateway: TestServer, realtime: FakeRealtime
) -> None:
    async with open_session(gateway, azure_headers(realtime)) as ws:
        await session_created(ws)
    session = realtime.last
    assert session.path == "/openai/v1/realtime"
    assert session.query == f"model={MODEL}"
    assert session.headers["api-key"] == KEY


# --- drain -------------------------------------------------------------------------------------------


@pytest.fixture
def gateway_process(tmp_path: Path) -> Iterator[GatewayProcess]:
    process = start_gateway(tmp_path, "--drain-timeout", "0.5", port=free_port())
    yield process
    process.kill()


async def test_sigterm_closes_open_sessions_with_1001_after_the_drain_timeout(
    gateway_process: GatewayProcess, realtime: FakeRealtime
) -> None:
    await gateway_process.wait_ready()
    async with open_session(gateway_process, provider_headers(realtime)) as ws:
        await session_created(ws)
        gateway_process.signal(signal.SIGTERM)
        closed = await close_of(ws)
    assert closed.code == 1001
    await realtime.last.wait_closed()
    assert realtime.last.close_code == 1001
    assert await gateway_process.wait_exit() == 0, gateway_process.stderr


async def test_heartbeat_pings_both_legs_of_a_quiet_session(
    make_gateway: GatewayFactory, aiohttp_server: Callable[..., Awaitable[TestServer]]
) -> None:
    # Pings keep proxies and load balancers from dropping a quiet session: the gateway sends them
    # to the client and to the provider, and neither side has to say anything.
    upstream_pings: asyncio.Queue[bytes] = asyncio.Queue()

    async def quiet_provider(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=False)
        await ws.prepare(request)
        async for message in ws:
            if message.type is aiohttp.WSMsgType.PING:
                upstream_pings.put_nowait(message.data)
                await ws.pong(message.data)
        return ws

    app = web.Application()
    app.router.add_get("/v1/realtime", quiet_provider)
    provider = await aiohttp_server(app)
    server = await make_gateway(settings_with(realtime={"heartbeat": 0.1}))
    headers = {
        "x-portkey-provider": "openai",
        "x-portkey-custom-host": f"http://127.0.0.1:{provider.port}/v1",
    }
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(ws_url(server), headers=headers, autoping=False) as client,
    ):
        message = await asyncio.wait_for(client.receive(), WAIT)
        assert message.type is aiohttp.WSMsgType.PING
        await client.pong(message.data)
        await asyncio.wait_for(upstream_pings.get(), WAIT)
        assert not client.closed
