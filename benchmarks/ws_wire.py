"""RFC 6455 framing for the suite's raw-asyncio websocket peers: the mock's echo and the load
generator's realtime sessions. Only what they need: the opening handshake's accept key, whole frames
without extensions, masking both ways. The realtime messages the load generator sends are defined
here too, so both sides of a run agree on them.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct

FIN = 0x80
TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA
_ACCEPT_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#: A realtime client event (shaped like OpenAI's), padded to ``MESSAGE_BYTES`` by its text.
_MESSAGE = (
    b'{"type":"conversation.item.create","event_id":"evt_%010d","item":{"type":"message","role":"user",'
    b'"content":[{"type":"input_text","text":"%s"}]}}'
)
MESSAGE_BYTES = 200


def accept_key(key: bytes) -> bytes:
    """The ``Sec-WebSocket-Accept`` value a server answers to ``Sec-WebSocket-Key: key``."""
    return base64.b64encode(hashlib.sha1(key + _ACCEPT_GUID).digest())


def new_key() -> bytes:
    return base64.b64encode(os.urandom(16))


def message(number: int) -> bytes:
    """Realtime event ``number``: ``MESSAGE_BYTES`` bytes of JSON, distinct per number."""
    padding = MESSAGE_BYTES - len(_MESSAGE) - 3  # "%010d" becomes 10 bytes, "%s" the padding
    return _MESSAGE % (number, b"x" * padding)


def _xor(payload: bytes, mask: bytes) -> bytes:
    """Masking as one big-integer XOR: runs in C, no Python loop over the bytes."""
    size = len(payload)
    key = (mask * (size // 4 + 1))[:size]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(size, "little")


def frame(head: int, payload: bytes, masked: bool = False) -> bytes:
    """One frame with first byte ``head`` (FIN | opcode); a client's frames are masked (§5.3)."""
    size, bit = len(payload), 0x80 if masked else 0
    if size < 126:
        prefix = bytes((head, bit | size))
    elif size < 1 << 16:
        prefix = struct.pack("!BBH", head, bit | 126, size)
    else:
        prefix = struct.pack("!BBQ", head, bit | 127, size)
    if not masked:
        return prefix + payload
    mask = os.urandom(4)
    return prefix + mask + (_xor(payload, mask) if payload else payload)


class FrameReader:
    """Complete frames out of a byte stream, unmasked, as (first byte, payload) pairs."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buffer = self._buffer + data if self._buffer else data
        frames: list[tuple[int, bytes]] = []
        start, end = 0, len(buffer)
        while end - start >= 2:
            size, at = buffer[start + 1] & 0x7F, start + 2
            if size >= 126:
                width = 2 if size == 126 else 8
                if end - at < width:
                    break
                size = int.from_bytes(buffer[at : at + width], "big")
                at += width
            mask = b""
            if buffer[start + 1] & 0x80:
                mask, at = buffer[at : at + 4], at + 4
            if end - at < size or len(mask) not in (0, 4):
                break
            payload = buffer[at : at + size]
            frames.append((buffer[start], _xor(payload, mask) if mask and size else payload))
            start = at + size
        self._buffer = buffer[start:]
        return frames
