"""Requests the HTTP parser refuses: an OpenAI-shaped answer without the offending line, one log line."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from aiohttp.test_utils import TestServer

MARKER = "sk-MARKER-7f3a9c"
_BASE = "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n"


async def exchange(server: TestServer, raw: bytes) -> tuple[int, bytes, bytes]:
    """Send ``raw`` on a fresh connection; the status, the headers and the body of the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(raw)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout=5)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), head, body


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (f"{_BASE}Authorization: Bearer {MARKER}\x7f\r\n\r\n", 400),
        (f"{_BASE}X-Filler: {'a' * 80_000}{MARKER}\r\n\r\n", 413),
        (f'{_BASE}x-portkey-config: {{"api_key": "{MARKER}"{" " * 80_000}}}\r\n\r\n', 413),
        (f"{_BASE}Content-Length: 5{MARKER}\r\n\r\n", 400),
        (f"{_BASE}Content-Length: 5\r\nTransfer-Encoding: chunked\r\nX-Key: {MARKER}\r\n\r\n", 400),
        (f"{_BASE}Transfer-Encoding: chunked\r\n\r\nzz{MARKER}\r\n\r\n", 400),
        (f"{_BASE}Bad Name{MARKER}: v\r\n\r\n", 400),
        (f"G\x01T /{MARKER} HTTP/1.1\r\nHost: gw\r\n\r\n", 400),
        (f"GET /{MARKER} HTTP/9.9\r\nHost: gw\r\n\r\n", 400),
        (f"GET /{MARKER}\x00 HTTP/1.1\r\nHost: gw\r\n\r\n", 400),
    ],
    ids=[
        "header-value",
        "long-header",
        "long-config",
        "content-length",
        "cl-and-te",
        "chunk",
        "name",
        "method",
        "version",
        "path",
    ],
)
async def test_a_malformed_request_gets_json_without_the_line_and_one_log_line_without_it(
    raw: str, status: int, gateway: TestServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    got, head, body = await exchange(gateway, raw.encode("latin-1"))
    assert got == status
    assert b"application/json" in head
    error = json.loads(body)["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith("Malformed HTTP request: ")
    assert MARKER.encode() not in head + body
    assert MARKER not in caplog.text
    assert "Traceback" not in caplog.text
    assert not any(record.exc_info for record in caplog.records)
    protocol_lines = [record for record in caplog.records if record.name == "gateway.protocol"]
    assert len(protocol_lines) == 1
    assert "\n" not in protocol_lines[0].getMessage()


async def test_a_well_formed_request_after_a_malformed_one_is_served(gateway: TestServer) -> None:
    await exchange(gateway, f"{_BASE}Authorization: Bearer {MARKER}\x7f\r\n\r\n".encode())
    status, _, _ = await exchange(gateway, b"GET /healthz HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
    assert status == 200
