"""A fake Microsoft Entra ID token endpoint and Azure IMDS: a real aiohttp server that records forms.

``POST /{tenant}/oauth2/v2.0/token`` answers the client-credentials grant (a client secret, or a
client assertion for workload identity); ``GET /metadata/identity/oauth2/token`` answers like IMDS
(only with ``Metadata: true``). Every token issued is new (``token-1``, ``token-2``...), so a test
sees which fetch a request's token came from.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy


@dataclass
class TokenRequest:
    method: str
    path: str
    fields: MultiDictProxy[str]  # the form (POST) or the query (IMDS)
    headers: Any


class FakeEntra:
    def __init__(self) -> None:
        self.requests: list[TokenRequest] = []
        self.port = 0
        self.expires_in: int | str = 3599
        #: ``(status, JSON body)`` to answer instead of a token.
        self.failure: tuple[int, dict[str, Any]] | None = None
        #: Seconds to wait before answering (lets concurrent requests pile up on one fetch).
        self.delay = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def imds_url(self) -> str:
        return f"{self.url}/metadata/identity/oauth2/token"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self._token)
        app.router.add_get("/metadata/identity/oauth2/token", self._imds)
        return app

    async def _token(self, request: web.Request) -> web.Response:
        self.requests.append(TokenRequest("POST", request.path, await request.post(), request.headers))  # type: ignore[arg-type]
        return await self._answer()

    async def _imds(self, request: web.Request) -> web.Response:
        if request.headers.get("Metadata") != "true":
            return web.json_response({"error": "invalid_request"}, status=400)
        self.requests.append(TokenRequest("GET", request.path, request.query, request.headers))
        return await self._answer()

    async def _answer(self) -> web.Response:
        await asyncio.sleep(self.delay)
        if self.failure is not None:
            return web.json_response(self.failure[1], status=self.failure[0])
        token = f"token-{len(self.requests)}"
        return web.json_response(
            {"token_type": "Bearer", "expires_in": self.expires_in, "access_token": token}
        )
