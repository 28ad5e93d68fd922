"""A fake Triton Inference Server: a real aiohttp server speaking the generate extension.

``POST /v2/models/{model}[/versions/{n}]/generate`` answers one JSON object
(``{"model_name", "model_version", "text_output"}``); ``…/generate_stream`` answers SSE ``data:``
events of the same shape, one per piece of text, and simply ends (Triton sends no end event). Errors
are Triton's ``{"error": "<text>"}``. Every request is recorded (path, headers, JSON body). Answers
are programmed with :meth:`FakeTriton.reply`, :meth:`FakeTriton.fail` and :meth:`FakeTriton.stream`;
by default ``generate`` answers "Hello!" and ``generate_stream`` "Hel", "lo", "!".
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web
from multidict import CIMultiDictProxy

from tests.functional.recording_fake import RecordingFake

_ROUTE = re.compile(r"/v2/models/(?P<model>[^/]+)(?:/versions/[0-9]+)?/(?P<route>generate|generate_stream)")

Answer = Callable[[web.Request, str], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Request:
    path: str
    headers: CIMultiDictProxy[str]
    body: dict[str, Any]


def event(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def piece(model: str, text: str) -> bytes:
    """One generate_stream event carrying ``text``."""
    return event({"model_name": model, "model_version": "1", "text_output": text})


class FakeTriton(RecordingFake[Request]):
    def __init__(self) -> None:
        super().__init__()
        self._generate: Answer = self._default_generate
        self._stream: Answer = _streamer(lambda model: [piece(model, text) for text in ("Hel", "lo", "!")])

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    def reply(self, body: dict[str, Any]) -> None:
        async def answer(request: web.Request, model: str) -> web.StreamResponse:
            return web.json_response(body)

        self._generate = answer

    def fail(self, status: int, message: str) -> None:
        """Triton's error body on both routes, before any inference."""

        async def answer(request: web.Request, model: str) -> web.StreamResponse:
            return web.json_response({"error": message}, status=status)

        self._generate = self._stream = answer

    def stream(self, events: Sequence[bytes], *, cut: bool = False) -> None:
        """Answer generate_stream with ``events``; ``cut``: close the connection after them, with
        the chunked body unfinished."""
        self._stream = _streamer(lambda model: events, cut)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read()) if request.can_read_body else {}
        self.received.append(Request(request.path, request.headers, body))
        match = _ROUTE.fullmatch(request.path)
        if request.method != "POST" or match is None:
            return web.json_response({"error": "Not Found"}, status=404)
        answer = self._stream if match["route"] == "generate_stream" else self._generate
        return await answer(request, match["model"])

    async def _default_generate(self, request: web.Request, model: str) -> web.StreamResponse:
        return web.json_response({"model_name": model, "model_version": "1", "text_output": "Hello!"})


def _streamer(events_of: Callable[[str], Sequence[bytes]], cut: bool = False) -> Answer:
    async def answer(request: web.Request, model: str) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8"})
        await response.prepare(request)
        for item in events_of(model):
            await response.write(item)
        if cut:
            assert request.transport is not None
            request.transport.close()  # what was written goes out, then FIN: no terminating chunk
        else:
            await response.write_eof()
        return response

    return answer
