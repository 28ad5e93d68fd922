"""The early shed's framing check: only a lone, plainly framed HTTP/1.1 request is recognised."""

from __future__ import annotations

import pytest

from gateway.middleware.framing import LoneRequest, lone_request

HEAD = b"POST /v1/chat/completions?x=1 HTTP/1.1\r\nHost: gw\r\nx-portkey-provider: openai\r\n"


def request(extra: bytes = b"", body: bytes = b"{}") -> bytes:
    return HEAD + extra + b"Content-Length: %d\r\n\r\n" % len(body) + body


def test_a_whole_request_gives_its_path_its_header_and_keep_alive() -> None:
    assert lone_request(request(), b"x-portkey-provider") == LoneRequest(
        b"/v1/chat/completions", False, b"openai"
    )


def test_connection_close_and_an_absent_header_are_reported() -> None:
    found = lone_request(request(b"Connection: Close\r\n"), b"x-portkey-config")
    assert found == LoneRequest(b"/v1/chat/completions", True, None)


def test_a_request_without_a_body_is_whole_without_content_length() -> None:
    assert lone_request(b"GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n", b"x") == LoneRequest(
        b"/healthz", False, None
    )


@pytest.mark.parametrize(
    "data",
    [
        request()[:-1],  # body still arriving
        request() + request(),  # pipelined
        HEAD[:20],  # head still arriving
        request().replace(b"HTTP/1.1", b"HTTP/1.0"),
        request(b"Transfer-Encoding: chunked\r\n"),
        request(b"Upgrade: websocket\r\n"),
        request(b"X-Folded: a\r\n b\r\n"),
        request(b"X-Bare: a\nX-Other: b\r\n"),
        request(b"Content-Length: 2\r\n"),  # two lengths
        HEAD + b"Content-Length: +2\r\n\r\n{}",
        request(b"Connection: close\r\nConnection: close\r\n"),
        request(b"X-Nul: \0\r\n"),
    ],
    ids=[
        "short_body",
        "pipelined",
        "short_head",
        "http10",
        "chunked",
        "upgrade",
        "folded",
        "bare_lf",
        "two_lengths",
        "signed_length",
        "two_connections",
        "nul",
    ],
)
def test_anything_only_the_parser_may_judge_is_left_to_it(data: bytes) -> None:
    assert lone_request(data, b"x-portkey-provider") is None
