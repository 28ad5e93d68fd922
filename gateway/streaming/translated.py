"""Relay the answer of a provider whose wire format is not OpenAI's, translated on the way.

A whole body (a result or an error) is read, translated and sent with its status; a paginated
one (a model list) is read whole first, its later pages fetched by its ``NativeRequest.pages``. A stream is
translated read by read: each upstream read goes through the request's
:class:`~gateway.providers.base.StreamTranslator` and whatever OpenAI events it completes are
written at once, so nothing waits for more of the stream than the event it belongs to. The
response is committed when the first OpenAI event is ready: a provider that fails before that
(an error as its first event, silence past the first-token timeout) still gets an HTTP error
status, a retry or a fallback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import orjson
from aiohttp import web
from multidict import CIMultiDict

from gateway.appkeys import UPSTREAM
from gateway.errors import UpstreamTimeout
from gateway.observability.usage import TAIL_BYTES
from gateway.providers.base import NativeRequest, StreamTranslator, Translation
from gateway.streaming.relay import ClientGone, Relay, headers_with_first_write
from gateway.upstream.answer import UpstreamAnswer

__all__ = [
    "TranslatingRelay",
]

#: The provider's framing headers describe its body, not ours.
_NOT_OURS = ("Content-Type", "Content-Encoding", "Content-Length", "Transfer-Encoding")


class TranslatingRelay(Relay):
    __slots__ = ("_native", "_translation")

    def __init__(self, request: web.Request, provider: str, translation: Translation, native: NativeRequest):
        super().__init__(request, provider)
        self._translation = translation
        self._native = native

    async def start(
        self,
        upstream: UpstreamAnswer,
        headers: CIMultiDict[str],
        first_chunk_timeout: float | None = None,
        before_commit: Callable[[], None] | None = None,
        body: bytes | None = None,
    ) -> None:
        for name in _NOT_OURS:
            headers.popall(name, None)
        stream = self._native.stream
        if stream is None or upstream.status >= 300:
            raw = body if body is not None else await upstream.read()
            if self._native.pages is not None and upstream.status < 300:
                raw = await self._native.pages.rest(raw, self._native, self._request.app[UPSTREAM])
            body = self._translation.read_body(upstream.status, raw, self._native)
            if before_commit is not None:
                before_commit()
            headers["Content-Type"] = "application/json"
            self.tail = body[-TAIL_BYTES:]
            self.delivered = len(body)
            if self.capture is not None:
                self.capture.add(body)
            self.response = web.Response(body=body, status=upstream.status, headers=headers)
            return
        self._first = await self._first_events(upstream, stream, first_chunk_timeout)
        if before_commit is not None:
            before_commit()
        media_type = self._native.media_type
        headers["Content-Type"] = media_type or "text/event-stream; charset=utf-8"
        if not media_type:
            headers["Cache-Control"] = "no-cache"
        self._event_stream = not media_type
        self.response = self.respond(upstream.status, None, headers)
        if self._first:
            headers_with_first_write(self.response)
        try:
            await self.response.prepare(self._request)
        except ConnectionResetError:
            raise ClientGone from None

    async def _first_events(
        self, upstream: UpstreamAnswer, stream: StreamTranslator, seconds: float | None
    ) -> bytes:
        """Read until the translator has an event to send (or the body ends)."""
        try:
            async with asyncio.timeout(seconds):
                while True:
                    data = await upstream.content.readany()
                    if not data:
                        return stream.end()
                    events = stream.feed(data)
                    if events:
                        return events
        except TimeoutError:
            raise UpstreamTimeout(
                f"Provider {self._provider} sent no stream data within {seconds:g} s (first-token timeout).",
                code="upstream_first_token_timeout",
            ) from None

    async def pump(self, upstream: UpstreamAnswer) -> None:
        """Translate and forward each read until the upstream ends; then end ours (see
        :meth:`Relay.pump` for what propagates)."""
        assert self.response is not None
        stream = self._native.stream
        if stream is None or not self.response.prepared:
            return  # a whole body: sent by aiohttp once the handler returns
        write = self._write
        try:
            await write(self._first)
            async for data in upstream.content.iter_any():
                events = stream.feed(data)
                if events:
                    await write(events)
            await write(stream.end())
        finally:
            if stream.usage is not None:
                # Framed as an event, as everything written was: an in-band error after it then
                # needs no event boundary of its own (no stray blank lines before it).
                self.tail = b"data: " + orjson.dumps({"usage": stream.usage}) + b"\n\n"
        try:
            await self.response.write_eof()
        except ConnectionResetError:
            raise ClientGone from None
