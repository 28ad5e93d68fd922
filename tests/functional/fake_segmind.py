"""A fake Segmind serverless API: a real aiohttp server speaking its image model wire.

``POST /v1/{model}`` with ``x-api-key``: a wrong key is Segmind's 401 ``{"error": ...}``, an unknown
model its 404; with ``base64: true`` the answer is ``{"image": <base64>}`` (a list when ``samples`` >
1), without it the image bytes themselves (``image/jpeg``), as Segmind answers. Requests are recorded.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web
from multidict import CIMultiDictProxy

from tests.functional.recording_fake import RecordingFake

API_KEY = "SG_fake_segmind_key"
MODELS = frozenset({"sdxl1.0-txt2img", "flux-schnell"})


def image(index: int) -> str:
    return base64.b64encode(f"jpeg-{index}".encode()).decode()


@dataclass(frozen=True)
class Request:
    path: str
    headers: CIMultiDictProxy[str]
    body: dict[str, Any]


class FakeSegmind(RecordingFake[Request]):
    def __init__(self) -> None:
        super().__init__()
        #: (status, body) answered instead of an image once the key is checked.
        self.failure: tuple[int, dict[str, Any]] | None = None

    @property
    def base_url(self) -> str:
        """What a caller gives as x-portkey-custom-host (Segmind's base ends in /v1)."""
        return f"{self.host}/v1"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/{model}", self._generate)
        return app

    async def _generate(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        self.received.append(Request(request.path, request.headers, body))
        if request.headers.get("x-api-key") != API_KEY:
            return web.json_response({"error": "Unauthorized: invalid API key"}, status=401)
        if self.failure is not None:
            return web.json_response(self.failure[1], status=self.failure[0])
        if request.match_info["model"] not in MODELS:
            return web.json_response({"error": "Model not found"}, status=404)
        if body.get("base64") is not True:
            return web.Response(body=b"\xff\xd8jpeg", content_type="image/jpeg")
        samples = body.get("samples", 1)
        images = [image(i) for i in range(samples)]
        return web.json_response({"image": images if samples > 1 else images[0], "status": "Success"})
