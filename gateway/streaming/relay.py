"""Copy one upstream response to the client as it arrives: the gateway's hot loop.

Bytes are forwarded as the objects read (``iter_any`` → ``write``): no decoding, no re-encoding,
no coalescing. Only the last few KB are kept (by reference) for usage accounting.

Once :meth:`Relay.start` has sent the status line, a failure can no longer change the status:
:meth:`Relay.fail` ends an event stream with an OpenAI-style ``data: {"error": ...}`` event, and
any other body by aborting the connection, so a cut response never looks complete.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from collections.abc import Callable

from aiohttp import web
from multidict import CIMultiDict

from gateway.appkeys import STATE
from gateway.cache.capture import Capture
from gateway.errors import GatewayError, UpstreamBroken, UpstreamTimeout
from gateway.observability.usage import TAIL_BYTES
from gateway.upstream.answer import UpstreamAnswer

__all__ = [
    "SMALL_BODY",
    "ClientGone",
    "Relay",
    "headers_with_first_write",
    "stream_response",
]

#: A final chunk's ``"finish_reason": "stop"`` (earlier chunks carry ``null``).
_FINISHED = re.compile(rb'"finish_reason"\s*:\s*"')

#: Bodies of known length up to this size are relayed whole (see :meth:`Relay.start`).
SMALL_BODY = 64 * 1024

#: Reads kept for the tail: enough for a usage event and [DONE] cut into a few pieces.
_RECENT_READS = 8


def stream_response(status: int, reason: str | None, headers: CIMultiDict[str]) -> web.StreamResponse:
    """A response whose body is written as it arrives, marked so proxies pass each write on."""
    # nginx with its default proxy_buffering on and gzip on holds a stream's chunks until a buffer
    # fills (tests/deploy/test_nginx.py); this header turns buffering off for this response alone.
    headers["X-Accel-Buffering"] = "no"
    return web.StreamResponse(status=status, reason=reason, headers=headers)


def headers_with_first_write(response: web.StreamResponse) -> None:
    """Let ``response``'s head go out with its first body write, in one system call, instead of
    on its own as ``prepare`` runs. Only for a stream whose first event is already in hand: it is
    written right after ``prepare``, so the head is not held back. (aiohttp's own ``Response``
    sets this class attribute; one write less is about 6 % of a 20-chunk stream's CPU.)"""
    response._send_headers_immediately = False


class ClientGone(Exception):
    """The client closed its connection while the response was being written."""


class Relay:
    __slots__ = (
        "_chat_chunks",
        "_event_stream",
        "_first",
        "_provider",
        "_request",
        "capture",
        "delivered",
        "longest_gap",
        "respond",
        "response",
        "tail",
    )

    def __init__(self, request: web.Request, provider: str, *, chat_chunks: bool = False) -> None:
        """``chat_chunks``: the stream, if any, is OpenAI chat/completions chunks ending in ``[DONE]``."""
        self._request = request
        self._provider = provider
        self._chat_chunks = chat_chunks
        self.response: web.StreamResponse | None = None
        #: The end of what was relayed (usage lives there).
        self.tail = b""
        #: Bytes of the body written to the client (an estimate's base when no usage came).
        self.delivered = 0
        #: Seconds: the longest wait between two reads of a streamed body (for the metrics).
        self.longest_gap = 0.0
        #: Set when the answer may be cached: it records what the client gets.
        self.capture: Capture | None = None
        self._event_stream = False
        self._first = b""
        #: Makes the response a body of open length is written to; output guardrails swap in one
        #: that holds the answer until it is checked (``guardrails/answer.py``).
        self.respond: Callable[[int, str | None, CIMultiDict[str]], web.StreamResponse] = stream_response

    @property
    def committed(self) -> bool:
        """True once the status line went out: from then on errors are reported in-band."""
        return self.response is not None

    async def start(
        self,
        upstream: UpstreamAnswer,
        headers: CIMultiDict[str],
        first_chunk_timeout: float | None = None,
        before_commit: Callable[[], None] | None = None,
        body: bytes | None = None,
    ) -> None:
        """Send the upstream's status and ``headers`` to the client.

        A small body of known length is read whole first: it arrives with the headers anyway,
        the client then gets headers and body in one write, and a failure while reading it can
        still be answered with an error status. A successful event stream is committed only when
        its first chunk arrives (within ``first_chunk_timeout``): until then a provider that
        fails or stays silent can still be retried or fallen back from. ``before_commit`` runs
        once the answer is ready to go out, before anything is sent (hedged attempts race there).
        ``body``: the whole body, when the caller already read it (``routing/refusals.py``).
        """
        length = upstream.content_length
        if body is not None or (
            length is not None and length <= SMALL_BODY and self._request.method != "HEAD"
        ):
            body = body if body is not None else await upstream.read()
            if before_commit is not None:
                before_commit()
            self.tail = body[-TAIL_BYTES:]
            self.delivered = len(body)
            if self.capture is not None:
                self.capture.add(body)
            self.response = web.Response(
                body=body, status=upstream.status, reason=upstream.reason, headers=headers
            )
            return
        # An in-band error event fits only an uncompressed event stream of open length.
        self._event_stream = (
            upstream.headers.get("Content-Type", "").startswith("text/event-stream")
            and "Content-Encoding" not in upstream.headers
            and length is None
        )
        if self._event_stream and upstream.status < 300:
            self._first = await self._first_chunk(upstream, first_chunk_timeout)
        if before_commit is not None:
            before_commit()
        response = self.respond(upstream.status, upstream.reason, headers)
        if length is not None:
            response.content_length = length
        if self._first:
            headers_with_first_write(response)
        self.response = response
        try:
            await response.prepare(self._request)
        except ConnectionResetError:
            raise ClientGone from None

    async def _first_chunk(self, upstream: UpstreamAnswer, seconds: float | None) -> bytes:
        try:
            if seconds is None:  # no first-token timeout (the default): asyncio.timeout(None) costs ~2.5 µs
                first = await upstream.content.readany()
            else:
                async with asyncio.timeout(seconds):
                    first = await upstream.content.readany()
        except TimeoutError:
            raise UpstreamTimeout(
                f"Provider {self._provider} sent no stream data within {seconds:g} s (first-token timeout).",
                code="upstream_first_token_timeout",
            ) from None
        if not first:
            raise UpstreamBroken(f"Provider {self._provider} ended the stream before sending any data.")
        return first

    async def pump(self, upstream: UpstreamAnswer) -> None:
        """Forward the body chunk by chunk until the upstream ends it; then end ours.

        The read the body ends with (its end already parsed when it comes) goes out with the end
        of ours in one write, when the response is aiohttp's own: nothing waits for it.

        Upstream failures propagate as aiohttp/timeout errors, and a chat stream that ends
        without ``[DONE]`` or a ``finish_reason`` as :class:`UpstreamBroken` (the caller turns
        them into :meth:`fail`); a client that went away raises :class:`ClientGone`.
        """
        response = self.response
        assert response is not None
        if not response.prepared:
            return  # a small body: sent whole by aiohttp once the handler returns
        write = response.write
        content = upstream.content
        # Another response (guardrails', a client format's) writes its own way.
        end_with_last = type(response) is web.StreamResponse
        last_read = b""
        # References to the last few reads, not a rolling copy: the usage event and [DONE] can
        # arrive split over several small reads, and a copy per chunk would cost every chunk.
        recent: deque[bytes] = deque(maxlen=_RECENT_READS)
        keep = recent.append
        # The longest gap between reads, kept in locals: a clock read and a compare per chunk.
        clock = time.perf_counter
        last = clock()
        longest = 0.0
        delivered = 0
        state = self._request.app[STATE]
        capture = self.capture
        state.open_streams += 1
        try:
            if first := self._first:
                if end_with_last and content.at_eof():
                    last_read = first
                else:
                    await self._send(first)
                delivered += len(first)
                keep(first)
                if capture is not None:
                    capture.add(first)
            async for chunk in content.iter_any():
                now = clock()
                if now - last > longest:
                    longest = now - last
                last = now
                if end_with_last and content.at_eof():
                    last_read = chunk
                else:
                    try:
                        await write(chunk)
                    except ConnectionResetError:
                        raise ClientGone from None
                delivered += len(chunk)
                keep(chunk)
                if capture is not None:
                    capture.add(chunk)
        finally:
            state.open_streams -= 1
            self.tail = _tail(recent)
            self.longest_gap = longest
            self.delivered += delivered
        try:
            done = self._missing_done() if self._event_stream and self._chat_chunks else b""
        except UpstreamBroken:
            if last_read:
                await self._send(last_read)
            raise
        if done:
            self.delivered += len(done)
            if capture is not None:
                capture.add(done)
        try:
            if end_with_last:
                await response.write_eof(last_read + done)
                return
            if done:
                await write(done)
            await response.write_eof()
        except ConnectionResetError:
            raise ClientGone from None

    def _missing_done(self) -> bytes:
        """What a chat stream that ended without ``[DONE]`` still needs: ``[DONE]`` if a
        ``finish_reason`` came (so every client ends cleanly); :class:`UpstreamBroken` if none did."""
        if self.tail.rstrip().endswith(b"[DONE]"):
            return b""
        if not _FINISHED.search(self.tail):
            raise UpstreamBroken(f"Provider {self._provider} ended the stream before it was complete.")
        return _event_boundary(self.tail) + b"data: [DONE]\n\n"

    async def _write(self, data: bytes) -> None:
        """Send ``data`` and count it delivered (and captured)."""
        await self._send(data)
        self.delivered += len(data)
        if self.capture is not None:
            self.capture.add(data)

    async def _send(self, data: bytes) -> None:
        assert self.response is not None
        try:
            await self.response.write(data)
        except ConnectionResetError:
            raise ClientGone from None

    async def fail(self, error: GatewayError) -> None:
        """End a committed response so the client sees it failed, never a clean end."""
        assert self.response is not None
        transport = self._request.transport
        if not self._event_stream:
            if transport is not None:
                transport.abort()
            return
        try:
            await self.response.write(_event_boundary(self.tail) + b"data: " + error.to_json() + b"\n\n")
            await self.response.write_eof()
        except ConnectionResetError:
            pass


def _tail(recent: deque[bytes]) -> bytes:
    """The fewest recent reads that together hold at least ``TAIL_BYTES`` (all when fewer)."""
    parts: list[bytes] = []
    size = 0
    for chunk in reversed(recent):
        parts.append(chunk)
        size += len(chunk)
        if size >= TAIL_BYTES:
            break
    return parts[0] if len(parts) == 1 else b"".join(reversed(parts))


def _event_boundary(tail: bytes) -> bytes:
    """What ends a partly written event, so the error event is parsed as an event of its own."""
    if not tail or tail.endswith((b"\n\n", b"\r\n\r\n")):
        return b""
    return b"\n" if tail.endswith(b"\n") else b"\n\n"
