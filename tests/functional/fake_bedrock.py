"""A fake Bedrock: a real aiohttp server speaking Converse, ConverseStream and InvokeModel (the
runtime) and ListFoundationModels / GetFoundationModel (the control plane).

Like AWS, it checks every request's SigV4 signature before anything else: it recomputes the
signature from the method, the URL as received (Host and port included), the signed headers and
the body with the secret it knows for the access key, and answers AWS's 403 when they differ.
A Bedrock API key (``Authorization: Bearer``) is checked against :data:`API_KEY`. Streams are
real ``application/vnd.amazon.eventstream`` frames; tests queue answers with :meth:`FakeBedrock.answer`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import orjson
from aiohttp import web
from multidict import CIMultiDictProxy

from gateway.streaming.eventstream import encode_frame
from gateway.upstream.sigv4 import AwsCredentials, sign

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bedrock"
REGION = "eu-west-3"
ACCESS_KEY = "AKIAFAKEBEDROCK01"
SECRET_KEY = "fake/Secret+Key/For/Signing/Tests0000000"
SESSION_TOKEN = "FwoGZXIvYXdzEXAMPLEsessiontoken//+=="
API_KEY = "bedrock-api-key-ABSKfake"
#: The secrets this fake knows, by access key id.
SECRETS = {ACCESS_KEY: SECRET_KEY}
EVENT_STREAM = "application/vnd.amazon.eventstream"
#: The control plane's path (a custom host stands for both Bedrock hosts).
FOUNDATION_MODELS = "/foundation-models"

Answer = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Call:
    """One request the fake received, after its signature was checked."""

    path: str  # raw: the model id percent-encoded as sent
    model: str
    action: str
    headers: CIMultiDictProxy[str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)

    @property
    def signed_headers(self) -> list[str]:
        return self.headers["Authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")


class FakeBedrock:
    def __init__(self, region: str = REGION) -> None:
        self.region = region
        #: The secrets it knows by access key id (a test adds temporary ones from a fake STS).
        self.secrets = dict(SECRETS)
        self.calls: list[Call] = []
        self._answers: list[Answer] = []
        self.port = 0
        #: What the control plane's ListFoundationModels lists (``FoundationModelSummary`` objects).
        self.models: list[dict[str, Any]] = []

    @property
    def host(self) -> str:
        """What a caller gives as x-portkey-custom-host for Bedrock."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def headers(self) -> dict[str, str]:
        """The Portkey headers that send a request here, with this fake's AWS credentials."""
        return {
            "x-portkey-provider": "bedrock",
            "x-portkey-custom-host": self.host,
            "x-portkey-aws-region": REGION,
            "x-portkey-aws-access-key-id": ACCESS_KEY,
            "x-portkey-aws-secret-access-key": SECRET_KEY,
        }

    @property
    def last(self) -> Call:
        return self.calls[-1]

    def answer(self, *answers: Answer) -> None:
        """Queue answers, one per request; with none queued a request gets :func:`converse`'s."""
        self._answers.extend(answers)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        refusal = self._refusal(request, body)
        if refusal is not None:
            return web.json_response({"message": refusal}, status=403)
        if request.path.startswith(FOUNDATION_MODELS):
            return self._foundation_models(request, body)
        _, model, action = request.raw_path.rsplit("/", 2)
        self.calls.append(Call(request.raw_path, unquote(model), action, request.headers, body))
        answer = self._answers.pop(0) if self._answers else json_answer(converse("Hi there."))
        return await answer(request)

    def _foundation_models(self, request: web.Request, body: bytes) -> web.StreamResponse:
        """The control plane: ListFoundationModels (``{"modelSummaries": [...]}``, one page) and
        GetFoundationModel (``{"modelDetails": {...}}``), recorded like the runtime's calls."""
        model_id = unquote(request.raw_path[len(FOUNDATION_MODELS) + 1 :])
        self.calls.append(Call(request.raw_path, model_id, "", request.headers, body))
        if not model_id:
            return web.json_response({"modelSummaries": self.models})
        for model in self.models:
            if model["modelId"] == model_id:
                return web.json_response({"modelDetails": model})
        return web.json_response({"message": "The provided model identifier is invalid."}, status=400)

    def _refusal(self, request: web.Request, body: bytes) -> str | None:
        """AWS's reason to refuse the request's credentials, or ``None`` when they are good."""
        authorization = request.headers.get("Authorization", "")
        if authorization.startswith("Bearer "):
            return None if authorization == f"Bearer {API_KEY}" else "Invalid API Key format."
        if not authorization.startswith("AWS4-HMAC-SHA256 "):
            return "Missing Authentication Token"
        if authorization != self.expected_authorization(request, body):
            return "The request signature we calculated does not match the signature you provided."
        return None

    def expected_authorization(self, request: web.Request, body: bytes) -> str:
        """The Authorization header AWS would compute for this request, region and service."""
        authorization = request.headers["Authorization"]
        key_id = authorization.split("Credential=")[1].split("/")[0]
        signed = authorization.split("SignedHeaders=")[1].split(",")[0].split(";")
        # host, x-amz-date and the token are what ``sign`` sets itself, from the URL and arguments.
        headers = {name: request.headers[name] for name in signed if name not in ("host", "x-amz-date")}
        headers.pop("x-amz-security-token", None)
        now = datetime.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        token = request.headers.get("X-Amz-Security-Token", "")
        credentials = AwsCredentials(key_id, self.secrets.get(key_id, "unknown"), token)
        url = f"http://{request.host}{request.raw_path}"
        added = sign(request.method, url, headers, body, credentials, self.region, "bedrock", now)
        return added["Authorization"]


