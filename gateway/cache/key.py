"""The cache key: what must be equal for two requests to share an answer.

Endpoint family, provider, the base URL called, the target's credential fingerprint (so one
tenant's key never reads another's entries), its shown options, the caller's namespace, and the
body the target gets, parsed and re-serialised with sorted keys. ``stream`` and ``stream_options``
are left out: a streamed and a non-streamed request share an answer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

from gateway.providers.base import CHAT, COMPLETIONS, EMBEDDINGS
from gateway.routing.identity import TargetIdentity

__all__ = [
    "CACHEABLE_FAMILIES",
    "cache_key",
    "semantic_parts",
]

#: The endpoint families whose answers the exact cache keeps.
CACHEABLE_FAMILIES = frozenset({CHAT, COMPLETIONS, EMBEDDINGS})
_NOT_KEYED = frozenset({"stream", "stream_options"})


def cache_key(family: str, identity: TargetIdentity, namespace: str, params: Mapping[str, Any]) -> str:
    """A hex SHA-256 of everything above; never holds a credential (only its fingerprint)."""
    digest = hashlib.sha256()
    for part in (
        family,
        identity.provider,
        identity.base_url,
        identity.credential,
        repr(identity.scope),
        namespace,
    ):
        digest.update(part.encode())
        digest.update(b"\0")
    body = {name: value for name, value in params.items() if name not in _NOT_KEYED}
    digest.update(orjson.dumps(body, option=orjson.OPT_SORT_KEYS))
    return digest.hexdigest()


def semantic_parts(params: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """A chat request split for the semantic cache: the last user message's text (the fuzzy part)
    and the rest (everything else, that message's content left out: equal rests share a
    partition). ``None`` when the last message is not a user message of text only."""
    messages = params.get("messages")
    if not isinstance(messages, list) or not messages or not isinstance(messages[-1], dict):
        return None
    last = messages[-1]
    if last.get("role") != "user":
        return None
    text = _text_only(last.get("content"))
    if text is None:
        return None
    shell = {name: value for name, value in last.items() if name != "content"}
    return text, {**params, "messages": [*messages[:-1], shell]}


def _text_only(content: Any) -> str | None:
    """A message content's text when it has nothing else (no image, audio or file part)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list) or not content:
        return None
    texts = []
    for part in content:
        if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
            return None
        texts.append(part["text"])
    return "\n".join(texts)
