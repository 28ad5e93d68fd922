"""Which headers cross the gateway, in each direction.

Hop-by-hop headers (RFC 9110 §7.6.1) describe one connection and never cross a proxy; neither do
the gateway's own ``x-portkey-*`` controls nor the caller's credentials, which providers get in
their own form from the adapter.
"""

from __future__ import annotations

import functools
from collections.abc import Collection

from multidict import CIMultiDict, CIMultiDictProxy

__all__ = [
    "header_names",
    "relayed_response_headers",
    "upstream_request_headers",
]

HOP_BY_HOP = frozenset(
    (
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    )
)

#: Client headers sent upstream by default: what the wire format needs and what OpenAI's API
#: reads (``openai-beta`` selects API versions, ``idempotency-key`` makes retries safe).
#: Anything else goes only when the caller names it in ``x-portkey-forward-headers``.
FORWARDED_BY_DEFAULT = frozenset(
    (
        "accept",
        "accept-encoding",
        "content-type",
        "content-length",
        "user-agent",
        "openai-beta",
        "openai-organization",
        "openai-project",
        "idempotency-key",
    )
)

#: Never forwarded upstream, even when named in ``x-portkey-forward-headers``.
NEVER_FORWARDED = HOP_BY_HOP | frozenset(("host", "authorization", "cookie", "api-key", "x-api-key"))

#: Upstream response headers the client never sees: connection-scoped ones, the provider's cookies
#: (set for the gateway's connection, meaningless to the caller), and ones aiohttp writes itself.
NOT_RELAYED = HOP_BY_HOP | frozenset(("set-cookie", "server", "date", "content-length", "alt-svc"))


# Cached: a client sends the same list on every request (2.6 µs to parse), and at most 256
# lists of at most a header's size are kept.
@functools.lru_cache(maxsize=256)
def header_names(value: str) -> frozenset[str]:
    """Lower-cased header names from a comma-separated list (``Connection``, forward lists)."""
    if not value:
        return frozenset()  # the common case, on every request
    return frozenset(name.strip().lower() for name in value.split(",") if name.strip())


def upstream_request_headers(
    client: CIMultiDictProxy[str], extra_forward: Collection[str] = frozenset()
) -> CIMultiDict[str]:
    """Client headers to send upstream: the defaults, plus what the caller asked to forward."""
    # frozenset() of a frozenset (what the gateway passes) is the same object: no copy.
    allowed = _forwarded(frozenset(extra_forward), client.get("connection", ""))
    # One set lookup per client header: what may never go was taken out of ``allowed``.
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in client.items():
        if name.lower() in allowed:
            out.add(name, value)
    return out


@functools.lru_cache(maxsize=256)
def _forwarded(extra_forward: frozenset[str], connection: str) -> frozenset[str]:
    """The lower-cased names that may go upstream: the defaults and ``extra_forward`` (never the
    gateway's controls or credentials), less those the client's ``Connection`` header names."""
    allowed = FORWARDED_BY_DEFAULT
    if extra_forward:
        allowed = allowed.union(name for name in extra_forward if not name.startswith("x-portkey-"))
        allowed -= NEVER_FORWARDED
    return allowed - header_names(connection)


def relayed_response_headers(upstream: CIMultiDictProxy[str]) -> CIMultiDict[str]:
    """Upstream response headers to give the client (rate limits, request ids, content type...)."""
    blocked = _not_relayed(upstream.get("connection", ""))
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in upstream.items():
        if name.lower() not in blocked:
            out.add(name, value)
    return out


@functools.lru_cache(maxsize=256)
def _not_relayed(connection: str) -> frozenset[str]:
    """:data:`NOT_RELAYED` and what the upstream's ``Connection`` header names: the same few
    values on every answer, where the union would cost a new set each time."""
    return NOT_RELAYED | header_names(connection)