# --- answers ---------------------------------------------------------------------------------


def foundation_model(model_id: str, name: str, provider: str) -> dict[str, Any]:
    """One ``FoundationModelSummary`` of ListFoundationModels."""
    return {
        "modelArn": f"arn:aws:bedrock:{REGION}::foundation-model/{model_id}",
        "modelId": model_id,
        "modelName": name,
        "providerName": provider,
        "inputModalities": ["TEXT"],
        "outputModalities": ["TEXT"],
        "responseStreamingSupported": True,
        "modelLifecycle": {"status": "ACTIVE"},
    }


def converse(
    text: str | None = None,
    *,
    stop: str = "end_turn",
    content: Sequence[dict[str, Any]] = (),
    usage: dict[str, int] | None = None,
) -> dict[str, Any]:
    """A Converse answer body."""
    blocks = [*content, *([{"text": text}] if text is not None else [])]
    return {
        "output": {"message": {"role": "assistant", "content": blocks}},
        "stopReason": stop,
        "usage": usage or {"inputTokens": 9, "outputTokens": 4, "totalTokens": 13},
        "metrics": {"latencyMs": 120},
    }


def json_answer(payload: Any, status: int = 200) -> Answer:
    async def respond(request: web.Request) -> web.StreamResponse:
        return web.json_response(payload, status=status)

    return respond


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def event(kind: str, payload: dict[str, Any]) -> bytes:
    """One event frame as ConverseStream sends it, padding field included."""
    headers = {":event-type": kind, ":content-type": "application/json", ":message-type": "event"}
    return encode_frame(headers, orjson.dumps({**payload, "p": "abcdefghijklmnop"[: len(kind)]}))


def exception(kind: str, message: str) -> bytes:
    headers = {":exception-type": kind, ":content-type": "application/json", ":message-type": "exception"}
    return encode_frame(headers, orjson.dumps({"message": message}))


def stream_fixture(name: str) -> list[bytes]:
    """The frames of a ``tests/fixtures/bedrock/*.jsonl`` stream (one ``{event, payload}`` a line)."""
    lines = (FIXTURES / name).read_text(encoding="utf-8").splitlines()
    return [event(item["event"], item["payload"]) for item in map(json.loads, lines)]


def text_stream(*texts: str, stop: str = "end_turn") -> list[bytes]:
    deltas = [event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": t}}) for t in texts]
    return [
        event("messageStart", {"role": "assistant"}),
        *deltas,
        event("contentBlockStop", {"contentBlockIndex": 0}),
        event("messageStop", {"stopReason": stop}),
        event("metadata", {"usage": {"inputTokens": 7, "outputTokens": 3, "totalTokens": 10}}),
    ]


def stream_answer(
    pieces: Sequence[bytes], acks: asyncio.Queue[None] | None = None, cut: bool = False
) -> Answer:
    """Write ``pieces`` one by one (after the client's ack of each but the last, with ``acks``); with
    ``cut`` the connection closes right after the last one (its bytes still go), with no end of body."""

    async def respond(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": EVENT_STREAM})
        await response.prepare(request)
        for index, piece in enumerate(pieces):
            await response.write(piece)
            if acks is not None and index < len(pieces) - 1:
                await acks.get()
        if cut:
            assert request.transport is not None
            request.transport.close()
        else:
            await response.write_eof()
        return response

    return respond
