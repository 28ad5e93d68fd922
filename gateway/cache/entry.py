"""One cached answer, as the stores keep it: a short JSON header line, then the answer's JSON body.

Streams are stored in their JSON form (``cache/replay.py`` assembles it from the recorded events):
a streamed request's HIT gets events synthesised from it, shaped by what that request asked for
(``stream_options.include_usage``), and a non-streamed request's HIT gets it as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

__all__ = [
    "CachedAnswer",
    "decode",
    "encode",
]

_VERSION = 1


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    #: The answer's JSON body (a chat completion, a text completion, an embeddings list, ...).
    body: bytes
    #: The provider that gave it, and the model it was asked for (for the response and the record).
    provider: str
    model: str
    #: ``time.time()`` when it was stored.
    created: float


def encode(answer: CachedAnswer) -> bytes:
    header = {"v": _VERSION, "provider": answer.provider, "model": answer.model, "created": answer.created}
    return orjson.dumps(header) + b"\n" + answer.body


def decode(value: bytes) -> CachedAnswer | None:
    """The answer in ``value``, or ``None`` when it is not one this version wrote (a miss)."""
    header, _, body = value.partition(b"\n")
    try:
        fields = orjson.loads(header)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(fields, dict) or fields.get("v") != _VERSION or not body:
        return None
    provider, model, created = fields.get("provider"), fields.get("model"), fields.get("created")
    if not isinstance(provider, str) or not isinstance(model, str) or not isinstance(created, (int, float)):
        return None
    return CachedAnswer(body, provider, model, float(created))
