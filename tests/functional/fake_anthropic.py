"""A fake Anthropic Messages API: a real aiohttp server speaking Anthropic's own wire format.

``GET /v1/models`` (paginated) and ``/v1/models/{id}`` list :attr:`FakeAnthropic.models`.
``POST /v1/messages`` and ``/v1/messages/count_tokens`` record each request (:class:`Received`:
path, headers, JSON body, its bytes) and answer with the next scripted :class:`Answer` (the last
one is repeated): a whole message, an error body with Anthropic's headers, or an event stream
written event by event with named events, LF framing and the runs of spaces real Anthropic
streams carry inside the JSON before its closing brace. A stream can end cleanly, be cut (the
connection closed mid-body), and run in lock-step: event k is written only once the test opened
its gate (:meth:`Stream.allow`).
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from aiohttp import web
from multidict import CIMultiDictProxy

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "anthropic"
#: The padding runs of the recordings (``{"type":"message_stop"     }``), reused in turn.
_PADDING = (0, 5, 11, 2, 0, 8, 14, 3)


@dataclass
class Received:
    path: str
    query: str
    headers: CIMultiDictProxy[str]
    body: dict[str, Any]
    #: The body's bytes as they arrived.
    raw: bytes = b""


class Answer(Protocol):
    async def respond(self, request: web.Request) -> web.StreamResponse: ...


@dataclass
class Message:
    """A whole JSON answer (a message, or any body) with a status and headers."""

    body: dict[str, Any]
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)

    async def respond(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.body, status=self.status, headers=self.headers)


def error(status: int, kind: str, message: str, **headers: str) -> Message:
    """Anthropic's error body, with the ``request-id`` and ``x-should-retry`` it always sends."""
    body = {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_fake01"}
    retry = "true" if status in (408, 409, 429) or status >= 500 else "false"
    return Message(body, status, {"request-id": "req_fake01", "x-should-retry": retry, **headers})


def rate_limit_headers() -> dict[str, str]:
    return {
        "anthropic-ratelimit-requests-limit": "5",
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": "2025-06-04T18:39:57Z",
        "anthropic-ratelimit-tokens-limit": "10000",
        "anthropic-ratelimit-tokens-remaining": "8000",
        "retry-after": "7",
    }


def event(name: str, payload: dict[str, Any] | bytes, padding: int = 0) -> bytes:
    """One SSE event as Anthropic frames it; a ``bytes`` payload is sent as is (malformed JSON)."""
    data = payload if isinstance(payload, bytes) else json.dumps(payload, separators=(",", ":")).encode()
    if padding and data.endswith(b"}"):
        data = data[:-1] + b" " * padding + b"}"
    return b"event: " + name.encode() + b"\ndata: " + data + b"\n\n"


def events(*pairs: tuple[str, dict[str, Any] | bytes]) -> list[bytes]:
    """Events from ``(name, payload)`` pairs, padded as the recordings are."""
    return [event(name, payload, _PADDING[i % len(_PADDING)]) for i, (name, payload) in enumerate(pairs)]


# --- scripts: Anthropic's messages and events, small ---------------------------------------------

Event = tuple[str, dict[str, Any]]


def message(text: str = "Hello!", stop_reason: str = "end_turn", **usage: int) -> dict[str, Any]:
    """A whole Messages API answer with one text block."""
    return {
        "id": "msg_01Fake",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [{"type": "text", "text": text}],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 5, **usage},
    }


def start(**usage: int) -> Event:
    counts = {"input_tokens": 9, "output_tokens": 1, **usage}
    body = {"id": "msg_01S", "type": "message", "role": "assistant", "model": "claude-x", "content": []}
    return "message_start", {"type": "message_start", "message": {**body, "usage": counts}}


def text_block(index: int = 0) -> Event:
    block = {"type": "text", "text": ""}
    return "content_block_start", {"type": "content_block_start", "index": index, "content_block": block}


def text_delta(text: str, index: int = 0) -> Event:
    delta = {"type": "text_delta", "text": text}
    return "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}


def block_stop(index: int = 0) -> Event:
    return "content_block_stop", {"type": "content_block_stop", "index": index}


