"""The one pooled HTTP client per process that every upstream request goes through."""

from __future__ import annotations

from types import SimpleNamespace

from aiohttp import ClientSession, ClientTimeout, DefaultResolver, TCPConnector, TraceConfig
from aiohttp.tracing import TraceRequestRedirectParams

from gateway.config.settings import Settings, UpstreamSettings
from gateway.upstream.failures import RedirectRefused
from gateway.upstream.hostguard import ConnectGuard
from gateway.upstream.hostpolicy import HostPolicy

__all__ = [
    "create_token_session",
    "create_upstream_session",
    "create_websocket_session",
]


def create_upstream_session(settings: Settings) -> ClientSession:
    """A session tuned for proxying; the caller closes it (app cleanup).

    - no connection cap (aiohttp's default 100 would silently queue requests);
    - pooled connections dropped sooner than providers drop them;
    - bodies are never decompressed: the client's Accept-Encoding goes upstream, and the bytes come
      back as they were sent, ``Content-Encoding`` and all;
    - a request without Accept-Encoding goes with ``identity`` (``api/proxy.py``), so aiohttp's
      default ``gzip, deflate`` never makes an upstream compress for a client that did not ask;
    - connect and idle timeouts always on; the total deadline is per request (``routing/attempts.py``);
    - every address dialled passes the SSRF guard (``upstream/hostguard.py``), and no redirect is
      ever followed: its target was never checked. Every caller passes ``allow_redirects=False``
      and gets the 3xx (a session-wide refusal would cost every request aiohttp's trace signals,
      3 to 6 µs: see docs/benchmarks.md, "Where the time goes").
    """
    return _session(settings.upstream, settings.host_policy)


def create_websocket_session(settings: Settings) -> ClientSession:
    """The upstream session of realtime websockets: as :func:`create_upstream_session`, but it
    refuses every redirect itself (``ws_connect`` has no ``allow_redirects``); the caller closes it."""
    return _session(settings.upstream, settings.host_policy, refuse_redirects=True)


def create_token_session(settings: Settings) -> ClientSession:
    """The session of the cloud credential exchanges (Entra ID, managed identity, STS); the caller
    closes it. Apart from the caller's traffic: it dials only the endpoints the operator wrote in
    ``[azure]`` and ``[aws]`` (private ones included) and public hosts, and the metadata address of
    the managed-identity endpoint only while ``azure.managed_identity`` is on."""
    azure, aws = settings.azure, settings.aws
    endpoints = [azure.authority_host, azure.managed_identity_endpoint, aws.sts_endpoint]
    policy = HostPolicy.build(
        (),
        allow_public=True,
        allow_metadata=azure.managed_identity,
        server_host=settings.server.host,
        # A per-region template names AWS's public hosts: nothing to open for it.
        operator_urls=[url for url in endpoints if "{region}" not in url],
    )
    return _session(settings.upstream, policy)


def _session(
    upstream: UpstreamSettings, policy: HostPolicy, *, refuse_redirects: bool = False
) -> ClientSession:
    guard = ConnectGuard(DefaultResolver(), policy)
    connector = TCPConnector(
        limit=0,
        limit_per_host=upstream.limit_per_host,
        keepalive_timeout=upstream.keepalive_timeout,
        ttl_dns_cache=upstream.dns_cache_seconds,
        resolver=guard,
        socket_factory=guard.socket,
    )
    trace_configs = []
    if refuse_redirects:
        no_redirects = TraceConfig()
        no_redirects.on_request_redirect.append(_refuse_redirect)
        trace_configs.append(no_redirects)
    return ClientSession(
        connector=connector,
        timeout=ClientTimeout(total=None, connect=upstream.connect_timeout, sock_read=upstream.idle_timeout),
        auto_decompress=False,
        trust_env=False,
        raise_for_status=False,
        trace_configs=trace_configs,
    )


async def _refuse_redirect(
    session: ClientSession, context: SimpleNamespace, params: TraceRequestRedirectParams
) -> None:
    params.response.close()
    raise RedirectRefused(params.response.status)
