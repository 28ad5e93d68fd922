"""Upstream failures (aiohttp and timeout exceptions) as the gateway's OpenAI-shaped errors."""

from __future__ import annotations

import aiohttp

from gateway.errors import GatewayError, InvalidRequest, UpstreamBroken, UpstreamTimeout, UpstreamUnreachable
from gateway.upstream.hostpolicy import AddressRefused


class RedirectRefused(aiohttp.ClientError):
    """An upstream answered with a redirect the session would have followed (it never does)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def upstream_failure(exc: BaseException, provider: str, *, idle_timeout: float) -> GatewayError:
    """The error to answer for ``exc`` raised while talking to ``provider``.

    The message names the provider and what went wrong, never the URL's query or any header
    (either may carry a key). An address the SSRF guard refused is the caller's (or the
    operator's) 400 ``custom_host_not_allowed``, not a provider failure.
    """
    if isinstance(exc, aiohttp.ClientConnectorError) and isinstance(exc.os_error, AddressRefused):
        return InvalidRequest(
            f"The gateway refuses to connect to provider {provider}: {exc.os_error} Internal addresses "
            "are opened in the settings (custom_hosts.allow: hosts, host:port, addresses, CIDR ranges).",
            code="custom_host_not_allowed",
        )
    if isinstance(exc, RedirectRefused):
        return UpstreamBroken(
            f"Provider {provider} answered with a redirect (HTTP {exc.status}), "
            "which the gateway does not follow."
        )
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return UpstreamTimeout(
            f"Timed out connecting to provider {provider}.", code="upstream_connect_timeout"
        )
    if isinstance(exc, aiohttp.SocketTimeoutError):
        return UpstreamTimeout(
            f"Provider {provider} sent nothing for {idle_timeout:g} s (idle timeout).",
            code="upstream_idle_timeout",
        )
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return UpstreamUnreachable(
            f"Provider {provider} could not be reached: its host name did not resolve ({exc.os_error})."
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        return UpstreamUnreachable(
            f"Provider {provider} could not be reached: {exc.os_error.strerror or 'connection failed'}."
        )
    if isinstance(exc, aiohttp.ClientPayloadError):
        return UpstreamBroken(f"Provider {provider} closed the connection before the response was complete.")
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return UpstreamBroken(f"Provider {provider} closed the connection without a complete response.")
    if isinstance(exc, aiohttp.ClientResponseError):
        return UpstreamBroken(f"Provider {provider} sent a malformed HTTP response.")
    if isinstance(exc, aiohttp.ClientError | OSError):
        return UpstreamBroken(f"Connection to provider {provider} failed: {type(exc).__name__}.")
    raise exc
