"""Google's wire format for the fake provider: Gemini and Vertex AI answers, streams and tokens.

The fake itself is :class:`tests.fake_provider.FakeProvider` (it records every request); these
responders make it answer as Google does: JSON ``GenerateContentResponse`` bodies, SSE streams of
them framed with CRLF and no terminal event, ``{"error": {code, message, status}}`` errors, and an
OAuth2 token endpoint for service-account keys.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fake_provider import Received, Responder

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gemini"
SSE_HEADERS = {"Content-Type": "text/event-stream"}


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def events_of(stream: bytes) -> list[bytes]:
    """A Gemini SSE body split after each event (each ends in a blank CRLF line)."""
    return [event + b"\r\n\r\n" for event in stream.split(b"\r\n\r\n") if event]


def payloads_of(stream: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(event.strip()[len(b"data: ") :]) for event in events_of(stream)]


def sse(*payloads: dict[str, Any]) -> bytes:
    return b"".join(b"data: " + orjson.dumps(payload) + b"\r\n\r\n" for payload in payloads)


def answer(
    parts: list[dict[str, Any]] | None = None,
    *,
    finish: str | None = "STOP",
    counts: dict[str, int] | None = None,
    response_id: str = "resp-1",
    model: str = "gemini-2.0-flash",
) -> dict[str, Any]:
    """A ``GenerateContentResponse`` with one candidate."""
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts or []}, "index": 0}
    if finish is not None:
        candidate["finishReason"] = finish
    result: dict[str, Any] = {"candidates": [candidate], "modelVersion": model, "responseId": response_id}
    if counts is not None:
        result["usageMetadata"] = counts
    return result


def json_reply(payload: Any, status: int = 200) -> Responder:
    async def respond(request: web.Request, received: Received) -> web.StreamResponse:
        return web.json_response(payload, status=status)

    return respond


def models_reply(models: Sequence[dict[str, Any]], page_cap: int = 1000) -> Responder:
    """``GET /v1beta/models`` as Gemini pages it: at most ``pageSize`` (default 50, and never more
    than ``page_cap``) models from ``pageToken``, with ``nextPageToken`` while more remain."""

    async def respond(request: web.Request, received: Received) -> web.StreamResponse:
        start = int(request.query.get("pageToken") or 0)
        size = min(int(request.query.get("pageSize", "50")), page_cap)
        answer: dict[str, Any] = {"models": list(models[start : start + size])}
        if start + size < len(models):
            answer["nextPageToken"] = str(start + size)
        return web.json_response(answer)

    return respond


def model(name: str, display_name: str) -> dict[str, Any]:
    """One ``Model`` of Gemini's models.list answer (its name is ``models/{id}``)."""
    return {
        "name": f"models/{name}",
        "version": "001",
        "displayName": display_name,
        "inputTokenLimit": 1048576,
        "outputTokenLimit": 8192,
        "supportedGenerationMethods": ["generateContent", "countTokens"],
    }


def error_reply(status: int, message: str, code: str) -> Responder:
    return json_reply({"error": {"code": status, "message": message, "status": code}}, status)


def stream_reply(
    events: Sequence[bytes], acks: asyncio.Queue[None] | None = None, cut: bool = False
) -> Responder:
    """Writes ``events`` one by one; with ``acks``, waits for one after each but the last. ``cut``
    closes the connection after the last event without ending the body."""

    async def respond(request: web.Request, received: Received) -> web.StreamResponse:
        response = web.StreamResponse(headers=SSE_HEADERS)
        await response.prepare(request)
        for index, event in enumerate(events):
            await response.write(event)
            if acks is not None and index < len(events) - 1:
                await acks.get()
        if cut:
            assert request.transport is not None
            request.transport.close()
        else:
            await response.write_eof()
        return response

    return respond


def token_endpoint(token: str) -> Responder:
    """Google's OAuth2 token endpoint for the JWT bearer grant (it does not check the signature)."""

    async def respond(request: web.Request, received: Received) -> web.StreamResponse:
        return web.json_response({"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    return respond


def service_account_json(token_uri: str, project_id: str = "key-project") -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    info = {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": "key-1",
        "private_key": pem,
        "client_email": "gateway@key-project.iam.gserviceaccount.com",
        "token_uri": token_uri,
    }
    return orjson.dumps(info).decode()
