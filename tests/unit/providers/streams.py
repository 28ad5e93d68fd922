"""Feeding a stream translator as the network would, and reading what it wrote."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.providers.base import StreamTranslator


def translate(stream: StreamTranslator, body: bytes, piece: int = 5) -> bytes:
    """Everything ``stream`` writes for ``body`` read ``piece`` bytes at a time, ``end`` included."""
    out = b"".join(stream.feed(body[i : i + piece]) for i in range(0, len(body), piece))
    return out + stream.end()


def events(written: bytes) -> list[Any]:
    """The ``data:`` payloads of SSE bytes: each chunk parsed, ``[DONE]`` as the string."""
    found: list[Any] = []
    for block in written.split(b"\n\n"):
        if block:
            assert block.startswith(b"data: "), block
            data = block.removeprefix(b"data: ")
            found.append("[DONE]" if data == b"[DONE]" else orjson.loads(data))
    return found


def deltas(written: bytes, field: str) -> str:
    """The text of every chunk's ``delta[field]``, joined."""
    return "".join(
        chunk["choices"][0]["delta"].get(field) or ""
        for chunk in events(written)
        if chunk != "[DONE]" and chunk["choices"]
    )


def comparable(written: bytes) -> list[Any]:
    """The chunks without what each stream makes up for itself (an id where the provider sends
    none, the time it started)."""
    return [
        {k: v for k, v in chunk.items() if k not in ("id", "created")} if isinstance(chunk, dict) else chunk
        for chunk in events(written)
    ]
