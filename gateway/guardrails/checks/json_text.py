"""JSON values found in a model's text: fenced blocks and bare objects (Portkey's ``extractJson``).

Portkey takes the bodies of ```` ``` ```` fences (an optional ``json`` tag after the opening one)
and the shortest ``{...}`` runs of the text. That second regex stops at the first ``}``, so a
nested object outside a fence (``{"a": {"b": 1}}``) is never found; here a bare object is decoded
from each ``{`` with Python's JSON decoder, which reads nested objects whole.

Bounded for text the model (so, indirectly, a caller) writes: scanning is linear, and at most
:data:`MAX_CANDIDATES` candidates are decoded, so text full of ``{`` costs at most that many
decoder runs over it.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "MAX_CANDIDATES",
    "fenced_blocks",
    "json_values",
]

#: Most candidate texts decoded per check run.
MAX_CANDIDATES = 32
_FENCE = "```"
_DECODER = json.JSONDecoder()
#: What an unparsable candidate reads as (``None`` is a JSON value).
_NOTHING = object()


def fenced_blocks(text: str) -> list[str]:
    """The stripped bodies of the text's closed ```` ``` ```` fences, in order (a ``json`` tag
    right after the opening fence is not part of the body)."""
    blocks: list[str] = []
    start = text.find(_FENCE)
    while start != -1 and len(blocks) < MAX_CANDIDATES:
        body = _past_backticks(text, start)
        if text.startswith("json", body):
            body += len("json")
        end = text.find(_FENCE, body)
        if end == -1:
            break
        blocks.append(text[body:end].strip())
        start = text.find(_FENCE, _past_backticks(text, end))
    return blocks


def json_values(text: str, *, bare_only_without_fences: bool) -> list[Any]:
    """The JSON values the text holds: its fenced blocks that parse, then its bare objects.

    ``bare_only_without_fences`` (jsonSchema's rule) looks for bare objects only when no fence
    was found; otherwise (jsonKeys') both are collected.
    """
    blocks = fenced_blocks(text)
    values = [value for value in map(_parsed, blocks) if value is not _NOTHING]
    if blocks and bare_only_without_fences:
        return values
    return values + _bare_objects(text, MAX_CANDIDATES - len(blocks))


def _parsed(candidate: str) -> Any:
    try:
        return json.loads(candidate)
    except (ValueError, RecursionError):
        return _NOTHING


def _bare_objects(text: str, budget: int) -> list[Any]:
    """Objects decoded from the text's ``{`` positions, a decoded object's inside skipped."""
    found: list[Any] = []
    start = text.find("{")
    while start != -1 and budget > 0:
        budget -= 1
        try:
            value, end = _DECODER.raw_decode(text, start)
        except (ValueError, RecursionError):
            start = text.find("{", start + 1)
            continue
        found.append(value)
        start = text.find("{", end)
    return found


def _past_backticks(text: str, index: int) -> int:
    while index < len(text) and text[index] == "`":
        index += 1
    return index
