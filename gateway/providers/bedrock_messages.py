"""Anthropic's Messages API on Bedrock, natively: ``/v1/messages`` for Claude models
(``anthropic.claude-…``, or an inference profile such as ``us.anthropic.claude-…``) through
InvokeModel.

Request: the client's Messages body minus ``model`` (it is in the URL) and ``stream`` (the action
says it), plus ``anthropic_version: bedrock-2023-05-31``; an ``anthropic-beta`` header becomes the
body's ``anthropic_beta`` list, where Bedrock reads it. ``/model/{id}/invoke`` answers Anthropic's
message JSON, relayed as is. ``/invoke-with-response-stream`` answers eventstream frames whose
``bytes`` field is the base64 of one Anthropic event: each is sent on as the SSE event Anthropic
itself sends (``event: <type>``, ``data:`` the event's JSON bytes unchanged). AWS errors get
Anthropic's error shape.

``/v1/messages/count_tokens`` goes to Bedrock's CountTokens (:class:`BedrockCountTokens`): the same
InvokeModel body, base64-encoded in ``{"input": {"invokeModel": {"body": ...}}}``, to
``/model/{id}/count-tokens``; its ``{"inputTokens": n}`` is answered as Anthropic's
``{"input_tokens": n}``.
"""

from __future__ import annotations

import binascii
from base64 import b64decode, b64encode
from collections.abc import Mapping
from typing import Any

import orjson

from gateway.errors import InvalidRequest, ProviderError, UpstreamBroken
from gateway.providers.anthropic import version_headers
from gateway.providers.anthropic_answers import ERROR_STATUS, usage_of
from gateway.providers.base import ClientBody, Credentials, NativeRequest, PreparedRequest, UpstreamCall
from gateway.providers.bedrock_access import EVENT_STREAM, authorize, model_url
from gateway.providers.bedrock_answers import EXCEPTION_STATUS, SLUG
from gateway.providers.translated import json_object, prepared_through
from gateway.streaming.eventstream import EventStreamDecoder, EventStreamError, Frame

__all__ = [
    "ANTHROPIC_VERSION",
    "BedrockCountTokens",
    "BedrockMessages",
    "InvokeStream",
    "anthropic_error",
]

#: Sent in the body, as Bedrock requires for Anthropic models.
ANTHROPIC_VERSION = "bedrock-2023-05-31"
#: Fields of the client's body that Bedrock takes elsewhere (the URL, the action).
_ELSEWHERE = frozenset({"model", "stream"})
_JSON = "application/json"
#: Sent as ``max_tokens`` when counting a body without one: InvokeModel's Anthropic body requires
#: the field, and the output limit does not change the input's count.
_COUNT_MAX_TOKENS = 1
#: Status → Anthropic's error type (the reverse of what ``anthropic_answers`` reads).
_ERROR_TYPES = {status: kind for kind, status in ERROR_STATUS.items()}


class BedrockMessages:
    """``messages`` → ``POST {base}/model/{id}/invoke`` (or ``/invoke-with-response-stream``):
    a :class:`~gateway.providers.translated.NativeEndpoint` and the
    :class:`~gateway.providers.base.Translation` that reads its answers."""

    __slots__ = ()

    def serves(self, model: str) -> bool:
        return _is_claude(model)

    def prepare(self, call: UpstreamCall, body: ClientBody) -> PreparedRequest:
        return prepared_through(self, call, body)

    def request(self, call: UpstreamCall, body: dict[str, Any]) -> NativeRequest:
        model, native = invoke_body(call, body)
        stream = InvokeStream() if body.get("stream") is True else None
        action, accept = ("invoke-with-response-stream", EVENT_STREAM) if stream else ("invoke", _JSON)
        headers = {"Content-Type": _JSON, "Accept": accept}
        return NativeRequest(model_url(call, model, action), orjson.dumps(native), headers, model, stream)

    async def authorize(self, native: NativeRequest, credentials: Credentials) -> None:
        await authorize(native, credentials)

    def read_body(self, status: int, body: bytes, native: NativeRequest) -> bytes:
        """Anthropic's message as Bedrock sent it; an AWS error in Anthropic's error shape."""
        if status < 400:
            return body
        return orjson.dumps(anthropic_error(status, _aws_message(body) or f"Bedrock answered {status}."))


class BedrockCountTokens(BedrockMessages):
    """``messages/count_tokens`` → ``POST {base}/model/{id}/count-tokens`` (CountTokens): the body
    InvokeModel would get, base64 in ``input.invokeModel.body``; the answer's ``inputTokens`` as
    Anthropic's ``input_tokens``."""

    __slots__ = ()

    def request(self, call: UpstreamCall, body: dict[str, Any]) -> NativeRequest:
        model, native = invoke_body(call, body)
        native.setdefault("max_tokens", _COUNT_MAX_TOKENS)
        counted = {"input": {"invokeModel": {"body": b64encode(orjson.dumps(native)).decode()}}}
        headers = {"Content-Type": _JSON, "Accept": _JSON}
        return NativeRequest(model_url(call, model, "count-tokens"), orjson.dumps(counted), headers, model)

    def read_body(self, status: int, body: bytes, native: NativeRequest) -> bytes:
        if status >= 400:
            return super().read_body(status, body, native)
        counted = json_object(SLUG, body).get("inputTokens")
        if not isinstance(counted, int):
            raise ProviderError(SLUG, 502, "CountTokens answered no inputTokens.", "bad_upstream_response")
        return orjson.dumps({"input_tokens": counted})


