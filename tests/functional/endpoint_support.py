"""Helpers for the endpoint tests: program the fake with OpenAI-shaped answers, read what it received.

Answers are small bodies in OpenAI's real format (modelled on ../shared/fixtures/openai/), so the
SDK parses them into its typed models; ``to_dict()`` of what the SDK returns must then equal them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web

from tests.fake_provider import FakeProvider, Received

KEY = "sk-test-key"

#: Bytes every byte value can trip over in a multipart body: all 256 values, CRLFs, and a line that
#: looks like a part boundary.
BINARY = bytes(range(256)) * 256 + b"\r\n--not-the-boundary\r\n\r\n" + bytes(range(255, -1, -1)) * 64


def answer(
    fake: FakeProvider,
    method: str,
    path: str,
    body: Any,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> None:
    """Make the fake answer ``method path`` with ``body`` as JSON."""

    async def respond(request: web.Request, received: Received) -> web.StreamResponse:
        return web.json_response(body, status=status, headers=headers)

    fake.on(method, path, respond)


def answer_bytes(
    fake: FakeProvider, method: str, path: str, body: bytes, content_type: str, *, chunks: int = 1
) -> None:
    """Make the fake answer with raw bytes; ``chunks > 1`` sends them chunked, in that many writes."""

    async def respond(request: web.Request, received: Received) -> web.StreamResponse:
        if chunks == 1:
            return web.Response(body=body, content_type=content_type)
        response = web.StreamResponse(headers={"Content-Type": content_type})
        await response.prepare(request)
        step = -(-len(body) // chunks)
        for start in range(0, len(body), step):
            await response.write(body[start : start + step])
        await response.write_eof()
        return response

    fake.on(method, path, respond)


def answer_events(fake: FakeProvider, method: str, path: str, events: Sequence[bytes]) -> None:
    """Make the fake answer with an event stream, one write per event (already framed)."""

    async def respond(request: web.Request, received: Received) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8"})
        await response.prepare(request)
        for event in events:
            await response.write(event)
        await response.write_eof()
        return response

    fake.on(method, path, respond)


def query(received: Received) -> dict[str, list[str]]:
    return parse_qs(received.query, keep_blank_values=True, strict_parsing=bool(received.query))


def assert_reached(
    fake: FakeProvider, method: str, path: str, params: dict[str, list[str]] | None = None
) -> Received:
    """The one request the fake got went to ``method path`` with the caller's key; returns it."""
    assert len(fake.received) == 1, [(r.method, r.path) for r in fake.received]
    received = fake.last
    assert (received.method, received.path) == (method, path)
    assert query(received) == (params or {})
    assert received.headers["Authorization"] == f"Bearer {KEY}"
    return received


@dataclass(frozen=True, slots=True)
class Part:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes


_PARAM = re.compile(r'(\w+)="([^"]*)"')


def multipart_parts(received: Received) -> list[Part]:
    """The parts of a multipart/form-data body the fake received, their data as exact bytes."""
    content_type = received.headers["Content-Type"]
    assert content_type.startswith("multipart/form-data"), content_type
    boundary = content_type.split("boundary=", 1)[1].split(";", 1)[0].strip('"').encode()
    # A leading CRLF makes the first delimiter look like the others.
    sections = (b"\r\n" + received.body).split(b"\r\n--" + boundary)
    assert sections[0] == b"", "bytes before the first boundary"
    assert sections[-1] in (b"--", b"--\r\n"), "the body does not end with the closing boundary"
    parts = []
    for section in sections[1:-1]:
        assert section.startswith(b"\r\n")
        head, separator, data = section[2:].partition(b"\r\n\r\n")
        assert separator, "a part without a header/body separator"
        headers = {}
        for line in head.decode().split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        params = dict(_PARAM.findall(headers["content-disposition"]))
        parts.append(Part(params["name"], params.get("filename"), headers.get("content-type"), data))
    return parts


def form_fields(parts: list[Part]) -> dict[str, list[str]]:
    """The plain (non-file) fields of a multipart body, as the fake received them."""
    fields: dict[str, list[str]] = {}
    for part in parts:
        if part.filename is None:
            fields.setdefault(part.name, []).append(part.data.decode())
    return fields


def file_parts(parts: list[Part]) -> dict[str, list[tuple[str, bytes]]]:
    files: dict[str, list[tuple[str, bytes]]] = {}
    for part in parts:
        if part.filename is not None:
            files.setdefault(part.name, []).append((part.filename, part.data))
    return files


def page(data: list[dict[str, Any]], *, has_more: bool = False, **extra: Any) -> dict[str, Any]:
    """An OpenAI list body: ``{"object": "list", "data": [...], "has_more": ...}`` plus cursors."""
    return {"object": "list", "data": data, "has_more": has_more, **extra}
