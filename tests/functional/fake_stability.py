"""A fake Stability AI API: a real aiohttp server speaking its v1 and v2beta image generation wire.

``POST /v1/generation/{engine}/text-to-image`` takes JSON and answers ``{"artifacts": [...]}`` (one
per ``samples``); ``POST /v2beta/stable-image/generate/{core|ultra|sd3}`` takes multipart/form-data
and, asked ``Accept: application/json``, answers ``{"image", "finish_reason", "seed"}`` (anything
else is Stability's 400 for the wrong accept type). Each request is recorded with its form fields or
JSON body. :meth:`FakeStability.fail` programs Stability's error bodies.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web
from multidict import CIMultiDictProxy

from tests.functional.recording_fake import RecordingFake

V2_MODELS = frozenset({"core", "ultra", "sd3"})


def image(index: int) -> str:
    """The base64 'image' the fake answers with for image ``index``."""
    return base64.b64encode(f"png-bytes-{index}".encode()).decode()


@dataclass(frozen=True)
class Request:
    path: str
    headers: CIMultiDictProxy[str]
    #: The JSON body (v1) or the form fields (v2beta).
    fields: dict[str, Any]


class FakeStability(RecordingFake[Request]):
    def __init__(self) -> None:
        super().__init__()
        self._failure: tuple[int, dict[str, Any]] | None = None

    def fail(self, status: int, body: dict[str, Any]) -> None:
        self._failure = (status, body)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/generation/{engine}/text-to-image", self._v1)
        app.router.add_post("/v2beta/stable-image/generate/{model}", self._v2)
        return app

    async def _v1(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        self.received.append(Request(request.path, request.headers, body))
        if self._failure is not None:
            return web.json_response(self._failure[1], status=self._failure[0])
        artifacts = [
            {"base64": image(i), "finishReason": "SUCCESS", "seed": 1000 + i}
            for i in range(body.get("samples", 1))
        ]
        return web.json_response({"artifacts": artifacts})

    async def _v2(self, request: web.Request) -> web.Response:
        form = await request.post()
        self.received.append(Request(request.path, request.headers, {k: str(v) for k, v in form.items()}))
        if self._failure is not None:
            return web.json_response(self._failure[1], status=self._failure[0])
        if request.match_info["model"] not in V2_MODELS:
            return web.json_response({"name": "not_found", "errors": ["Not Found"]}, status=404)
        if request.headers.get("Accept") != "application/json":
            errors = ["accept: must be image/* or application/json"]
            return web.json_response({"id": "a1", "name": "bad_request", "errors": errors}, status=400)
        return web.json_response({"image": image(0), "finish_reason": "SUCCESS", "seed": 42})
