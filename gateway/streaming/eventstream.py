"""Incremental decoder of ``application/vnd.amazon.eventstream`` framing (Bedrock ConverseStream).

A frame: 4-byte total length, 4-byte headers length, CRC32 of those 8 bytes (the prelude), the
headers, the payload, and a CRC32 of everything before it. All integers are big-endian; the CRCs
are ``zlib.crc32``. Pure: no I/O, standard library only.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = [
    "MAX_FRAME",
    "EventStreamDecoder",
    "EventStreamError",
    "Frame",
    "encode_frame",
]

HeaderValue = bool | int | bytes | str | datetime | uuid.UUID

_PRELUDE = struct.Struct(">III")  # total length, headers length, prelude CRC
_CRC = struct.Struct(">I")
_MIN_FRAME = _PRELUDE.size + _CRC.size
#: The framing's own ceiling; a larger length means the stream is corrupt, not a huge event.
MAX_FRAME = 16 * 1024 * 1024
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_STRING_TYPE = 7
#: Distinct header blocks a decoder remembers; a stream that sends more is decoded as usual.
_CACHED_HEADER_BLOCKS = 32


class EventStreamError(Exception):
    """The stream is corrupt (a CRC mismatch or an impossible length); nothing after it can be trusted."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded message: headers typed by their wire type (shared between frames with the same
    header block: read-only), the payload as received."""

    headers: Mapping[str, HeaderValue]
    payload: bytes


class EventStreamDecoder:
    """Turns chunks of a response body, cut anywhere, into frames.

    After an :class:`EventStreamError` the decoder's state is undefined: the caller abandons the stream.
    """

    __slots__ = ("_buffer", "_headers")

    def __init__(self) -> None:
        self._buffer = bytearray()
        #: Decoded header blocks by their bytes: a stream repeats a handful of them (one per event
        #: type), and a lookup costs far less than decoding one again (~2 µs).
        self._headers: dict[bytes, Mapping[str, HeaderValue]] = {}

    @property
    def pending(self) -> int:
        """Bytes buffered of an unfinished frame: non-zero at end of body means the stream was cut."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Frame]:
        """Frames completed by ``data``; a partial frame is kept until the rest arrives."""
        buffer = self._buffer
        buffer += data
        frames = []
        start = 0
        # One view for the whole call: frames are checked and decoded in place, and the consumed
        # bytes are dropped once at the end (cheap: bytearray deletes from the front in O(1)).
        with memoryview(buffer) as view:
            while (end := _frame_end(view, start)) is not None:
                frames.append(self._decode_frame(view[start:end]))
                start = end
        del buffer[:start]
        return frames

    def _decode_frame(self, frame: memoryview) -> Frame:
        """A complete frame whose prelude is already checked: verify the message CRC, then decode."""
        body_end = len(frame) - _CRC.size
        if zlib.crc32(frame[:body_end]) != _CRC.unpack_from(frame, body_end)[0]:
            raise EventStreamError("event stream message CRC mismatch")
        headers_end = _PRELUDE.size + _PRELUDE.unpack_from(frame)[1]
        block = bytes(frame[_PRELUDE.size : headers_end])
        headers = self._headers.get(block)
        if headers is None:
            headers = _decode_headers(block)
            if len(self._headers) < _CACHED_HEADER_BLOCKS:
                self._headers[block] = headers
        return Frame(headers, bytes(frame[headers_end:body_end]))


def _frame_end(view: memoryview, start: int) -> int | None:
    """Where the frame at ``start`` ends, ``None`` until all of it is buffered."""
    if len(view) - start < _PRELUDE.size:
        return None
    total, headers_length, prelude_crc = _PRELUDE.unpack_from(view, start)
    if zlib.crc32(view[start : start + 8]) != prelude_crc:
        raise EventStreamError("event stream prelude CRC mismatch")
    if not _MIN_FRAME <= total <= MAX_FRAME:
        raise EventStreamError(f"event stream frame length {total} is out of range")
    if headers_length > total - _MIN_FRAME:
        raise EventStreamError(f"event stream headers length {headers_length} exceeds the frame")
    end = start + total
    return end if end <= len(view) else None