def finish(reason: str = "end_turn", output_tokens: int = 3) -> Event:
    delta = {"stop_reason": reason, "stop_sequence": None}
    return "message_delta", {
        "type": "message_delta",
        "delta": delta,
        "usage": {"output_tokens": output_tokens},
    }


STOP = ("message_stop", {"type": "message_stop"})
OVERLOADED = ("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})


def fixture_events(name: str) -> list[bytes]:
    """A stream fixture of tests/fixtures/anthropic split after each blank line, bytes unchanged."""
    body = (FIXTURES / name).read_bytes()
    return [part for part in re.split(rb"(?<=\n\n)", body) if part]


@dataclass
class Stream:
    """An event stream. ``end``: ``eof`` (a clean end) or ``cut`` (the connection closed with the
    body unfinished). With ``lock_step``, event k is written only after :meth:`allow` opened it."""

    events: list[bytes]
    end: Literal["eof", "cut"] = "eof"
    lock_step: bool = False
    status: int = 200
    #: How many events were written so far.
    written: int = 0
    _gates: list[asyncio.Event] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._gates = [asyncio.Event() for _ in self.events]
        if self._gates:
            self._gates[0].set()

    def allow(self, through: int) -> None:
        """Let the fake write every event up to index ``through``."""
        for gate in self._gates[: through + 1]:
            gate.set()

    async def respond(self, request: web.Request) -> web.StreamResponse:
        headers = {"Content-Type": "text/event-stream; charset=utf-8", "request-id": "req_fake01"}
        response = web.StreamResponse(status=self.status, headers=headers)
        await response.prepare(request)
        for gate, data in zip(self._gates, self.events, strict=True):
            if self.lock_step:
                await gate.wait()
            await response.write(data)
            self.written += 1
        if self.end == "cut":
            assert request.transport is not None
            request.transport.close()  # what was written goes, then FIN: no terminating chunk
        else:
            await response.write_eof()
        return response


class FakeAnthropic:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.answers: list[Answer] = []
        self.port = 0
        #: What ``GET /v1/models`` lists (``ModelInfo`` objects), newest first as Anthropic lists them.
        self.models: list[dict[str, Any]] = []
        #: The most a page holds, whatever ``limit`` asks (a smaller page still says ``has_more``).
        self.page_cap = 1000

    @property
    def base_url(self) -> str:
        """What a caller gives as x-portkey-custom-host for Anthropic."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def last(self) -> Received:
        return self.received[-1]

    def answer(self, *answers: Answer) -> None:
        """Answer the next requests with ``answers`` in order, the last one from then on."""
        self.answers = list(answers)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_post("/v1/messages/count_tokens", self._messages)
        app.router.add_get("/v1/models", self._list_models)
        app.router.add_get("/v1/models/{model_id}", self._get_model)
        return app

    async def _list_models(self, request: web.Request) -> web.StreamResponse:
        """List Models as Anthropic pages it: ``limit`` (1-1000, default 20) from after ``after_id``,
        with ``first_id``, ``last_id`` and ``has_more``."""
        self.received.append(Received(request.path, request.query_string, request.headers, {}))
        ids = [model["id"] for model in self.models]
        after = request.query.get("after_id")
        start = ids.index(after) + 1 if after in ids else 0
        limit = min(int(request.query.get("limit", "20")), self.page_cap)
        page = self.models[start : start + limit]
        return web.json_response(
            {
                "data": page,
                "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None,
                "has_more": start + limit < len(self.models),
            }
        )

    async def _get_model(self, request: web.Request) -> web.StreamResponse:
        self.received.append(Received(request.path, request.query_string, request.headers, {}))
        for model in self.models:
            if model["id"] == request.match_info["model_id"]:
                return web.json_response(model)
        body = {"type": "error", "error": {"type": "not_found_error", "message": "model not found"}}
        return web.json_response(body, status=404)

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        received = Received(request.path, request.query_string, request.headers, json.loads(raw), raw)
        self.received.append(received)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return await answer.respond(request)


def model_info(model_id: str, created_at: str, display_name: str) -> dict[str, Any]:
    """One ``ModelInfo`` of Anthropic's List Models answer."""
    return {"type": "model", "id": model_id, "display_name": display_name, "created_at": created_at}
