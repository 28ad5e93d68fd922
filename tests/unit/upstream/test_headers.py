"""Which headers cross the gateway: hop-by-hop, credentials and x-portkey-* never do."""

from __future__ import annotations

from multidict import CIMultiDict, CIMultiDictProxy

from gateway.upstream.headers import header_names, relayed_response_headers, upstream_request_headers


def proxy(*pairs: tuple[str, str]) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict(pairs))


def test_header_names_are_lower_cased_and_blank_entries_dropped() -> None:
    assert header_names("") == frozenset()
    assert header_names(" X-Trace , ,Accept") == {"x-trace", "accept"}


def test_only_default_headers_go_upstream_without_credentials_or_gateway_controls() -> None:
    client = proxy(
        ("Content-Type", "application/json"),
        ("OpenAI-Beta", "assistants=v2"),
        ("Authorization", "Bearer sk-secret"),
        ("x-api-key", "sk-secret"),
        ("Cookie", "session=1"),
        ("x-portkey-provider", "openai"),
        ("X-Custom", "1"),
        ("Keep-Alive", "timeout=5"),
    )
    sent = upstream_request_headers(client)
    assert dict(sent) == {"Content-Type": "application/json", "OpenAI-Beta": "assistants=v2"}


def test_named_headers_are_forwarded_but_never_credentials_or_hop_by_hop() -> None:
    client = proxy(
        ("X-Custom", "1"),
        ("Authorization", "Bearer sk-secret"),
        ("Upgrade", "websocket"),
        ("x-portkey-trace-id", "t"),
    )
    sent = upstream_request_headers(client, {"x-custom", "authorization", "upgrade", "x-portkey-trace-id"})
    assert dict(sent) == {"X-Custom": "1"}


def test_headers_the_connection_header_names_are_hop_by_hop() -> None:
    client = proxy(("Connection", "close, Accept"), ("Accept", "text/event-stream"))
    assert dict(upstream_request_headers(client)) == {}


def test_relayed_response_keeps_rate_limits_and_drops_connection_scoped_and_cookies() -> None:
    upstream = proxy(
        ("x-ratelimit-remaining-requests", "9"),
        ("retry-after", "2"),
        ("Content-Type", "application/json"),
        ("Set-Cookie", "a=b"),
        ("Transfer-Encoding", "chunked"),
        ("Content-Length", "10"),
        ("Connection", "X-Hop"),
        ("X-Hop", "1"),
        ("Server", "upstream"),
    )
    assert dict(relayed_response_headers(upstream)) == {
        "x-ratelimit-remaining-requests": "9",
        "retry-after": "2",
        "Content-Type": "application/json",
    }


def test_repeated_headers_are_all_kept() -> None:
    upstream = proxy(("x-request-id", "1"), ("x-request-id", "2"))
    assert relayed_response_headers(upstream).getall("x-request-id") == ["1", "2"]
