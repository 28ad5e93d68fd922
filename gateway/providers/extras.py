"""Portkey's non-strict answers (``strict_open_ai_compliance: false``), shared by the translating
providers: the provider's own finish reason, and the streamed ``content_blocks`` entry.

Strict answers (the default) never call into this: each adapter asks ``strict`` once per answer or
event and keeps its OpenAI-only path as it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "finish_reason",
    "stream_block",
]


def finish_reason(raw: object, mapped: str, strict: bool) -> str:
    """``mapped`` (OpenAI's reason) when strict; else the provider's own reason as it sent it
    (``end_turn``, ``STOP``...), as Portkey does, and ``mapped`` when it sent none."""
    if strict or not isinstance(raw, str) or not raw:
        return mapped
    return raw


def stream_block(index: object, block: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A streamed ``content_blocks`` value as Portkey shapes it: the provider's block (or block
    delta) at ``index``, without its ``type``."""
    return [{"index": index, "delta": {k: v for k, v in block.items() if k != "type"}}]
