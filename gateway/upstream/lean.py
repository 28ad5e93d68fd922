"""An opt-in lean HTTP/1.1 client for the plain upstream case (``[upstream] lean_http``).

``api/proxy.py`` sends every upstream POST of a bytes body through it, whichever the provider
(see ``PreparedRequest`` in ``providers/base.py``); every other request keeps the aiohttp session
(``upstream/session.py``). It puts the request on the wire as the session does: the same headers,
the ones aiohttp adds when missing included, encoded as aiohttp encodes them (UTF-8, lone
surrogates dropped), so a signature over them (SigV4, OCI) holds either way. It does less per request than
``ClientSession.request``: no request/response objects with their tracing, cookie, proxy and
redirect machinery; the head is built as one string and sent with the body in one ``writelines``.
What it keeps from the session, so a caller sees the same behaviour:

- aiohttp's own response parser (its C ``llhttp`` parser when built) and ``StreamReader``: the
  body is read as it arrives (content-length, chunked, or to the end of the connection), so a
  stream is relayed chunk by chunk, and the reader has the methods the relay uses;
- the SSRF guard: names go through :class:`ConnectGuard`'s resolver checks and every socket
  through its socket factory, so the address actually dialled is checked (IP literals too);
- TLS with a default verifying context (as aiohttp's ``ssl=True``) and the host's SNI name;
- ``connect_timeout`` around resolving, dialling and the TLS handshake, and ``idle_timeout``
  between reads; the headers timeout and the attempt's deadline stay the caller's (as today);
- no redirects followed (a 3xx is just an answer; the session's callers pass
  ``allow_redirects=False`` too);
- keep-alive per (scheme, host, port): a connection goes back to the pool only after a complete
  response that did not ask to close, and is dropped after ``keepalive_timeout`` idle;
- failures raised as the aiohttp exceptions the session raises, so ``upstream/failures.py``
  maps them to the same errors;
- ``limit_per_host`` as aiohttp's connector applies it: so many requests in flight per origin,
  the others waiting their turn (``upstream/host_cap.py``), the wait and the dial within
  ``connect_timeout``.

Names are resolved for each new connection (no DNS cache): pooled connections make that rare.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Final

from aiohappyeyeballs import AddrInfoType
from aiohttp import (
    ClientConnectorDNSError,
    ClientConnectorError,
    ClientError,
    ClientResponseError,
    ConnectionTimeoutError,
    DefaultResolver,
    RequestInfo,
)
from aiohttp.client_reqrep import ConnectionKey
from aiohttp.http import SERVER_SOFTWARE, HttpProcessingError, RawResponseMessage
from aiohttp.streams import StreamReader
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from gateway.config.settings import UpstreamSettings
from gateway.upstream.addresses import parse_address
from gateway.upstream.host_cap import HostCap
from gateway.upstream.hostguard import ConnectGuard
from gateway.upstream.hostpolicy import HostPolicy
from gateway.upstream.lean_connection import LeanConnection, drop

__all__ = [
    "LeanClient",
    "LeanResponse",
]

#: Headers aiohttp adds to a POST when the caller did not: the provider sees the same request
#: either way (``Accept-Encoding`` too, but ``api/proxy.py`` always sets it).
_DEFAULTS: Final = (
    ("Accept", "*/*"),
    ("User-Agent", SERVER_SOFTWARE),
    ("Content-Type", "application/octet-stream"),
)

_Key = tuple[str, str, int]


class LeanResponse:
    """The answer's status line and headers, and its body as it arrives (``content``): the
    members of ``aiohttp.ClientResponse`` that the relay reads."""

    __slots__ = ("content", "content_length", "headers", "reason", "status")

    def __init__(self, message: RawResponseMessage, content: StreamReader) -> None:
        self.status: int = message.code
        self.reason: str | None = message.reason
        self.headers: CIMultiDictProxy[str] = message.headers
        self.content = content
        length = message.headers.get("Content-Length")
        self.content_length = int(length) if length is not None and length.isdigit() else None

    async def read(self) -> bytes:
        """The whole body."""
        return await self.content.read()


class _Exchange:
    """``async with client.request(...) as response``: the connection is pooled again on exit
    only when the response was read to its end."""

    __slots__ = ("_body", "_client", "_connection", "_head", "_key", "_url")

    def __init__(self, client: LeanClient, key: _Key, url: URL, head: bytes, body: bytes) -> None:
        self._client = client
        self._key = key
        self._url = url
        self._head = head
        self._body = body
        self._connection: LeanConnection | None = None

    async def __aenter__(self) -> LeanResponse:
        connection = await self._client.connection(self._key)
        try:
            message, payload = await connection.exchange(self._head, self._body)
        except HttpProcessingError as exc:
            self._client.discard(self._key, connection)
            info = RequestInfo(self._url, "POST", CIMultiDictProxy(CIMultiDict()))
            raise ClientResponseError(info, (), status=exc.code, message=exc.message) from exc
        except BaseException:  # cancelled (a timer, the client left) or failed: never pooled
            self._client.discard(self._key, connection)
            raise
        self._connection = connection
        return LeanResponse(message, payload)

    async def __aexit__(self, *_: object) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            self._client.release(self._key, connection)


class LeanClient:
    """Pooled HTTP/1.1 connections to upstreams; made in the loop it serves (at app startup),
    :meth:`close` it at app cleanup."""

    def __init__(self, settings: UpstreamSettings, policy: HostPolicy) -> None:
        # Kept: on Python 3.11 each asyncio.get_running_loop() is a getpid() system call.
        self._loop = asyncio.get_running_loop()
        self._settings = settings
        self._guard = ConnectGuard(DefaultResolver(), policy)
        self._ssl = ssl.create_default_context()
        self._idle: dict[_Key, list[LeanConnection]] = {}
        self._sweep: asyncio.TimerHandle | None = None
        self._cap = HostCap(settings.limit_per_host) if settings.limit_per_host > 0 else None

    def request(self, url: URL, headers: CIMultiDict[str], body: bytes) -> _Exchange:
        """A POST of ``body`` to ``url`` (encoded, http or https) with ``headers``.

        Host (as aiohttp writes it: the form SigV4 and OCI sign), Content-Length (the body's) and
        the defaults aiohttp adds are set here. A header holding a line break is refused
        (``ClientError``) rather than sent: it would start a header of its own.
        """
        lines = [f"POST {url.raw_path_qs} HTTP/1.1", f"Host: {url.host_port_subcomponent}"]
        for name, default in _DEFAULTS:
            if name not in headers:
                lines.append(f"{name}: {default}")
        if "Host" in headers or "Content-Length" in headers:  # never twice, nor a length not the body's
            headers = headers.copy()
            headers.popall("Host", None)
            headers.popall("Content-Length", None)
        lines.extend(f"{name}: {value}" for name, value in headers.items())
        lines.append(f"Content-Length: {len(body)}\r\n\r\n")
        head = "\r\n".join(lines)
        if head.count("\n") != len(lines) + 1 or head.count("\r") != len(lines) + 1:
            raise ClientError("A request header holds a line break.")
        key = (url.scheme, url.raw_host or "", url.port or 0)
        # As aiohttp's header writer: UTF-8, and a lone surrogate (an undecodable byte the server
        # kept as one) dropped; nothing else can fail to encode.
        return _Exchange(self, key, url, head.encode("utf-8", "ignore"), body)

    async def connection(self, key: _Key) -> LeanConnection:
        """A pooled connection to ``key`` still fit for a request, else a new one; give it back
        with :meth:`release` or :meth:`discard`. Under a per-host cap, once one of ``key``'s places
        is free: the wait and the dial together within ``connect_timeout``, as aiohttp's."""
        ends = self._loop.time() + self._settings.connect_timeout
        if self._cap is None:
            return await self._pooled_or_new(key, ends)
        try:
            async with asyncio.timeout_at(ends):
                await self._cap.take(key)
        except TimeoutError:
            raise _connect_timeout(key) from None
        try:
            return await self._pooled_or_new(key, ends)
        except BaseException:
            self._cap.give_back(key)
            raise

    def release(self, key: _Key, connection: LeanConnection) -> None:
        """Pool ``connection`` if its response was complete, else close it; its place is free."""
        if self._cap is not None:
            self._cap.give_back(key)
        if not connection.reusable:
            drop(connection)
            return
        connection.idle_since = self._loop.time()
        self._idle.setdefault(key, []).append(connection)
        if self._sweep is None:
            self._sweep = self._loop.call_later(self._settings.keepalive_timeout, self._drop_expired)

    def discard(self, key: _Key, connection: LeanConnection) -> None:
        """Close ``connection`` (its exchange failed or was cancelled); its place is free."""
        drop(connection)
        if self._cap is not None:
            self._cap.give_back(key)

    async def _pooled_or_new(self, key: _Key, ends: float) -> LeanConnection:
        idle = self._idle.get(key)
        expired = self._loop.time() - self._settings.keepalive_timeout
        while idle:
            connection = idle.pop()
            if connection.reusable and connection.idle_since > expired:
                return connection
            drop(connection)
        return await self._connect(key, ends)

    async def close(self) -> None:
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        for connections in self._idle.values():
            for connection in connections:
                drop(connection)
        self._idle.clear()
        await self._guard.close()

    def _drop_expired(self) -> None:
        self._sweep = None
        expired = self._loop.time() - self._settings.keepalive_timeout
        for key, connections in list(self._idle.items()):
            for connection in connections:
                if connection.idle_since <= expired or not connection.reusable:
                    drop(connection)
            kept = [c for c in connections if c.transport is not None]
            if kept:
                self._idle[key] = kept
            else:
                del self._idle[key]
        if self._idle:
            self._sweep = self._loop.call_later(self._settings.keepalive_timeout, self._drop_expired)

    async def _connect(self, key: _Key, ends: float) -> LeanConnection:
        scheme, host, port = key
        tls = scheme == "https"
        ssl_context = self._ssl if tls else None
        errors_key = ConnectionKey(host, port, tls, ssl_context or False, None, None, None)
        try:
            async with asyncio.timeout_at(ends):
                sock = await self._dial(errors_key, host, port)
                try:
                    _, connection = await self._loop.create_connection(
                        lambda: LeanConnection(self._loop, self._settings.idle_timeout),
                        sock=sock,
                        ssl=ssl_context,
                        server_hostname=host if tls else None,
                    )
                except BaseException as exc:  # no transport owns the socket: close it
                    sock.close()
                    if isinstance(exc, OSError):  # TLS failures too (ssl.SSLError)
                        raise ClientConnectorError(errors_key, exc) from exc
                    raise
        except TimeoutError:
            raise _connect_timeout(key) from None
        return connection

    async def _dial(self, errors_key: ConnectionKey, host: str, port: int) -> socket.socket:
        """A socket connected to the first address of ``host`` that accepts, each one checked by
        the guard before it is dialled."""
        last: OSError | None = None
        for info in await self._addresses(errors_key, host, port):
            try:
                sock = self._guard.socket(info)
            except OSError as exc:  # AddressRefused: the caller's 400, whatever the other addresses
                raise ClientConnectorError(errors_key, exc) from exc
            try:
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                await self._loop.sock_connect(sock, info[4])
            except OSError as exc:
                sock.close()
                last = exc
                continue
            except BaseException:
                sock.close()
                raise
            return sock
        assert last is not None
        raise ClientConnectorError(errors_key, last) from last

    async def _addresses(self, errors_key: ConnectionKey, host: str, port: int) -> list[AddrInfoType]:
        """Where ``host`` may be dialled: itself if an address, else what the guard resolved."""
        stream, tcp = socket.SOCK_STREAM, socket.IPPROTO_TCP
        address = parse_address(host)
        if address is not None:
            family = socket.AF_INET if address.version == 4 else socket.AF_INET6
            return [(family, stream, tcp, "", (str(address), port))]
        try:
            results = await self._guard.resolve(host, port, socket.AF_UNSPEC)
        except OSError as exc:
            raise ClientConnectorDNSError(errors_key, exc) from exc
        return [(r["family"], stream, tcp, "", (r["host"], r["port"])) for r in results]


def _connect_timeout(key: _Key) -> ConnectionTimeoutError:
    scheme, host, port = key
    return ConnectionTimeoutError(f"Connection timeout to host {scheme}://{host}:{port}")
