"""Request bodies: JSON read whole (routing needs its fields), everything else streamed through."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import orjson
from aiohttp import StreamReader, web

from gateway.config.settings import LimitSettings
from gateway.errors import BodyTimeout, GatewayError, InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from gateway.middleware.admission import Admission
from gateway.observability.admission import AdmissionCounters
from gateway.providers.base import ClientBody
from gateway.routing.params import changes_body, edited_params

__all__ = [
    "BodyKind",
    "RequestBody",
    "StreamedBody",
    "check_media_type",
    "read_json_object",
    "streamed_body",
    "too_deep",
]

_NO_PARAMS: Mapping[str, Any] = MappingProxyType({})


class BodyKind(enum.Enum):
    """The media types an endpoint accepts."""

    JSON = ("application/json",)
    MULTIPART = ("multipart/form-data",)
    JSON_OR_MULTIPART = ("application/json", "multipart/form-data")


class StreamedBody:
    """The client's body as an async iterator for the upstream request, capped at ``limit`` bytes.

    Memory stays at a few socket reads whatever the size: aiohttp pauses reading from the client
    while the upstream is slower. Past the cap, or after ``idle_timeout`` seconds without a byte
    from the client, the iterator stops the upload and sets ``failure`` (413 or 408). An upload
    has no total deadline: a large file on a slow link is fine as long as it keeps moving.
    """

    __slots__ = ("_counters", "_idle_timeout", "_limit", "_stream", "failure")

    def __init__(
        self, stream: StreamReader, limit: int, idle_timeout: float, counters: AdmissionCounters
    ) -> None:
        self._stream = stream
        self._limit = limit
        self._idle_timeout = idle_timeout or None
        self._counters = counters
        self.failure: GatewayError | None = None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        while True:
            try:
                async with asyncio.timeout(self._idle_timeout):
                    chunk = await self._stream.readany()
            except TimeoutError:
                self._counters.body_timeouts += 1
                self.failure = _body_timeout(f"No byte of the upload arrived for {self._idle_timeout:g} s.")
                raise self.failure from None
            if not chunk:
                return
            seen += len(chunk)
            if seen > self._limit:
                self.failure = PayloadTooLarge(_too_large(self._limit))
                raise self.failure
            yield chunk


def check_media_type(request: web.Request, kind: BodyKind) -> str:
    """The request's media type (``request.content_type``), a 415 unless ``kind`` accepts it."""
    media_type = request.headers.get("Content-Type")
    if media_type != "application/json":
        # What most clients send, exactly: no need for aiohttp's parse of the header (~4 µs).
        media_type = request.content_type
    if media_type not in kind.value:
        expected = " or ".join(kind.value)
        raise UnsupportedMediaType(
            f"{request.method} {request.path} expects Content-Type {expected}, got {media_type or 'none'!r}.",
            param="Content-Type",
        )
    return media_type


async def read_json_object(request: web.Request, limits: LimitSettings, admission: Admission) -> RequestBody:
    """The body, read whole, and the JSON object it holds; 413 past ``limits.max_json_body_bytes``,
    503 when the process holds too many body bytes already, 408 when it does not arrive within
    ``limits.body_timeout`` (the connection is then closed), 400 when not a JSON object.

    The body's bytes stay reserved in ``admission`` until the caller releases ``reserved``.
    """
    limit = limits.max_json_body_bytes
    size = request.content_length
    if size is not None and size > limit:
        raise PayloadTooLarge(_too_large(limit))
    # A chunked body's size is unknown until read: it reserves the most it may be.
    reserved = limit if size is None else size
    admission.reserve_body(reserved)
    try:
        raw = await _read_whole(request, limit, limits.body_timeout or None)
        return RequestBody(raw, _json_object(raw), reserved=reserved)
    except BaseException as exc:
        admission.release_body(reserved)
        if isinstance(exc, BodyTimeout):
            admission.counters.body_timeouts += 1
        raise


async def _read_whole(request: web.Request, limit: int, seconds: float | None) -> bytes:
    content = request.content
    if content.is_eof():
        # It arrived with the headers: taken from the buffer as it is, without a timer (~3 µs),
        # the copies and the two awaits of ``request.read()`` (~1.5 µs).
        raw = content.read_nowait()
        if len(raw) > limit:  # only a chunked body's size is unknown before this
            raise PayloadTooLarge(_too_large(limit))
        return raw
    try:
        async with asyncio.timeout(seconds):
            return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise PayloadTooLarge(_too_large(limit)) from None
    except TimeoutError:
        raise _body_timeout(f"The request body did not arrive within {seconds:g} s.") from None


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(
            f"The request body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).",
            code="invalid_json",
        ) from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.", code="invalid_json")
    return body


@dataclass(slots=True)
class RequestBody:
    """The client's body, read once: a JSON object (``raw`` + ``parsed``), an upload to stream
    (``stream``), or nothing.

    Never changed once built; not frozen: one is built per request, and a frozen dataclass sets
    each field through ``object.__setattr__`` (~0.2 µs a field).
    """

    raw: bytes | None = None
    parsed: dict[str, Any] | None = None
    stream: StreamedBody | None = None
    #: Bytes of the admission body budget this body holds until the request ends.
    reserved: int = 0

    def for_target(
        self,
        override_params: Mapping[str, Any],
        default_params: Mapping[str, Any] = _NO_PARAMS,
        drop_params: frozenset[str] = frozenset(),
    ) -> ClientBody:
        """The body one target gets, with the config's field edits (``routing/params.py``); the
        client's own bytes stay with it while the edits change nothing."""
        if self.parsed is None:
            return ClientBody(stream=self.stream)
        params = edited_params(self.parsed, override_params, default_params, drop_params)
        edited = changes_body(self.parsed, override_params, default_params, drop_params)
        return ClientBody(None if edited else self.raw, params)


def streamed_body(request: web.Request, limits: LimitSettings, admission: Admission) -> StreamedBody | None:
    """The client's body to stream upstream, or ``None`` when there is none."""
    if not request.body_exists:
        return None
    limit = limits.max_upload_bytes
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(_too_large(limit))
    return StreamedBody(request.content, limit, limits.body_timeout, admission.counters)


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


def _body_timeout(message: str) -> BodyTimeout:
    return BodyTimeout(message, headers={"Connection": "close"})
