"""The SSRF guard: custom hosts checked as written, and every address checked as it is dialled.

A custom host lets a caller point the gateway anywhere, so it passes two gates:
- ``check_custom_host`` (per request, cached): the URL's shape (no userinfo, query, fragment or dot
  segments) and its host against the :class:`HostPolicy` (``hostpolicy.py``);
- :class:`ConnectGuard` (per connection, inside the upstream connector): every address a name
  resolves to (one forbidden address refuses the name: DNS rebinding), and the socket address
  actually dialled, which also covers IP literals (aiohttp never sends those to the resolver).
A refusal at either gate is the caller's (or operator's) 400 ``custom_host_not_allowed``.
"""

from __future__ import annotations

import functools
import re
import socket
from urllib.parse import unquote, urlsplit

from aiohappyeyeballs import AddrInfoType
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from gateway.errors import InvalidRequest
from gateway.upstream.addresses import IPAddress, is_legacy_ipv4, parse_address
from gateway.upstream.hostpolicy import AddressRefused, HostPolicy

__all__ = [
    "ConnectGuard",
    "check_custom_host",
    "has_dot_segments",
]

HEADER = "x-portkey-custom-host"
MAX_LENGTH = 2048
_WEBSOCKET_SCHEMES = {"ws": "http", "wss": "https"}
_SCHEMES = ("http", "https", "ws", "wss")
_SEPARATORS = re.compile(r"[/\\]")
#: Bound on addresses remembered for allowed names (enough for any real allowlist's DNS answers).
_MAX_VOUCHED = 4096


@functools.lru_cache(maxsize=1024)
def check_custom_host(value: str, policy: HostPolicy, where: str = HEADER, param: str = HEADER) -> str:
    """``value`` as a base URL if the gateway may send requests there, else an InvalidRequest.

    ``where`` names the value in messages (``config.targets[1].custom_host``), ``param`` is the
    error's param. Messages never repeat the value (it may hold a password), only scheme://host.
    Cached on the policy too (it is immutable): callers send the same few hosts over and over,
    and parsing costs ~10 µs.
    """
    url = _parsed(value, where, param)
    assert url.host is not None
    reason = policy.refusal(url.host, url.port)
    if reason is not None:
        raise not_allowed(f"{where} {url.scheme}://{url.host} is refused: it is {reason}.", param)
    if is_legacy_ipv4(url.host):
        raise _invalid(f"{where} must write an IPv4 address as four decimal numbers (a.b.c.d).", param)
    return str(url).rstrip("/")


def not_allowed(problem: str, param: str | None) -> InvalidRequest:
    return InvalidRequest(
        f"{problem} The gateway's operator can open it in the settings: custom_hosts.allow takes "
        "hosts, host:port, addresses and CIDR ranges (cloud metadata also needs allow_metadata).",
        param=param,
        code="custom_host_not_allowed",
    )


def _invalid(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, param=param, code="invalid_custom_host")


def _parsed(value: str, where: str, param: str) -> URL:
    """The URL, once its shape is safe to append a provider path to; InvalidRequest otherwise."""
    text = value.strip()
    if len(text) > MAX_LENGTH:
        raise _invalid(f"{where} is longer than {MAX_LENGTH} characters.", param)
    try:
        parts = urlsplit(text)
        url = URL(text)
    except ValueError:
        parts, url = urlsplit(""), URL()
    if parts.scheme.lower() not in _SCHEMES or not url.host or not _resolvable_name(url.host):
        raise _invalid(f"{where} must be an http(s) or ws(s) URL such as http://127.0.0.1:8000/v1.", param)
    if "@" in parts.netloc:
        raise _invalid(f"{where} must not hold a user name or password before the host.", param)
    if "?" in text or "#" in text:
        # The provider's path is appended: after a '?' it would become a query, reaching any path.
        raise _invalid(f"{where} must not have a query (?) or a fragment (#).", param)
    if has_dot_segments(parts.path):
        raise _invalid(f"{where} must not have '.' or '..' path segments.", param)
    if any(ord(char) < 0x21 or char in "\\\x7f" for char in text):
        raise _invalid(f"{where} must not contain spaces, control characters or backslashes.", param)
    return url.with_scheme(_WEBSOCKET_SCHEMES.get(url.scheme, url.scheme))


def has_dot_segments(raw_path: str) -> bool:
    """Whether a raw path has '.' or '..' segments, also percent-encoded (``%2e%2E``) or behind an
    encoded separator (``..%2f``, ``..%5c``): a server that decodes before resolving would climb."""
    if "." not in raw_path and "%" not in raw_path:
        return False  # most paths (/v1/chat/completions): no split, no unquote on every request
    return any(
        part in (".", "..") for segment in raw_path.split("/") for part in _SEPARATORS.split(unquote(segment))
    )


def _resolvable_name(host: str) -> bool:
    """False for names no resolver can look up (a label empty or over 63 characters).

    ``getaddrinfo`` raises ``UnicodeError`` for them, which aiohttp does not wrap: without this
    check the caller's typo would surface as a 500.
    """
    try:
        host.encode("idna")
    except UnicodeError:
        return False
    return True


class ConnectGuard(AbstractResolver):
    """The upstream connector's resolver and socket factory: refuses forbidden addresses.

    As the resolver it checks every address a name resolves to, and refuses the name if any is
    forbidden (a rebinding name answering a public address, then a private one, is refused).
    As the socket factory (``TCPConnector(socket_factory=guard.socket)``) it checks the address
    actually dialled: IP literals included, which aiohttp connects to without the resolver.
    Refusals raise :class:`AddressRefused`, which ``upstream/failures.py`` maps to the caller's 400.
    """

    def __init__(self, inner: AbstractResolver, policy: HostPolicy) -> None:
        self._inner = inner
        self._policy = policy
        #: Addresses that names in custom_hosts.allow resolved to: the socket factory lets them
        #: through although their class alone would be refused (oldest dropped past the bound).
        self._vouched: dict[IPAddress, None] = {}

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            address = parse_address(result["host"])
            reason = (
                "not an address" if address is None else self._policy.resolved_refusal(host, port, address)
            )
            if reason is not None:
                raise AddressRefused(f"{host} resolves to {result['host']}, {reason}.")
        if self._policy.vouches(host, port):
            self._vouch(results)
        return results

    def _vouch(self, results: list[ResolveResult]) -> None:
        for result in results:
            address = parse_address(result["host"])
            if address is not None:
                self._vouched.pop(address, None)
                self._vouched[address] = None
        while len(self._vouched) > _MAX_VOUCHED:
            del self._vouched[next(iter(self._vouched))]

    def socket(self, addr_info: AddrInfoType) -> socket.socket:
        """A socket for ``addr_info``, unless its address is refused (the last line of defence)."""
        family, type_, proto, _, sockaddr = addr_info
        address = parse_address(str(sockaddr[0]))
        port = int(sockaddr[1])
        if address is None:
            raise AddressRefused(f"{sockaddr[0]} is not an address.")
        if address not in self._vouched:
            reason = self._policy.address_refusal(address, port)
            if reason is not None:
                raise AddressRefused(f"{address} is {reason}.")
        return socket.socket(family=family, type=type_, proto=proto)

    async def close(self) -> None:
        await self._inner.close()
