"""Copy one upstream response to the client as it arrives: the gateway's hot loop.

Bytes are forwarded as the objects read (``iter_any`` → ``write``): no decoding, no re-encoding,
no coalescing. Only the last few KB are kept (by reference) for usage accounting.

Once :meth:`Relay.start` has sent the status line, a failure can no longer change the status:
:meth:`Relay.fail` ends an event stream with an OpenAI-style ``data: {"error": ...}`` event, and
any other body by aborting the connection, so a cut response never looks complete.
"""

from __future__ import annotations

from aiohttp import ClientResponse, web
from multidict import CIMultiDict

from gateway.errors import GatewayError
from gateway.observability.usage import TAIL_BYTES


class ClientGone(Exception):
    """The client closed its connection while the response was being written."""


class Relay:
    __slots__ = ("_event_stream", "_request", "response", "tail")

    def __init__(self, request: web.Request) -> None:
        self._request = request
        self.response: web.StreamResponse | None = None
        #: The end of what was relayed (usage lives there).
        self.tail = b""
        self._event_stream = False

    @property
    def committed(self) -> bool:
        """True once the status line went out: from then on errors are reported in-band."""
        return self.response is not None

    async def start(self, upstream: ClientResponse, headers: CIMultiDict[str]) -> None:
        """Send the upstream's status and ``headers`` to the client."""
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason, headers=headers)
        content_type = upstream.headers.get("Content-Type", "")
        if upstream.content_length is not None:
            response.content_length = upstream.content_length
        # An in-band error event fits only an uncompressed event stream of open length.
        self._event_stream = (
            content_type.startswith("text/event-stream")
            and "Content-Encoding" not in upstream.headers
            and upstream.content_length is None
        )
        self.response = response
        try:
            await response.prepare(self._request)
        except ConnectionResetError:
            raise ClientGone from None

    async def pump(self, upstream: ClientResponse) -> None:
        """Forward the body chunk by chunk until the upstream ends it; then end ours.

        Upstream failures propagate as aiohttp/timeout errors (the caller turns them into
        :meth:`fail`); a client that went away raises :class:`ClientGone`.
        """
        assert self.response is not None
        write = self.response.write
        previous = last = b""
        try:
            async for chunk in upstream.content.iter_any():
                try:
                    await write(chunk)
                except ConnectionResetError:
                    raise ClientGone from None
                previous, last = last, chunk
        finally:
            self.tail = previous + last if len(last) < TAIL_BYTES else last
        try:
            await self.response.write_eof()
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


def _event_boundary(tail: bytes) -> bytes:
    """What ends a partly written event, so the error event is parsed as an event of its own."""
    if not tail or tail.endswith((b"\n\n", b"\r\n\r\n")):
        return b""
    return b"\n" if tail.endswith(b"\n") else b"\n\n"
