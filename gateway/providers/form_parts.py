"""A ``multipart/form-data`` upload read part by part as it streams (RFC 7578), for adapters that
turn an uploaded file into something else on the way (Bedrock's batch input on S3).

Memory stays at one read plus the delimiter's length, whatever the size of a part: a part's
bytes are handed on as they arrive, except the few that might start the next delimiter.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

from gateway.errors import InvalidRequest

__all__ = [
    "Part",
    "boundary_of",
    "form_parts",
]

_BOUNDARY = re.compile(r'boundary="?([^";]{1,200})"?', re.IGNORECASE)
_NAME = re.compile(rb'\bname="([^"]*)"', re.IGNORECASE)
_FILENAME = re.compile(rb'\bfilename="([^"]*)"', re.IGNORECASE)
#: A part's headers are a few lines; more is not a form.
_MAX_HEADERS = 16 * 1024


@dataclass(frozen=True, slots=True)
class Part:
    """One event of the form: a part starts (``name``, ``filename``), or its ``data`` continues."""

    name: str = ""
    filename: str = ""
    data: bytes = b""
    start: bool = False


def boundary_of(content_type: str) -> bytes:
    """The form's boundary from its ``Content-Type``; a 400 without one."""
    match = _BOUNDARY.search(content_type)
    if match is None:
        raise InvalidRequest(
            "The upload's Content-Type has no multipart boundary.", param="Content-Type", code="invalid_body"
        )
    return match.group(1).encode()


async def form_parts(chunks: AsyncIterable[bytes], boundary: bytes) -> AsyncIterator[Part]:
    """The form's parts in order: a ``start`` event, then its ``data`` as it arrives. A 400 for a
    body that is not the form its boundary says (no first delimiter, headers past 16 KiB, no
    closing delimiter)."""
    first, delimiter = b"--" + boundary, b"\r\n--" + boundary
    buffer = b""
    reader = aiter(chunks)
    buffer, found = await _until(reader, buffer, first, keep=len(first))
    if not found:
        # Nothing at all: an upload is read once, so a retry of it has nothing left to send.
        raise _malformed("no opening boundary" if buffer else "it is empty (an upload is read once)")
    buffer = buffer[len(first) :]
    while True:
        buffer = await _at_least(reader, buffer, 2)
        if buffer.startswith(b"--"):
            return  # the closing delimiter: anything after it is an epilogue, ignored
        headers, buffer = await _headers(reader, buffer)
        yield _start(headers)
        while True:
            index = buffer.find(delimiter)
            if index >= 0:
                if index:
                    yield Part(data=buffer[:index])
                buffer = buffer[index + len(delimiter) :]
                break
            keep = len(delimiter) - 1  # the start of a delimiter split across reads
            if len(buffer) > keep:
                yield Part(data=buffer[:-keep])
                buffer = buffer[-keep:]
            chunk = await anext(reader, b"")
            if not chunk:
                raise _malformed("no closing boundary")
            buffer += chunk


async def _until(reader: AsyncIterator[bytes], buffer: bytes, marker: bytes, keep: int) -> tuple[bytes, bool]:
    """Skip to ``marker`` (the preamble before the first delimiter is ignored, as RFC 2046 says);
    ``False`` with the last ``keep`` bytes read (none: the body was empty) when it never comes."""
    while (index := buffer.find(marker)) < 0:
        buffer = buffer[-keep:]
        chunk = await anext(reader, b"")
        if not chunk:
            return buffer, False
        buffer += chunk
    return buffer[index:], True


async def _at_least(reader: AsyncIterator[bytes], buffer: bytes, size: int) -> bytes:
    while len(buffer) < size:
        chunk = await anext(reader, b"")
        if not chunk:
            raise _malformed("it ends inside a delimiter")
        buffer += chunk
    return buffer


async def _headers(reader: AsyncIterator[bytes], buffer: bytes) -> tuple[bytes, bytes]:
    """The part's header block (after the delimiter's line break) and the bytes after it."""
    while (end := buffer.find(b"\r\n\r\n")) < 0:
        if len(buffer) > _MAX_HEADERS:
            raise _malformed("a part's headers are larger than 16 KiB")
        chunk = await anext(reader, b"")
        if not chunk:
            raise _malformed("it ends inside a part's headers")
        buffer += chunk
    return buffer[:end], buffer[end + 4 :]


def _start(headers: bytes) -> Part:
    disposition = next(
        (line for line in headers.split(b"\r\n") if line.lower().startswith(b"content-disposition:")), b""
    )
    name = _NAME.search(disposition)
    filename = _FILENAME.search(disposition)
    return Part(
        name=name.group(1).decode(errors="replace") if name else "",
        filename=filename.group(1).decode(errors="replace") if filename else "",
        start=True,
    )


def _malformed(why: str) -> InvalidRequest:
    return InvalidRequest(
        f"The upload is not a valid multipart/form-data body: {why}.", param="file", code="invalid_body"
    )