def invoke_body(call: UpstreamCall, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The model id and InvokeModel's body for a Messages request (a 400 for a model that is not
    Claude): the client's fields minus :data:`_ELSEWHERE`, plus ``anthropic_version`` and the
    ``anthropic-beta`` flags as ``anthropic_beta``."""
    model = body.get("model")
    if not isinstance(model, str) or not _is_claude(model):
        raise InvalidRequest(
            f"Provider bedrock serves /v1/{call.endpoint} for Anthropic models (anthropic.claude-…, or "
            "an inference profile such as us.anthropic.claude-…); name one in 'model'.",
            param="model",
            code="unsupported_model",
        )
    native = {name: value for name, value in body.items() if name not in _ELSEWHERE}
    native.setdefault("anthropic_version", ANTHROPIC_VERSION)
    beta = version_headers(call).get("anthropic-beta", "")
    if beta and "anthropic_beta" not in native:
        native["anthropic_beta"] = [flag.strip() for flag in beta.split(",") if flag.strip()]
    return model, native


def _is_claude(model: str) -> bool:
    """A Claude model id or inference profile (``anthropic.claude-…``, ``us.anthropic.claude-…``)."""
    return "anthropic." in model


def anthropic_error(status: int, message: str) -> dict[str, Any]:
    """Anthropic's error body for ``status`` (its type named as Anthropic names that status)."""
    kind = _ERROR_TYPES.get(status, "invalid_request_error" if status < 500 else "api_error")
    return {"type": "error", "error": {"type": kind, "message": message}}


def _aws_message(body: bytes) -> str:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ""
    message = (parsed.get("message") or parsed.get("Message")) if isinstance(parsed, dict) else None
    return message if isinstance(message, str) else ""


class InvokeStream:
    """One InvokeModelWithResponseStream body as Anthropic's event stream, frame by frame (a
    :class:`~gateway.providers.base.StreamTranslator` whose output is Anthropic's, not OpenAI's).

    An AWS exception before any event went out raises :class:`ProviderError` (its status can still
    be answered, retried or fallen back from); after, it is Anthropic's in-band ``error`` event.
    Only ``message_stop`` (or an error event) completes the stream: anything else is a cut one.
    """

    __slots__ = ("_counts", "_decoder", "_done", "_started")

    def __init__(self) -> None:
        self._decoder = EventStreamDecoder()
        self._counts: dict[str, Any] = {}
        self._done = False
        self._started = False

    @property
    def usage(self) -> dict[str, Any] | None:
        return usage_of(self._counts) if self._counts else None

    def feed(self, data: bytes) -> bytes:
        try:
            frames = self._decoder.feed(data)
        except EventStreamError as exc:
            raise UpstreamBroken(f"Provider {SLUG} sent a corrupt event stream ({exc}).") from None
        events = b"".join([self._event(frame) for frame in frames])
        self._started = self._started or bool(events)
        return events

    def end(self) -> bytes:
        if self._decoder.pending or not self._done:
            raise UpstreamBroken(f"Provider {SLUG} ended the stream before it was complete.")
        return b""

    def _event(self, frame: Frame) -> bytes:
        headers = frame.headers
        kind = headers.get(":message-type")
        if kind == "event":
            return self._chunk(frame.payload)
        if kind == "exception":
            name = str(headers.get(":exception-type") or "exception")
            message = _aws_message(frame.payload) or name
            return self._failed(EXCEPTION_STATUS.get(name.lower(), 500), message, name)
        if kind == "error":
            code = str(headers.get(":error-code") or "error")
            return self._failed(500, str(headers.get(":error-message") or code), code)
        return b""  # message types added after this was written

    def _chunk(self, payload: bytes) -> bytes:
        try:
            data = b64decode(orjson.loads(payload)["bytes"], validate=True)
            event = orjson.loads(data)
            name = event["type"]
        except (orjson.JSONDecodeError, binascii.Error, KeyError, TypeError):
            broken = f"Provider {SLUG} sent a stream chunk that is not an Anthropic event."
            raise UpstreamBroken(broken) from None
        if name == "message_start":
            self._count((event.get("message") or {}).get("usage"))
        elif name == "message_delta":
            self._count(event.get("usage"))
        elif name in ("message_stop", "error"):
            self._done = True
        return b"event: " + str(name).encode() + b"\ndata: " + data + b"\n\n"

    def _count(self, counts: Mapping[str, Any] | None) -> None:
        """Input counts come with ``message_start``, output counts with ``message_delta``."""
        if counts:
            self._counts.update((k, v) for k, v in counts.items() if v is not None)

    def _failed(self, status: int, message: str, code: str) -> bytes:
        if not self._started:
            raise ProviderError(SLUG, status, message, code)
        self._done = True
        return b"event: error\ndata: " + orjson.dumps(anthropic_error(status, message)) + b"\n\n"
