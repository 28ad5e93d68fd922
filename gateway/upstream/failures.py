"""Every failure of an upstream attempt, mapped once to the gateway's OpenAI-shaped errors.

Transport exceptions (aiohttp, OS), the attempt's timers and a translated provider's own errors
all end as one of these (the tree is ``gateway/errors.py``'s):

    GatewayError
    ├── InvalidRequest 400 ........ custom_host_not_allowed: the SSRF guard refused the address
    ├── RequestTimeout 408 ........ the caller's x-portkey-request-timeout passed
    │   └── AttemptTimedOut 408 ... one attempt passed its config's request_timeout (retry and
    │                               fallback may name the 408)
    ├── BodyTimeout 408, PayloadTooLarge 413
    │                               the client's upload stalled or passed its cap (api/bodies.py)
    ├── ProviderError <status> .... a translated provider's error, typed by its status
    ├── UpstreamUnreachable 502 ... DNS, refused connection, TLS: nothing was answered
    ├── UpstreamBroken 502 ........ cut off mid-answer, malformed HTTP, a redirect, other failures
    └── UpstreamTimeout 504 ....... connect, headers, idle gap, or the gateway's total timeout

Messages name the provider and what went wrong, never a URL's query or a header (either may
carry a key).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp

from gateway.errors import (
    AttemptTimedOut,
    GatewayError,
    InvalidRequest,
    RequestTimeout,
    UpstreamBroken,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from gateway.upstream.hostpolicy import AddressRefused

__all__ = [
    "RedirectRefused",
    "attempt_timed_out",
    "headers_timed_out",
    "upstream_failure",
    "websocket_open_timed_out",
]

if TYPE_CHECKING:
    from gateway.routing.deadlines import AttemptLimit


class RedirectRefused(aiohttp.ClientError):
    """An upstream answered with a redirect the session would have followed (it never does)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def upstream_failure(
    exc: BaseException, provider: str, *, idle_timeout: float, host_param: str | None = None
) -> GatewayError:
    """The error to answer for ``exc`` raised while talking to ``provider``.

    A :class:`GatewayError` is already the verdict (the relay's on a stream, a translated
    provider's, an upload's) and is returned as it is. An address the SSRF guard refused is the
    caller's (or the operator's) 400 ``custom_host_not_allowed``, naming ``host_param``: where
    the host came from. Anything that is not a transport failure is raised again.
    """
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, aiohttp.ClientConnectorError) and isinstance(exc.os_error, AddressRefused):
        return InvalidRequest(
            f"The gateway refuses to connect to provider {provider}: {exc.os_error} Internal addresses "
            "are opened in the settings (custom_hosts.allow: hosts, host:port, addresses, CIDR ranges).",
            param=host_param,
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


def attempt_timed_out(limit: AttemptLimit, provider: str, where: str | None) -> GatewayError:
    """The error for an attempt that passed ``limit`` at ``provider`` (``where``: its config path)."""
    if limit.request_timeout is not None:
        at = f" ({where})" if where else ""
        return AttemptTimedOut(
            f"Provider {provider}{at} did not answer within the config's request_timeout "
            f"({limit.request_timeout} ms)."
        )
    seconds = limit.deadline.seconds
    if limit.deadline.caller:
        return RequestTimeout(
            f"The request took longer than x-portkey-request-timeout ({seconds * 1000:g} ms); "
            f"provider {provider} was still working on it."
        )
    return UpstreamTimeout(
        f"Provider {provider} did not finish within the gateway's request timeout ({seconds:g} s)."
    )


def headers_timed_out(provider: str, seconds: float) -> UpstreamTimeout:
    """The error for a provider that sent no response headers within ``seconds``."""
    return UpstreamTimeout(
        f"Provider {provider} sent no response headers within {seconds:g} s.",
        code="upstream_headers_timeout",
    )


def websocket_open_timed_out(provider: str, seconds: float) -> UpstreamTimeout:
    """The error for a provider whose websocket did not open within ``seconds`` (its message is
    the close reason the client gets)."""
    return UpstreamTimeout(f"{provider} did not open the websocket within {seconds:g} s")
