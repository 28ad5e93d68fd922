"""A fake Cohere API: a real aiohttp server speaking Cohere's v2 wire format.

``POST /v2/chat``, ``POST /v2/embed``, ``POST /v2/rerank``, and List Models / Get a Model (``GET
/v1/models``, paged by ``page_token``, and ``/v1/models/{name}``) only (anything else is Cohere's 404
body). Every request is recorded (path, headers, JSON body). Answers are programmed per path with
:meth:`FakeCohere.reply`, :meth:`FakeCohere.stream` (named SSE events ending in ``data: [DONE]``, as
Cohere sends them; in lock-step with the client when given an ack queue) or :meth:`FakeCohere.fail`;
the defaults are a short text answer, float embeddings sized by ``output_dimension``, and a ranking
that puts the documents in reverse order (``top_n`` of them).
"""

from __future__ import annotations

import asyncio
import base64
import re
import struct
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from multidict import CIMultiDictProxy

CHAT = "/v2/chat"
EMBED = "/v2/embed"
MODELS = "/v1/models"
RERANK = "/v2/rerank"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cohere"
DONE = b"data: [DONE]\n\n"
SSE_HEADERS = {"Content-Type": "text/event-stream"}

Answer = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Request:
    path: str
    headers: CIMultiDictProxy[str]
    body: dict[str, Any]


def event(payload: dict[str, Any]) -> bytes:
    """One Cohere stream event: named after its ``type``, as Cohere names them."""
    return b"event: " + payload["type"].encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def fixture_events(name: str) -> list[bytes]:
    """A stream fixture from tests/fixtures/cohere split into its events (``[DONE]`` included)."""
    body = (FIXTURES / name).read_bytes()
    return [part for part in re.split(rb"(?<=\n\n)", body) if part]


def payloads(events: Sequence[bytes]) -> list[dict[str, Any]]:
    """The JSON of each event's ``data:`` line, ``[DONE]`` left out."""
    found = []
    for item in events:
        data = item.split(b"data: ", 1)[1].strip()
        if data != b"[DONE]":
            found.append(orjson.loads(data))
    return found


def chat_answer(text: str = "Hello!", finish: str = "COMPLETE", **message: Any) -> dict[str, Any]:
    return {
        "id": "c0ffee00-0000-4000-8000-000000000001",
        "message": {"role": "assistant", "content": [{"type": "text", "text": text}], **message},
        "finish_reason": finish,
        "usage": {
            "billed_units": {"input_tokens": 5, "output_tokens": 3},
            "tokens": {"input_tokens": 71, "output_tokens": 3},
        },
    }


class FakeCohere:
    def __init__(self) -> None:
        self.received: list[Request] = []
        self.port = 0
        self._answers: dict[str, Answer] = {
            CHAT: self._default_chat,
            EMBED: self._default_embed,
            RERANK: self._default_rerank,
        }
        #: What ``GET /v1/models`` lists, and the most one page holds whatever ``page_size`` asks.
        self.models: list[dict[str, Any]] = []
        self.page_cap = 1000

    @property
    def host(self) -> str:
        """What a caller gives as x-portkey-custom-host: the gateway appends /v2/..."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def last(self) -> Request:
        return self.received[-1]

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    def reply(self, body: dict[str, Any], path: str = CHAT) -> None:
        async def answer(request: web.Request) -> web.StreamResponse:
            return web.json_response(body)

        self._answers[path] = answer

    def fail(self, status: int, message: str, path: str = CHAT) -> None:
        """Cohere's v2 error body, ``{"id", "message"}``."""

        async def answer(request: web.Request) -> web.StreamResponse:
            return web.json_response(
                {"id": "e7707000-0000-4000-8000-000000000002", "message": message}, status=status
            )

        self._answers[path] = answer

    def stream(
        self, events: Sequence[bytes], acks: asyncio.Queue[None] | None = None, *, cut: bool = False
    ) -> None:
        """Answer chat with ``events``; with ``acks``, each next event waits for the client's ack.
        ``cut``: close the connection after the events, with the body unfinished."""
        self._answers[CHAT] = _streamer(events, acks, cut)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read()) if request.can_read_body else {}
        self.received.append(Request(request.path, request.headers, body))
        if request.method == "GET" and request.path.startswith(MODELS):
            return self._models(request)
        answer = self._answers.get(request.path) if request.method == "POST" else None
        if answer is None:
            return web.json_response({"id": "404", "message": f"{request.path} not found"}, status=404)
        return await answer(request)

    def _models(self, request: web.Request) -> web.StreamResponse:
        """List Models (``page_size``, ``page_token``, ``next_page_token``) and Get a Model."""
        name = request.path[len(MODELS) + 1 :]
        if name:
            found = [model for model in self.models if model["name"] == name]
            if not found:
                return web.json_response({"id": "404", "message": f"model '{name}' not found"}, status=404)
            return web.json_response(found[0])
        start = int(request.query.get("page_token") or 0)
        size = min(int(request.query.get("page_size", "20")), self.page_cap)
        answer: dict[str, Any] = {"models": self.models[start : start + size]}
        if start + size < len(self.models):
            answer["next_page_token"] = str(start + size)
        return web.json_response(answer)

    async def _default_chat(self, request: web.Request) -> web.StreamResponse:
        if self.last.body.get("stream"):
            return await _streamer(fixture_events("text.sse"), None, False)(request)
        return web.json_response(chat_answer())

    async def _default_embed(self, request: web.Request) -> web.StreamResponse:
        """Vector i is [i, 0.5, ...], in each of the ``embedding_types`` asked for (float, base64)."""
        texts = self.last.body["texts"]
        size = self.last.body.get("output_dimension") or 4
        vectors = [[float(i)] + [0.5] * (size - 1) for i in range(len(texts))]
        encoded = {
            "float": vectors,
            "base64": [base64.b64encode(struct.pack(f"<{size}f", *v)).decode() for v in vectors],
        }
        return web.json_response(
            {
                "id": "e4b00000-0000-4000-8000-000000000003",
                "embeddings": {kind: encoded[kind] for kind in self.last.body["embedding_types"]},
                "texts": texts,
                "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": 2 * len(texts)}},
                "response_type": "embeddings_by_type",
            }
        )

    async def _default_rerank(self, request: web.Request) -> web.StreamResponse:
        """Cohere's v2 rerank answer: the last document first, scores falling by 0.25."""
        count = len(self.last.body["documents"])
        order = list(reversed(range(count)))[: self.last.body.get("top_n") or count]
        results = [{"index": index, "relevance_score": 1.0 - 0.25 * rank} for rank, index in enumerate(order)]
        return web.json_response(
            {
                "id": "r3a00000-0000-4000-8000-000000000004",
                "results": results,
                "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}},
            }
        )


def _streamer(events: Sequence[bytes], acks: asyncio.Queue[None] | None, cut: bool) -> Answer:
    async def answer(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers=SSE_HEADERS)
        await response.prepare(request)
        for index, item in enumerate(events):
            await response.write(item)
            if acks is not None and index < len(events) - 1:
                await acks.get()
        if cut:
            assert request.transport is not None
            request.transport.close()  # what was written goes out, then FIN: no terminating chunk
        else:
            await response.write_eof()
        return response

    return answer
