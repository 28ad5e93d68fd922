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

__all__ = [
    "TAIL_BYTES",
    "token_counts",
    "usage_from_tail",
]

#: Bytes of the response's end kept for usage extraction.
TAIL_BYTES = 8192

# A JSON object nested at most two levels ("usage" holds *_tokens_details objects).
_USAGE = re.compile(rb'"usage"\s*:\s*(\{(?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*\})')


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


def token_counts(usage: dict[str, Any] | None) -> tuple[int | None, int | None]:
    """(input tokens, output tokens) in either the Chat Completions or the Responses naming."""
    if not usage:
        return None, None
    prompt = usage.get("prompt_tokens", usage.get("input_tokens"))
    completion = usage.get("completion_tokens", usage.get("output_tokens"))
    return (prompt if isinstance(prompt, int) else None, completion if isinstance(completion, int) else None)
