"""A fake Nomic Atlas API: a real aiohttp server speaking its text embedding wire.

``POST /v1/embedding/text`` takes ``{"texts", "model", "task_type"?, "dimensionality"?}`` and answers
``{"embeddings", "usage": {"prompt_tokens", "total_tokens"}, "model", "inference_mode"}`` (vector i is
``[i, 0.5, ...]``, ``dimensionality`` long, 4 by default). A body without ``texts`` is FastAPI's
422 validation error; :meth:`FakeNomic.fail` programs another error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web
from multidict import CIMultiDictProxy

from tests.functional.recording_fake import RecordingFake

PATH = "/v1/embedding/text"


@dataclass(frozen=True)
class Request:
    path: str
    headers: CIMultiDictProxy[str]
    body: dict[str, Any]


class FakeNomic(RecordingFake[Request]):
    def __init__(self) -> None:
        super().__init__()
        self._failure: tuple[int, dict[str, Any]] | None = None

    @property
    def base_url(self) -> str:
        """What a caller gives as x-portkey-custom-host (Nomic's base ends in /v1)."""
        return f"{self.host}/v1"

    def fail(self, status: int, body: dict[str, Any]) -> None:
        self._failure = (status, body)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post(PATH, self._embed)
        return app

    async def _embed(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        self.received.append(Request(request.path, request.headers, body))
        if self._failure is not None:
            return web.json_response(self._failure[1], status=self._failure[0])
        texts = body.get("texts")
        if not isinstance(texts, list):
            detail = [{"loc": ["body", "texts"], "msg": "field required", "type": "value_error.missing"}]
            return web.json_response({"detail": detail}, status=422)
        size = body.get("dimensionality") or 4
        vectors = [[float(i)] + [0.5] * (size - 1) for i in range(len(texts))]
        tokens = 3 * len(texts)
        return web.json_response(
            {
                "embeddings": vectors,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                "model": body["model"],
                "inference_mode": "remote",
            }
        )
