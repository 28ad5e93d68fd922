"""The one pooled HTTP client per process that every upstream request goes through."""

from __future__ import annotations

from aiohttp import ClientSession, ClientTimeout, DefaultResolver, TCPConnector

from gateway.config.settings import Settings
from gateway.upstream.hostguard import guarded


def create_upstream_session(settings: Settings) -> ClientSession:
    """A session tuned for proxying; the caller closes it (app cleanup).

    - no connection cap (aiohttp's default 100 would silently queue requests);
    - pooled connections dropped sooner than providers drop them;
    - bodies are never decompressed: the client's Accept-Encoding goes upstream, and the bytes come
      back as they were sent, ``Content-Encoding`` and all;
    - a request without Accept-Encoding goes with ``identity`` (``api/proxy.py``), so aiohttp's
      default ``gzip, deflate`` never makes an upstream compress for a client that did not ask;
    - connect and idle timeouts always on; the total deadline is per request (``api/proxy.py``).
    """
    upstream = settings.upstream
    connector = TCPConnector(
        limit=0,
        limit_per_host=upstream.limit_per_host,
        keepalive_timeout=upstream.keepalive_timeout,
        ttl_dns_cache=upstream.dns_cache_seconds,
        resolver=guarded(DefaultResolver(), settings.custom_hosts),
    )
    return ClientSession(
        connector=connector,
        timeout=ClientTimeout(total=None, connect=upstream.connect_timeout, sock_read=upstream.idle_timeout),
        auto_decompress=False,
        trust_env=False,
        raise_for_status=False,
    )