def _decode_headers(block: bytes) -> dict[str, HeaderValue]:
    headers: dict[str, HeaderValue] = {}
    position = 0
    size = len(block)
    try:
        while position < size:
            name_end = position + 1 + block[position]
            name = block[position + 1 : name_end].decode()
            kind = block[name_end]
            position = name_end + 1
            if kind == _STRING_TYPE:
                # Inline: every header Bedrock sends is a string, and the generic reader's calls
                # cost ~1 µs a header.
                end = position + 2 + int.from_bytes(block[position : position + 2])
                if end > size:
                    raise EventStreamError("event stream header runs past the headers block")
                headers[name] = block[position + 2 : end].decode()
                position = end
                continue
            reader = _VALUE_READERS.get(kind)
            if reader is None:
                raise EventStreamError(f"event stream header type {kind} is unknown")
            headers[name], position = reader(block, position)
    except IndexError:
        raise EventStreamError("event stream header runs past the headers block") from None
    except UnicodeDecodeError as exc:
        raise EventStreamError("event stream header is not valid UTF-8") from exc
    return headers


def _take(block: bytes, position: int, size: int) -> tuple[bytes, int]:
    """``size`` bytes at ``position`` and the position after them; running past the block is corrupt."""
    end = position + size
    if end > len(block):
        raise EventStreamError("event stream header runs past the headers block")
    return block[position:end], end


_ValueReader = Callable[[bytes, int], tuple[HeaderValue, int]]


def _constant(value: bool) -> _ValueReader:
    return lambda block, position: (value, position)


def _integer(layout: str) -> _ValueReader:
    packed = struct.Struct(layout)

    def read(block: bytes, position: int) -> tuple[HeaderValue, int]:
        raw, end = _take(block, position, packed.size)
        return packed.unpack(raw)[0], end

    return read


def _sized(block: bytes, position: int) -> tuple[bytes, int]:
    length, position = _take(block, position, 2)
    return _take(block, position, int.from_bytes(length))


def _bytes(block: bytes, position: int) -> tuple[HeaderValue, int]:
    raw, end = _sized(block, position)
    return bytes(raw), end


def _timestamp(block: bytes, position: int) -> tuple[HeaderValue, int]:
    raw, end = _take(block, position, 8)
    return _EPOCH + timedelta(milliseconds=int.from_bytes(raw, signed=True)), end


def _uuid(block: bytes, position: int) -> tuple[HeaderValue, int]:
    raw, end = _take(block, position, 16)
    return uuid.UUID(bytes=bytes(raw)), end


#: Header value decoders by wire type (7, string, is read inline): 0/1 bool, 2-5 int8..int64, 6 bytes,
#: 8 timestamp (ms since the epoch, as an aware UTC datetime), 9 UUID.
_VALUE_READERS: dict[int, _ValueReader] = {
    0: _constant(True),
    1: _constant(False),
    2: _integer(">b"),
    3: _integer(">h"),
    4: _integer(">i"),
    5: _integer(">q"),
    6: _bytes,
    8: _timestamp,
    9: _uuid,
}


def encode_frame(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One complete frame with string-typed ``headers``, as AWS would send it (tests, fake providers).

    Raises ``ValueError`` for a header name over 255 bytes or a value over 65535 bytes.
    """
    block = b"".join(_encode_string_header(name, value) for name, value in headers.items())
    prelude = struct.pack(">II", _MIN_FRAME + len(block) + len(payload), len(block))
    message = prelude + _CRC.pack(zlib.crc32(prelude)) + block + payload
    return message + _CRC.pack(zlib.crc32(message))


def _encode_string_header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    if len(raw_name) > 0xFF or len(raw_value) > 0xFFFF:
        raise ValueError(f"event stream header {name!r} is too long to encode")
    name_part = struct.pack(">B", len(raw_name)) + raw_name
    return name_part + struct.pack(">BH", _STRING_TYPE, len(raw_value)) + raw_value
