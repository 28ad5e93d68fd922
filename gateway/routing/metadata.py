"""``x-portkey-metadata``: caller-supplied string labels for logs, metrics and conditional routing."""

from __future__ import annotations

import orjson

from gateway.errors import InvalidRequest

__all__ = [
    "MAX_KEYS",
    "MAX_VALUE_LENGTH",
    "parse_metadata",
]

HEADER = "x-portkey-metadata"
MAX_KEYS = 64
MAX_VALUE_LENGTH = 1024


def parse_metadata(value: str | None) -> dict[str, str]:
    """The header's JSON object; a 400 naming the problem when it is not an object of strings."""
    if not value:
        return {}
    try:
        metadata = orjson.loads(value)
    except orjson.JSONDecodeError:
        raise _bad("is not valid JSON") from None
    if not isinstance(metadata, dict):
        raise _bad("must be a JSON object")
    if len(metadata) > MAX_KEYS:
        raise _bad(f"has more than {MAX_KEYS} keys")
    for key, item in metadata.items():
        if not isinstance(item, str):
            raise _bad(f"value of {key!r} must be a string")
        if len(item) > MAX_VALUE_LENGTH:
            raise _bad(f"value of {key!r} is longer than {MAX_VALUE_LENGTH} characters")
    return metadata


def _bad(problem: str) -> InvalidRequest:
    return InvalidRequest(f"x-portkey-metadata {problem}.", param=HEADER, code="invalid_metadata")
