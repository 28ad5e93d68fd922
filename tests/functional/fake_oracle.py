"""A fake OCI Generative AI inference API: a real aiohttp server speaking OCI's wire format.

``POST /{api version}/actions/chat`` only (anything else is OCI's 404 body). Like OCI, it checks
each request's signature (draft-cavage, ``rsa-sha256``) with the public key registered for the
key id, over the headers the request names in ``Authorization`` as they arrived, and the body's
``x-content-sha256``; a bad one is OCI's 401 ``NotAuthenticated``. Every request is recorded
(path, headers, JSON body, whether its signature verified). Answers are programmed with
:meth:`FakeOracle.reply`, :meth:`FakeOracle.stream` (data-only SSE events, as OCI sends them) or
:meth:`FakeOracle.fail`; the default is a short GENERIC text answer, streamed when asked.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from multidict import CIMultiDictProxy

from tests.functional.recording_fake import RecordingFake

CHAT = "/20231130/actions/chat"
SSE_HEADERS = {"Content-Type": "text/event-stream"}
#: The headers OCI requires a signed POST to cover.
REQUIRED = {"date", "(request-target)", "host", "content-length", "content-type", "x-content-sha256"}
_AUTHORIZATION = re.compile(
    r'Signature version="1",keyId="(?P<key_id>[^"]+)",algorithm="rsa-sha256",'
    r'headers="(?P<headers>[^"]+)",signature="(?P<signature>[^"]+)"'
)

Answer = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Request:
    path: str
    headers: CIMultiDictProxy[str]
    body: dict[str, Any]
    #: The key id the signature named, when it verified; ``None`` otherwise.
    signed_by: str | None


def event(payload: dict[str, Any]) -> bytes:
    """One OCI stream event: data-only, as OCI sends them."""
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def text_event(text: str) -> bytes:
    return event({"index": 0, "message": {"role": "ASSISTANT", "content": [{"type": "TEXT", "text": text}]}})


def finish_event(reason: str = "stop") -> bytes:
    return event({"index": 0, "message": {"role": "ASSISTANT"}, "finishReason": reason})


def usage_event(prompt: int = 12, completion: int = 3) -> bytes:
    return event(
        {
            "usage": {
                "promptTokens": prompt,
                "completionTokens": completion,
                "totalTokens": prompt + completion,
            }
        }
    )


def chat_answer(text: str = "Hello!", finish: str = "stop", **message: Any) -> dict[str, Any]:
    """A GENERIC chat answer, as OCI's ChatResult documents it."""
    content = [{"type": "TEXT", "text": text}] if text else []
    return {
        "modelId": "meta.llama-3.3-70b-instruct",
        "modelVersion": "1.0.0",
        "chatResponse": {
            "apiFormat": "GENERIC",
            "timeCreated": "2026-01-05T21:31:40.123Z",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "ASSISTANT", "content": content, **message},
                    "finishReason": finish,
                }
            ],
            "usage": {
                "promptTokens": 12,
                "completionTokens": 3,
                "totalTokens": 15,
                "promptTokensDetails": {"cachedTokens": 4},
            },
        },
    }


class FakeOracle(RecordingFake[Request]):
    def __init__(self) -> None:
        super().__init__()
        #: key id (``tenancy/user/fingerprint``) → the public key its signatures verify with.
        self.keys: dict[str, rsa.RSAPublicKey] = {}
        self._answer: Answer = self._default_chat

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    def reply(self, body: dict[str, Any]) -> None:
        async def answer(request: web.Request) -> web.StreamResponse:
            return web.json_response(body, headers={"opc-request-id": "req-1"})

        self._answer = answer

    def fail(self, status: int, code: str, message: str) -> None:
        """OCI's error body, ``{"code", "message"}``."""

        async def answer(request: web.Request) -> web.StreamResponse:
            return web.json_response({"code": code, "message": message}, status=status)

        self._answer = answer

    def stream(self, events: Sequence[bytes], acks: asyncio.Queue[None] | None = None) -> None:
        """Answer with ``events``; with ``acks``, each next event waits for the client's ack."""
        self._answer = _streamer(events, acks)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body = orjson.loads(raw) if raw else {}
        signed_by = self._verified(request, raw)
        self.received.append(Request(request.path, request.headers, body, signed_by))
        if request.method != "POST" or not re.fullmatch(r"/\d{8}/actions/chat", request.path):
            return web.json_response({"code": "NotFound", "message": "Not found"}, status=404)
        if signed_by is None:
            return web.json_response(
                {
                    "code": "NotAuthenticated",
                    "message": "The required information to complete authentication "
                    "was not provided or was incorrect.",
                },
                status=401,
            )
        return await self._answer(request)

    def _verified(self, request: web.Request, raw: bytes) -> str | None:
        """The key id of a valid signature over what arrived; ``None`` for anything else."""
        match = _AUTHORIZATION.fullmatch(request.headers.get("Authorization", ""))
        if match is None or match["key_id"] not in self.keys:
            return None
        names = match["headers"].split(" ")
        digest = base64.b64encode(hashlib.sha256(raw).digest()).decode()
        if not set(names) >= REQUIRED or request.headers.get("x-content-sha256") != digest:
            return None
        target = f"{request.method.lower()} {request.raw_path}"
        lines = [
            f"{name}: {target if name == '(request-target)' else request.headers.get(name, '')}"
            for name in names
        ]
        try:
            self.keys[match["key_id"]].verify(
                base64.b64decode(match["signature"]),
                "\n".join(lines).encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except InvalidSignature:
            return None
        return match["key_id"]

    async def _default_chat(self, request: web.Request) -> web.StreamResponse:
        if self.last.body.get("chatRequest", {}).get("isStream"):
            events = [text_event("Hello"), text_event(", world!"), finish_event(), usage_event()]
            return await _streamer(events)(request)
        return web.json_response(chat_answer())


def _streamer(events: Sequence[bytes], acks: asyncio.Queue[None] | None = None) -> Answer:
    async def answer(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers=SSE_HEADERS)
        await response.prepare(request)
        for index, item in enumerate(events):
            await response.write(item)
            if acks is not None and index < len(events) - 1:
                await acks.get()
        await response.write_eof()
        return response

    return answer
