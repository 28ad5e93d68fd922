"""gateway/upstream/failures.py: every transport and timeout failure becomes the documented
GatewayError, naming the provider and never a secret.

The exceptions are built as aiohttp raises them, with secrets where a careless message would pick
them up: a key in the URL's query (Gemini's ``?key=``), an ``Authorization`` header, a proxy
password, the exception's own text.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey, RequestInfo
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from gateway.errors import (
    AttemptTimedOut,
    GatewayError,
    InvalidRequest,
    ProviderError,
    RequestTimeout,
    UpstreamBroken,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from gateway.routing.deadlines import AttemptLimit, Deadline
from gateway.upstream.failures import (
    RedirectRefused,
    attempt_timed_out,
    headers_timed_out,
    upstream_failure,
    websocket_open_timed_out,
)
from gateway.upstream.hostpolicy import AddressRefused

SECRET = "sk-marker-4f1c9e"
KEY = ConnectionKey("127.0.0.1", 9, False, True, URL(f"http://proxy:{SECRET}@127.0.0.1:3128"), None, None)
REQUEST = RequestInfo(
    URL(f"http://127.0.0.1:9/v1beta/models/g:generateContent?key={SECRET}"),
    "POST",
    CIMultiDictProxy(CIMultiDict({"Authorization": f"Bearer {SECRET}"})),
)


def mapped(exc: BaseException, provider: str = "google") -> GatewayError:
    return upstream_failure(exc, provider, idle_timeout=30.0, host_param="x-portkey-custom-host")


#: (what aiohttp or the OS raised, the error class answered, its status, its code, words of its message)
CASES: list[tuple[str, Callable[[], BaseException], type[GatewayError], int, str, str]] = [
    (
        "redirect",
        lambda: RedirectRefused(307),
        UpstreamBroken,
        502,
        "upstream_error",
        "answered with a redirect (HTTP 307)",
    ),
    (
        "connect timeout",
        lambda: aiohttp.ConnectionTimeoutError(f"Connection timeout to host {REQUEST.real_url}"),
        UpstreamTimeout,
        504,
        "upstream_connect_timeout",
        "Timed out connecting to provider google",
    ),
    (
        "idle timeout",
        lambda: aiohttp.SocketTimeoutError(f"Timeout on reading data from socket {SECRET}"),
        UpstreamTimeout,
        504,
        "upstream_idle_timeout",
        "sent nothing for 30 s (idle timeout)",
    ),
    (
        "dns",
        lambda: aiohttp.ClientConnectorDNSError(KEY, socket.gaierror(-2, "Name or service not known")),
        UpstreamUnreachable,
        502,
        "upstream_unreachable",
        "its host name did not resolve",
    ),
    (
        "refused",
        lambda: aiohttp.ClientConnectorError(KEY, ConnectionRefusedError(111, "Connection refused")),
        UpstreamUnreachable,
        502,
        "upstream_unreachable",
        "could not be reached: Connection refused.",
    ),
    (
        "connect failed without a reason",
        lambda: aiohttp.ClientConnectorError(KEY, OSError()),
        UpstreamUnreachable,
        502,
        "upstream_unreachable",
        "could not be reached: connection failed.",
    ),
    (
        "body cut",
        lambda: aiohttp.ClientPayloadError(f"Response payload is not completed: {SECRET}"),
        UpstreamBroken,
        502,
        "upstream_error",
        "closed the connection before the response was complete",
    ),
    (
        "disconnected",
        lambda: aiohttp.ServerDisconnectedError(f"Server disconnected {SECRET}"),
        UpstreamBroken,
        502,
        "upstream_error",
        "closed the connection without a complete response",
    ),
    (
        "malformed",
        lambda: aiohttp.ClientResponseError(REQUEST, (), status=400, message=f"Invalid header {SECRET}"),
        UpstreamBroken,
        502,
        "upstream_error",
        "sent a malformed HTTP response",
    ),
    (
        "other client error",
        lambda: aiohttp.InvalidURL(f"http://u:{SECRET}@127.0.0.1/"),
        UpstreamBroken,
        502,
        "upstream_error",
        "failed: InvalidURL.",
    ),
    (
        "reset",
        lambda: ConnectionResetError(104, f"Connection reset by peer {SECRET}"),
        UpstreamBroken,
        502,
        "upstream_error",
        "failed: ConnectionResetError.",
    ),
]


@pytest.mark.parametrize(
    ("raised", "kind", "status", "code", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_each_transport_failure_is_the_documented_error_naming_the_provider(
    raised: Callable[[], BaseException], kind: type[GatewayError], status: int, code: str, words: str
) -> None:
    error = mapped(raised())
    assert type(error) is kind
    assert (error.status, error.code) == (status, code)
    assert "google" in error.message
    assert words in error.message


@pytest.mark.parametrize("raised", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_no_failure_message_carries_a_secret(raised: Callable[[], BaseException]) -> None:
    error = mapped(raised())
    assert SECRET not in error.to_json().decode()
    assert SECRET not in str(error.headers)


def test_a_refused_address_is_the_callers_400_naming_where_the_host_came_from() -> None:
    refused = AddressRefused("metadata.internal resolves to 169.254.169.254, a link-local address.")
    error = mapped(aiohttp.ClientConnectorError(KEY, refused), provider="openai")
    assert type(error) is InvalidRequest
    assert (error.status, error.code, error.param) == (
        400,
        "custom_host_not_allowed",
        "x-portkey-custom-host",
    )
    assert "provider openai" in error.message
    assert "169.254.169.254, a link-local address" in error.message
    assert "custom_hosts.allow" in error.message
    assert SECRET not in error.message


@pytest.mark.parametrize(
    "verdict", [ProviderError("anthropic", 529, "Overloaded"), UpstreamBroken("cut"), InvalidRequest("bad")]
)
def test_a_gateway_error_is_already_the_verdict(verdict: GatewayError) -> None:
    assert mapped(verdict) is verdict


@pytest.mark.parametrize("raised", [ValueError("bug"), asyncio.CancelledError(), KeyError("k")])
def test_anything_that_is_not_a_transport_failure_is_raised_again(raised: BaseException) -> None:
    with pytest.raises(type(raised)) as caught:
        mapped(raised)
    assert caught.value is raised


# --- timers -----------------------------------------------------------------------------------


def test_an_attempt_past_its_configs_request_timeout_is_a_408_naming_the_target() -> None:
    limit = AttemptLimit(ends=10.0, deadline=Deadline(), request_timeout=1500)
    error = attempt_timed_out(limit, "groq", "config.targets[1]")
    assert type(error) is AttemptTimedOut
    assert (error.status, error.code) == (408, "request_timeout")
    assert error.message == (
        "Provider groq (config.targets[1]) did not answer within the config's request_timeout (1500 ms)."
    )
    assert "()" not in attempt_timed_out(limit, "groq", None).message


def test_a_request_past_the_callers_timeout_is_a_408_in_milliseconds() -> None:
    limit = AttemptLimit(ends=10.0, deadline=Deadline(ends=10.0, seconds=2.5, caller=True))
    error = attempt_timed_out(limit, "openai", "config")
    assert type(error) is RequestTimeout
    assert error.status == 408
    assert "x-portkey-request-timeout (2500 ms)" in error.message
    assert "provider openai" in error.message


def test_a_request_past_the_gateways_timeout_is_a_504_in_seconds() -> None:
    limit = AttemptLimit(ends=10.0, deadline=Deadline(ends=10.0, seconds=600.0))
    error = attempt_timed_out(limit, "bedrock", None)
    assert type(error) is UpstreamTimeout
    assert (error.status, error.code) == (504, "upstream_timeout")
    assert error.message == "Provider bedrock did not finish within the gateway's request timeout (600 s)."


def test_no_response_headers_in_time_is_a_504() -> None:
    error = headers_timed_out("cohere", 12.5)
    assert (error.status, error.code) == (504, "upstream_headers_timeout")
    assert error.message == "Provider cohere sent no response headers within 12.5 s."


def test_a_websocket_that_did_not_open_in_time_is_a_504() -> None:
    error = websocket_open_timed_out("openai", 10.0)
    assert error.status == 504
    assert error.message == "openai did not open the websocket within 10 s"
