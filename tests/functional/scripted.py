"""A fake provider's scripted answers, one per request, for tests of retries and fallbacks."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from tests.fake_provider import Received

COMPLETION = {"id": "chatcmpl-9", "object": "chat.completion", "created": 1, "model": "m", "choices": []}


class Script:
    """Answers from a list, one per request (the last one repeats), noting when each request came.

    Each answer is ``(status, headers)`` or ``(status, headers, body)``: status ``0`` resets the
    connection before any response; a float is seconds of silence, then a 200. Without a body, a
    200 is :data:`COMPLETION` and any other status an OpenAI-shaped error.
    """

    def __init__(self, *answers: tuple[Any, ...]) -> None:
        self.answers = list(answers)
        self.times: list[float] = []

    async def __call__(self, request: web.Request, received: Received) -> web.StreamResponse:
        self.times.append(time.monotonic())
        status, headers, *rest = self.answers[min(len(self.times), len(self.answers)) - 1]
        if status == 0:
            assert request.transport is not None
            request.transport.abort()
            return web.Response()
        if isinstance(status, float):
            await asyncio.sleep(status)
            status = 200
        body = rest[0] if rest and rest[0] is not None else None
        if body is None:
            body = COMPLETION if status == 200 else {"error": {"message": f"status {status}", "code": None}}
        return web.json_response(body, status=status, headers=headers)

    @property
    def gaps(self) -> list[float]:
        return [b - a for a, b in zip(self.times, self.times[1:], strict=False)]
