"""Token usage read from the end of a response, without decoding anything else.

OpenAI-format responses carry ``"usage": {...}`` once, near the end: in the body of a JSON
response, and in the last event before ``[DONE]`` of a stream (with
``stream_options.include_usage``; earlier chunks carry ``"usage": null``). The relay keeps only
the last few KB of bytes it forwarded; this finds the last usage object there and decodes just it.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from gateway.observability.prices import Tokens

__all__ = [
    "TAIL_BYTES",
    "token_counts",
    "usage_from_tail",
]

#: Bytes of the response's end kept for usage extraction.
TAIL_BYTES = 8192

# A JSON object nested at most two levels ("usage" holds *_tokens_details objects). Possessive
# runs of other bytes: one step per run rather than per byte (4x faster on a usage object), and
# no backtracking into a cut-off one.
_USAGE = re.compile(rb'"usage"\s*:\s*(\{(?:[^{}]++|\{(?:[^{}]++|\{[^{}]*+\})*+\})*+\})')


def usage_from_tail(tail: bytes) -> dict[str, Any] | None:
    """The last usage object in ``tail``, or ``None`` when there is none (or it is cut off)."""
    start = tail.rfind(b'"usage"')
    while start != -1:
        match = _USAGE.match(tail, start)
        if match:
            try:
                value = orjson.loads(match.group(1))
            except orjson.JSONDecodeError:
                return None
            return value if isinstance(value, dict) else None
        start = tail.rfind(b'"usage"', 0, start)
    return None


def token_counts(usage: dict[str, Any] | None) -> Tokens | None:
    """The tokens of ``usage`` in the Chat Completions naming (``prompt_tokens``, translated
    providers' answers included) or the Responses and realtime naming (``input_tokens``);
    ``None`` without an input count. An answer with input and no output count (embeddings)
    produced no output tokens: 0. Cached tokens: ``prompt_tokens_details.cached_tokens`` or
    ``input_tokens_details.cached_tokens``; ``cache_creation_tokens`` beside them (Anthropic's
    and Bedrock's cache writes, as the translated answers carry them)."""
    if not usage:
        return None
    prompt = _count(usage, "prompt_tokens", "input_tokens")
    if prompt is None:
        return None
    details = usage.get("prompt_tokens_details") or usage.get("input_tokens_details")
    if not isinstance(details, dict):
        return Tokens(prompt, _count(usage, "completion_tokens", "output_tokens") or 0)
    return Tokens(
        prompt,
        _count(usage, "completion_tokens", "output_tokens") or 0,
        _count(details, "cached_tokens") or 0,
        _count(details, "cache_creation_tokens") or 0,
    )


def _count(counts: dict[str, Any], name: str, other: str = "") -> int | None:
    """``counts[name]``, else ``counts[other]``, when it is a whole number (a bool is not one)."""
    value = counts.get(name)
    # ``type() is``: a JSON number is a plain int, and a bool (an int subclass) is not a count.
    if type(value) is int:
        return value
    if other:
        value = counts.get(other)
        if type(value) is int:
            return value
    return None
