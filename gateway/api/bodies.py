"""Request bodies: JSON read whole (routing needs its fields), everything else streamed through."""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import StreamReader, web

from gateway.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from gateway.providers.base import ProviderAdapter


class BodyKind(enum.Enum):
    """The media types an endpoint accepts."""

    JSON = ("application/json",)
    MULTIPART = ("multipart/form-data",)
    JSON_OR_MULTIPART = ("application/json", "multipart/form-data")


class StreamedBody:
    """The client's body as an async iterator for the upstream request, capped at ``limit`` bytes.

    Memory stays at a few socket reads whatever the size: aiohttp pauses reading from the client
    while the upstream is slower. Past the cap the iterator stops the upload and sets ``exceeded``.
    """

    __slots__ = ("_limit", "_stream", "exceeded")

    def __init__(self, stream: StreamReader, limit: int) -> None:
        self._stream = stream
        self._limit = limit
        self.exceeded = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        async for chunk in self._stream.iter_any():
            seen += len(chunk)
            if seen > self._limit:
                self.exceeded = True
                raise PayloadTooLarge(_too_large(self._limit))
            yield chunk


def check_media_type(request: web.Request, kind: BodyKind) -> None:
    if request.content_type not in kind.value:
        expected = " or ".join(kind.value)
        raise UnsupportedMediaType(
            f"{request.method} {request.path} expects Content-Type {expected}, "
            f"got {request.content_type or 'none'!r}.",
            param="Content-Type",
        )


async def read_json_object(request: web.Request, limit: int) -> tuple[bytes, dict[str, Any]]:
    """The body's bytes and the JSON object they hold; 413 past ``limit``, 400 when not an object."""
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(_too_large(limit))
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise PayloadTooLarge(_too_large(limit)) from None
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(
            f"The request body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).",
            code="invalid_json",
        ) from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.", code="invalid_json")
    return raw, body


@dataclass(frozen=True, slots=True)
class RequestBody:
    """The client's body, read once: a JSON object (``raw`` + ``parsed``), an upload to stream
    (``stream``), or nothing."""

    raw: bytes | None = None
    parsed: dict[str, Any] | None = None
    stream: StreamedBody | None = None

    def for_target(
        self, adapter: ProviderAdapter, endpoint: str, override_params: Mapping[str, Any]
    ) -> bytes | StreamedBody | None:
        """What to send one target: the client's own bytes, unless the config overrides fields
        or the provider needs one renamed."""
        if self.parsed is None:
            return self.stream
        body = {**self.parsed, **override_params}
        renamed = adapter.rewrite_body(endpoint, body)
        if not (renamed or override_params):
            return self.raw  # the hot path: the client's bytes, never walked
        try:
            return orjson.dumps(body)
        except orjson.JSONEncodeError:
            raise too_deep() from None


def streamed_body(request: web.Request, limit: int) -> StreamedBody | None:
    """The client's body to stream upstream, or ``None`` when there is none."""
    if not request.body_exists:
        return None
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(_too_large(limit))
    return StreamedBody(request.content, limit)


def too_deep() -> InvalidRequest:
    """The 400 for a body that parsed (JSON allows 1,024 levels) but cannot be re-encoded (orjson
    writes 254 at most): only bodies the gateway rewrites or translates are ever re-encoded."""
    return InvalidRequest(
        "The request body is nested too deeply: the gateway re-encodes it for this provider, which "
        "allows 254 levels of JSON nesting.",
        code="invalid_json",
    )


def _too_large(limit: int) -> str:
    return f"The request body is larger than this gateway's limit of {limit} bytes."
