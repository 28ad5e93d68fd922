"""A request's tokens, estimated from its body before the call: cheap, and no tokenizer.

About four characters a token for English text (OpenAI's own rule of thumb), for what the body
sends, plus what it may get back: its ``max_tokens`` (or ``max_completion_tokens``,
``max_output_tokens``) or :data:`DEFAULT_OUTPUT_TOKENS`. The estimate only has to be good
enough to admit or refuse; the true count from the provider's usage replaces it once the
answer is in (``limits/stage.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "CHARS_PER_TOKEN",
    "DEFAULT_OUTPUT_TOKENS",
    "estimate_tokens",
]

CHARS_PER_TOKEN = 4
#: Output tokens assumed for a request that does not cap them.
DEFAULT_OUTPUT_TOKENS = 256
_INPUT_FIELDS = ("messages", "prompt", "input", "system", "instructions")
_OUTPUT_FIELDS = ("max_tokens", "max_completion_tokens", "max_output_tokens")
#: Nesting followed into message content (parts, tool calls); deeper text is not counted.
_MAX_DEPTH = 6


def estimate_tokens(params: Mapping[str, Any] | None) -> int:
    """Input characters / 4, rounded up, plus the output cap (at least 1 in all)."""
    if not params:
        return DEFAULT_OUTPUT_TOKENS
    chars = sum(_text_chars(params.get(name), 0) for name in _INPUT_FIELDS)
    return -(-chars // CHARS_PER_TOKEN) + _output_cap(params)


def _output_cap(params: Mapping[str, Any]) -> int:
    for name in _OUTPUT_FIELDS:
        value = params.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return DEFAULT_OUTPUT_TOKENS


def _text_chars(value: Any, depth: int) -> int:
    """Characters of the strings in ``value`` (messages, content parts, a prompt or a list)."""
    if isinstance(value, str):
        return len(value)
    if depth >= _MAX_DEPTH:
        return 0
    if isinstance(value, list):
        return sum(_text_chars(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return sum(_text_chars(item, depth + 1) for item in value.values())
    return 0
