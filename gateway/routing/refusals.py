"""Content-policy refusals are returned to the caller, never routed around.

A provider that refuses a prompt on policy answers 400 with an error whose code (or type) says so:
OpenAI's ``content_policy_violation``, Azure OpenAI's ``content_filter``. A fallback that names no
``on_status_codes`` moves on from any failure, but not from a refusal: the refusal is about the
prompt, not the provider, so another provider answering it defeats the policy the first one
enforced, and costs a second call. A config that names the status in ``on_status_codes`` still
moves on from it: it asked to.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.upstream.answer import UpstreamAnswer

__all__ = [
    "REFUSAL_STATUS",
    "read_refusal",
]

REFUSAL_STATUS = 400
REFUSAL_CODES = frozenset({"content_policy_violation", "content_filter"})
#: Error bodies are small; a longer 400 is not read whole, and so not taken for a refusal.
MAX_REFUSAL_BYTES = 16 * 1024


async def read_refusal(upstream: UpstreamAnswer) -> bytes | None:
    """The whole body of ``upstream`` (a 400) when it is a refusal, else ``None``.

    At most ``MAX_REFUSAL_BYTES`` + 1 bytes are read. What was read is the body the caller must
    get when it is a refusal (hand it to the relay); otherwise the answer is being moved on
    from, and dropped with its connection.
    """
    length = upstream.content_length
    if length is not None and length > MAX_REFUSAL_BYTES:
        return None
    parts: list[bytes] = []
    size = 0
    while size <= MAX_REFUSAL_BYTES:
        chunk = await upstream.content.read(MAX_REFUSAL_BYTES + 1 - size)
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
    if size > MAX_REFUSAL_BYTES:
        return None
    body = b"".join(parts)
    return body if is_refusal(body) else None


def is_refusal(body: bytes) -> bool:
    """Whether an error body's ``error.code`` or ``error.type`` is a content-policy refusal."""
    try:
        parsed: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if not isinstance(error, dict):
        return False
    return any(isinstance(error.get(k), str) and error[k] in REFUSAL_CODES for k in ("code", "type"))
