"""A ``multipart/form-data`` upload read as it streams: its small fields and its file's bytes.

The OpenAI SDKs send ``POST /v1/files`` as a form with a ``purpose`` field and a ``file`` part
(httpx writes the fields before the files). Providers that store the file elsewhere (Cloud Storage)
need the file's bytes alone, so the form is parsed here read by read: memory stays at one read
plus a boundary's length, whatever the file's size (RFC 7578, framing per RFC 2046 §5.1.1).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator

from gateway.errors import InvalidRequest

__all__ = [
    "FormUpload",
    "lines",
]

#: A part's headers, and a field's value, are small: anything longer is not an OpenAI upload.
_MAX_HEADERS = 8 * 1024
_MAX_FIELD = 4 * 1024
_BOUNDARY = re.compile(r'boundary="?([^";]{1,200})"?', re.IGNORECASE)
_NAME = re.compile(rb'[; ]name="([^"]*)"', re.IGNORECASE)
_FILENAME = re.compile(rb'filename="([^"]*)"', re.IGNORECASE)


def _malformed(why: str) -> InvalidRequest:
    return InvalidRequest(f"The upload is not a valid multipart/form-data body: {why}.", code="invalid_body")


class FormUpload:
    """Iterating yields the bytes of the form's file part (the part with a ``filename``); the
    other fields are in :attr:`fields` as they are read (those before the file, by the time its
    first bytes are yielded). A malformed form raises :class:`InvalidRequest`."""

    __slots__ = ("_chunks", "_close", "_next", "_rest", "fields", "filename")

    def __init__(self, chunks: AsyncIterable[bytes], content_type: str) -> None:
        found = _BOUNDARY.search(content_type)
        if found is None:
            raise InvalidRequest(
                "The upload's Content-Type has no multipart boundary.",
                param="Content-Type",
                code="invalid_body",
            )
        boundary = found.group(1).encode()
        self._chunks = chunks
        self._next = b"--" + boundary
        self._close = b"\r\n--" + boundary
        self._rest = b""
        self.fields: dict[str, str] = {}
        self.filename = ""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        reads = aiter(self._chunks)
        buffer = await self._until(reads, b"", self._next)
        while True:
            buffer = await self._fill(reads, buffer, 2)
            if buffer.startswith(b"--"):
                return  # the closing delimiter: the form is complete
            if not buffer.startswith(b"\r\n"):
                raise _malformed("a boundary is not followed by a line break")
            head, buffer = await self._headers(reads, buffer[2:])
            name, filename = _disposition(head)
            if filename is None:
                buffer = await self._field(reads, buffer, name)
                continue
            self.filename = filename
            async for data in self._part(reads, buffer):
                yield data
            buffer = self._rest

    async def _until(self, reads: AsyncIterator[bytes], buffer: bytes, marker: bytes) -> bytes:
        """What follows ``marker`` (the preamble before it is dropped)."""
        while (at := buffer.find(marker)) < 0:
            buffer = buffer[-len(marker) :] + await _read(reads)
        return buffer[at + len(marker) :]

    async def _fill(self, reads: AsyncIterator[bytes], buffer: bytes, size: int) -> bytes:
        while len(buffer) < size:
            buffer += await _read(reads)
        return buffer

    async def _headers(self, reads: AsyncIterator[bytes], buffer: bytes) -> tuple[bytes, bytes]:
        while (end := buffer.find(b"\r\n\r\n")) < 0:
            if len(buffer) > _MAX_HEADERS:
                raise _malformed("a part's headers are too long")
            buffer += await _read(reads)
        return buffer[:end], buffer[end + 4 :]

    async def _field(self, reads: AsyncIterator[bytes], buffer: bytes, name: str) -> bytes:
        while (end := buffer.find(self._close)) < 0:
            if len(buffer) > _MAX_FIELD:
                raise _malformed(f"the field {name!r} is too long")
            buffer += await _read(reads)
        self.fields[name] = buffer[:end].decode("utf-8", "replace")
        return buffer[end + len(self._close) :]

    async def _part(self, reads: AsyncIterator[bytes], buffer: bytes) -> AsyncIterator[bytes]:
        """The part's bytes as they come; what follows its closing boundary is left in ``_rest``."""
        keep = len(self._close) - 1  # a boundary may be split across reads
        while (end := buffer.find(self._close)) < 0:
            if len(buffer) > keep:
                yield buffer[:-keep]
                buffer = buffer[-keep:]
            chunk = await anext(reads, b"")
            if not chunk:
                raise _malformed("the body ends inside the file")
            buffer += chunk
        if end:
            yield buffer[:end]
        self._rest = buffer[end + len(self._close) :]


async def _read(reads: AsyncIterator[bytes]) -> bytes:
    chunk = await anext(reads, b"")
    if not chunk:
        raise _malformed("the body ends before the closing boundary")
    return chunk


def _disposition(head: bytes) -> tuple[str, str | None]:
    """The part's field name and, for a file, its file name (from Content-Disposition)."""
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-disposition:"):
            name = _NAME.search(line)
            filename = _FILENAME.search(line)
            return (
                name.group(1).decode("utf-8", "replace") if name else "",
                filename.group(1).decode("utf-8", "replace") if filename else None,
            )
    raise _malformed("a part has no Content-Disposition")


async def lines(chunks: AsyncIterable[bytes], max_line: int) -> AsyncIterator[bytes]:
    """The lines of ``chunks`` (without their ``\\n``; blank ones skipped), as they complete; a
    400 for a line longer than ``max_line`` bytes."""
    parts: list[bytes] = []  # the line so far: joined once it ends, never re-scanned
    size = 0
    async for chunk in chunks:
        if b"\n" not in chunk:
            parts.append(chunk)
            size += len(chunk)
            if size > max_line:
                raise InvalidRequest(
                    f"A line of the file is longer than {max_line} bytes.", code="invalid_file"
                )
            continue
        first, *middle, last = chunk.split(b"\n")
        parts.append(first)
        for line in (b"".join(parts), *middle):
            if line.strip():
                yield line
        parts, size = [last], len(last)
    tail = b"".join(parts)
    if tail.strip():
        yield tail
