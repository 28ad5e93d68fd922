"""A fake OpenAI Realtime API: a real aiohttp websocket server that records what it receives.

``GET /v1/realtime`` (and Azure's ``/openai/realtime`` and ``/openai/v1/realtime``) records each
connection (:class:`Session`: path, raw query, headers, offered subprotocols), chooses the
subprotocol ``realtime`` when offered, and by default plays OpenAI's event sequence: ``session.created``
on connect, then for every ``response.create`` a whole response (:func:`response_events`: text and
audio deltas, a function call, ``response.done`` with usage). Every frame it receives is recorded
(kind and exact bytes) and binary frames are echoed unchanged.

Modes, set before the client connects: :attr:`FakeRealtime.refuse` answers the handshake with a
plain HTTP error instead of upgrading; :attr:`FakeRealtime.hang` reads the handshake and never
answers it; :attr:`FakeRealtime.script` replays a recorded session instead of the default sequence.
Trigger messages, sent by the test through the gateway: ``{"type": "fake.close", "code", "reason"}``
closes the websocket with that code and reason, ``{"type": "fake.flood", "count", "size"}`` sends
``count`` text frames of ``size`` bytes as fast as the connection takes them (:func:`flood_frame`).
"""

from __future__ import annotations

import asyncio
import base64
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import WSMsgType, web
from multidict import CIMultiDictProxy

PATHS = ("/v1/realtime", "/openai/realtime", "/openai/v1/realtime")
SUBPROTOCOL = "realtime"
#: Direction names of the recordings (``{"direction": ..., "event": ...}`` per line).
FROM_SERVER = "server->client"
FROM_CLIENT = "client->server"
#: The usage of every ``response.done`` the fake sends.
USAGE: dict[str, Any] = {
    "total_tokens": 187,
    "input_tokens": 142,
    "output_tokens": 45,
    "input_token_details": {
        "text_tokens": 120,
        "audio_tokens": 22,
        "image_tokens": 0,
        "cached_tokens": 64,
        "cached_tokens_details": {"text_tokens": 64, "audio_tokens": 0, "image_tokens": 0},
    },
    "output_token_details": {"text_tokens": 15, "audio_tokens": 30},
}
#: The longest a hung handshake or a replay waits, so a broken test fails instead of hanging.
_WAIT = 30.0
_FLOOD_SOCKET_BUFFER = 64 * 1024
_FLOOD_HEAD = b'{"type":"response.output_audio.delta","seq":%08d,"delta":"'


@dataclass(frozen=True, slots=True)
class Frame:
    kind: WSMsgType
    data: bytes

    def json(self) -> Any:
        return orjson.loads(self.data)


@dataclass
class Session:
    path: str
    #: The raw query string, percent-escapes as sent.
    query: str
    headers: CIMultiDictProxy[str]
    #: The subprotocols the gateway offered, in order, and the one chosen (``None``: none).
    offered: list[str]
    protocol: str | None = None
    received: list[Frame] = field(default_factory=list)
    #: Frames sent by a ``fake.flood`` so far (the backpressure tests watch it stall).
    flooded: int = 0
    #: The close the gateway sent (``None`` until then; a lost connection leaves it ``None``).
    close_code: int | None = None
    close_reason: str = ""
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def frames(self, count: int, within: float = 10.0) -> list[Frame]:
        """The first ``count`` frames received, once they are in."""
        async with asyncio.timeout(within):
            while len(self.received) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.received[:count]

    async def wait_closed(self, within: float = 10.0) -> None:
        await asyncio.wait_for(self.closed.wait(), within)

    def record(self, frame: Frame) -> None:
        self.received.append(frame)
        self._arrived.set()


class FakeRealtime:
    def __init__(self) -> None:
        self.sessions: list[Session] = []
        self.port = 0
        #: Answer the handshake with this HTTP status (and an OpenAI error body) instead of upgrading.
        self.refuse: int | None = None
        #: Read the handshake and never answer it (until :meth:`release`).
        self.hang = False
        #: A recorded session to replay: ``(direction, frame bytes)`` in recorded order.
        self.script: list[tuple[str, bytes]] | None = None
        self._released = asyncio.Event()

    @property
    def base_url(self) -> str:
        """What a caller gives as x-portkey-custom-host for the ``openai`` provider."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def last(self) -> Session:
        return self.sessions[-1]

    def app(self) -> web.Application:
        app = web.Application()
        for path in PATHS:
            app.router.add_get(path, self._handle)
        return app

    def release(self) -> None:
        """Let hung handshakes end (teardown), so the server can shut down at once."""
        self._released.set()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        offered = [
            p.strip() for v in request.headers.getall("Sec-WebSocket-Protocol", []) for p in v.split(",")
        ]
        session = Session(request.path, request.rel_url.raw_query_string, request.headers, offered)
        self.sessions.append(session)
        if self.hang:
            await asyncio.wait_for(self._released.wait(), _WAIT)
            return _refusal(503)  # the test is over: let the server shut down
        if self.refuse is not None:
            return _refusal(self.refuse)
        # Unlimited messages and no compression: the tests measure what the gateway allows.
        ws = web.WebSocketResponse(
            protocols=(SUBPROTOCOL,), max_msg_size=0, compress=False, decode_text=False
        )
        await ws.prepare(request)
        session.protocol = ws.ws_protocol
        try:
            if self.script is not None:
                await _replay(ws, session, self.script)
            else:
                await ws.send_frame(SESSION_CREATED, WSMsgType.TEXT)
                await _serve(ws, request, session)
        finally:
            session.closed.set()
        return ws


async def _serve(ws: web.WebSocketResponse, request: web.Request, session: Session) -> None:
    """Answer the client's events until either side closes."""
    while (frame := await _receive(ws, session)) is not None:
        if frame.kind is WSMsgType.BINARY:
            await ws.send_bytes(frame.data)
            continue
        event = frame.json()
        kind = event.get("type") if isinstance(event, dict) else None
        if kind == "response.create":
            for data in response_events():
                await ws.send_frame(data, WSMsgType.TEXT)
        elif kind == "fake.close":
            await ws.close(code=event["code"], message=event["reason"].encode())
        elif kind == "fake.flood":
            await _flood(ws, request, session, event["count"], event["size"])


