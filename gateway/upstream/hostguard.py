"""Where the gateway may connect: the custom-host allowlist and the cloud-metadata guard.

A custom host lets any caller point the gateway at any address. Cloud metadata services
(169.254.169.254 and the rest of link-local space, fd00:ec2::254) hand out the machine's own
credentials, so they are refused unless the settings allow them. The check runs twice: on the URL
as written, and on every address DNS returns (a name that resolves to metadata is caught too).
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from gateway.config.settings import CustomHostSettings
from gateway.errors import InvalidRequest, PermissionDenied

_METADATA_ADDRESSES = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack...
        ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    }
)
_WEBSOCKET_SCHEMES = {"ws": "http", "wss": "https"}
_METADATA_NAMES = frozenset({"metadata.google.internal", "metadata", "instance-data"})


def is_metadata_address(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    # ::ffff:169.254.169.254 reaches the IPv4 address through a dual-stack socket.
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip in _METADATA_ADDRESSES or ip.is_link_local


@functools.lru_cache(maxsize=1024)
def check_custom_host(value: str, settings: CustomHostSettings) -> str:
    """Return ``value`` as a base URL if the gateway may send requests there, else raise.

    Cached: callers send the same few hosts over and over, and parsing costs ~3 µs a request.
    """
    try:
        url = URL(value.strip())
    except ValueError:
        url = URL()
    if url.scheme in _WEBSOCKET_SCHEMES:  # a realtime client may name the host as it connects to it
        url = url.with_scheme(_WEBSOCKET_SCHEMES[url.scheme])
    if url.scheme not in ("http", "https") or not url.host or not _resolvable_name(url.host):
        raise InvalidRequest(
            "x-portkey-custom-host must be an http(s) or ws(s) URL such as http://127.0.0.1:8000/v1, "
            f"got {value!r}.",
            param="x-portkey-custom-host",
            code="invalid_custom_host",
        )
    if not settings.allow_metadata and (is_metadata_address(url.host) or url.host.lower() in _METADATA_NAMES):
        raise PermissionDenied(
            "x-portkey-custom-host points at a cloud metadata address, which the gateway refuses.",
            param="x-portkey-custom-host",
            code="custom_host_not_allowed",
        )
    if settings.allow and url.host not in settings.allow and f"{url.host}:{url.port}" not in settings.allow:
        raise PermissionDenied(
            f"x-portkey-custom-host {url.host!r} is not in this gateway's custom_hosts.allow list.",
            param="x-portkey-custom-host",
            code="custom_host_not_allowed",
        )
    return str(url).rstrip("/")


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


class GuardedResolver(AbstractResolver):
    """Wraps a resolver and refuses names that resolve to cloud metadata addresses."""

    def __init__(self, inner: AbstractResolver) -> None:
        self._inner = inner

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if any(is_metadata_address(result["host"]) for result in results):
            raise OSError(f"{host} resolves to a cloud metadata address, which the gateway refuses")
        return results

    async def close(self) -> None:
        await self._inner.close()


def guarded(inner: AbstractResolver, settings: CustomHostSettings) -> Any:
    """The resolver to give the upstream connector."""
    return inner if settings.allow_metadata else GuardedResolver(inner)
