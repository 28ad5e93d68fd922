"""Sticky load balancing: requests whose hash fields are equal go to the same target.

Stateless by design, so every process and replica agrees without sharing anything: the target is
chosen by weighted rendezvous hashing (highest random weight) of the request's key over the
eligible targets. A key keeps its target while the set of targets and weights stays the same,
within windows of ``ttl`` seconds; each key's windows start at its own offset (from the key's
hash), so keys move on at different moments rather than all at once. At a window's end a key is
drawn again, by weight, and may land elsewhere.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from gateway.config.extras import MAX_STICKY_VALUE, Sticky
from gateway.config.routing import Node
from gateway.errors import InvalidRequest

__all__ = [
    "sticky_choice",
    "sticky_key",
]

#: 2**64: a 64-bit hash as a number in (0, 1).
_SPAN = float(1 << 64)


def sticky_key(sticky: Sticky, sources: Mapping[str, Mapping[str, Any]], path: str) -> bytes | None:
    """The request's values of the hash fields, encoded; ``None`` when it has none of them (it
    then balances as usual). A value that is not a string, number or boolean, or longer than
    ``MAX_STICKY_VALUE`` characters, is a 400 naming the field (``path`` is the strategy's)."""
    values: list[Any] = []
    for i, (source, names) in enumerate(sticky.hash_fields):
        value: Any = sources.get(source, {})
        for name in names:
            value = value.get(name) if isinstance(value, Mapping) else None
        if value is not None and (
            not isinstance(value, str | int | float | bool)
            or (isinstance(value, str) and len(value) > MAX_STICKY_VALUE)
        ):
            raise InvalidRequest(
                f"The request's {source}.{'.'.join(names)} (hash_fields[{i}] of {path}) must be a "
                f"string of at most {MAX_STICKY_VALUE} characters, a number or a boolean.",
                param="x-portkey-config",
                code="invalid_sticky_value",
            )
        values.append(value)
    if all(value is None for value in values):
        return None
    return orjson.dumps(values)


def sticky_choice(candidates: Sequence[Node], key: bytes, ttl: int, now: float) -> Node:
    """The candidate (weight > 0) that ``key`` sticks to at time ``now`` (seconds)."""
    offset = _hash(key, b"window") % ttl
    window = str(int((now + offset) // ttl)).encode()
    return max(candidates, key=lambda node: _score(node, key, window))


def _score(node: Node, key: bytes, window: bytes) -> float:
    # Weighted rendezvous: -w / ln(u) for u uniform in (0, 1) picks each target with probability
    # proportional to its weight, and only keys of a removed target move.
    u = (_hash(key, window, (node.name or node.path).encode()) + 0.5) / _SPAN
    return -node.weight / math.log(u)


def _hash(*parts: bytes) -> int:
    digest = hashlib.blake2b(digest_size=8)
    for part in parts:
        digest.update(len(part).to_bytes(4, "big"))
        digest.update(part)
    return int.from_bytes(digest.digest(), "big")