async def _flood(
    ws: web.WebSocketResponse, request: web.Request, session: Session, count: int, size: int
) -> None:
    # A small send buffer: the kernel's (autotuned to MBs on loopback) would hide the stall.
    sock = request.transport.get_extra_info("socket") if request.transport else None
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _FLOOD_SOCKET_BUFFER)
    for seq in range(count):
        await ws.send_frame(flood_frame(seq, size), WSMsgType.TEXT)
        session.flooded += 1


async def _replay(ws: web.WebSocketResponse, session: Session, script: list[tuple[str, bytes]]) -> None:
    """Send the recorded server events in order, each client event read (and recorded) in its turn."""
    for direction, data in script:
        if direction == FROM_SERVER:
            await ws.send_frame(data, WSMsgType.TEXT)
        elif await asyncio.wait_for(_receive(ws, session), _WAIT) is None:
            return
    while await _receive(ws, session) is not None:
        pass


async def _receive(ws: web.WebSocketResponse, session: Session) -> Frame | None:
    """The next data frame, recorded; ``None`` once the websocket closed (the close recorded)."""
    message = await ws.receive()
    if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
        frame = Frame(message.type, message.data)
        session.record(frame)
        return frame
    if message.type is WSMsgType.CLOSE:
        session.close_code, session.close_reason = message.data, message.extra or ""
    return None


def _refusal(status: int) -> web.Response:
    body = {
        "error": {
            "message": f"The fake refuses this websocket with HTTP {status}.",
            "type": "invalid_request_error",
            "code": f"fake_{status}",
            "param": None,
        }
    }
    return web.json_response(body, status=status)


def event_bytes(event: dict[str, Any]) -> bytes:
    return orjson.dumps(event)


SESSION_CREATED = event_bytes(
    {
        "type": "session.created",
        "event_id": "event_fake_0001",
        "session": {
            "type": "realtime",
            "object": "realtime.session",
            "id": "sess_fake01",
            "model": "gpt-realtime",
            "output_modalities": ["audio"],
            "instructions": "Réponds brièvement.",
            "tools": [],
            "tool_choice": "auto",
            "audio": {
                "input": {"format": {"type": "audio/pcm", "rate": 24000}, "turn_detection": None},
                "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy", "speed": 1.0},
            },
        },
    }
)


def response_events() -> list[bytes]:
    """One whole response as OpenAI sends it, byte for byte the same on every call."""
    return list(_response_events())


def _response_events() -> Iterator[bytes]:
    ids = iter(range(100, 200))
    response = {"id": "resp_fake01", "object": "realtime.response", "status": "in_progress", "output": []}

    def event(kind: str, **fields: Any) -> bytes:
        return event_bytes({"type": kind, "event_id": f"event_fake_{next(ids)}", **fields})

    message = {
        "id": "item_msg01",
        "type": "message",
        "role": "assistant",
        "status": "in_progress",
        "content": [],
    }
    call = {"id": "item_call01", "type": "function_call", "call_id": "call_fake01", "name": "get_weather"}
    where = {"response_id": "resp_fake01", "item_id": "item_msg01", "output_index": 0, "content_index": 0}
    yield event("response.created", response=response)
    yield event("response.output_item.added", response_id="resp_fake01", output_index=0, item=message)
    for delta in ("Bonjour", ", ça va ", "très bien 👋"):
        yield event("response.output_text.delta", delta=delta, **where)
    # A delta as some servers pad it: the gateway must pass the whitespace on as it came.
    yield b'{"type" : "response.output_text.delta",\t"event_id":"event_fake_150", "delta":"!" }\n'
    for chunk in (bytes(range(256)), b"\x00\xff" * 300):
        yield event("response.output_audio.delta", delta=base64.b64encode(chunk).decode(), **where)
    yield event("response.output_item.added", response_id="resp_fake01", output_index=1, item=call)
    arguments = ('{"city":', '"Zürich"}')
    call_where = {
        "response_id": "resp_fake01",
        "item_id": "item_call01",
        "output_index": 1,
        "call_id": "call_fake01",
    }
    for delta in arguments:
        yield event("response.function_call_arguments.delta", delta=delta, **call_where)
    yield event("response.function_call_arguments.done", arguments="".join(arguments), **call_where)
    done = {**response, "status": "completed", "output": [message, call], "usage": USAGE}
    yield event("response.done", response=done)


def flood_frame(seq: int, size: int) -> bytes:
    """Frame ``seq`` of a flood: an audio delta event of exactly ``size`` bytes."""
    head = _FLOOD_HEAD % seq
    return head + b"A" * (size - len(head) - 2) + b'"}'
