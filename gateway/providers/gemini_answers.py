"""Reading the Gemini API's answers into OpenAI's: ``GenerateContentResponse`` bodies, their SSE
stream (each event a whole response, no terminal event: complete once a ``finishReason`` came),
embeddings and Google's errors. Shared by ``gemini.py`` and ``vertex.py``, which build the
requests these answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from gateway.errors import UpstreamBroken
from gateway.providers.openai_format import (
    ChunkWriter,
    ProviderError,
    completion,
    new_id,
    tool_call,
    upstream_error,
    usage,
)
from gateway.providers.translated import json_object
from gateway.streaming.sse import SseDecoder, SseEvent

_FILTERED = ("SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY")
_FINISH_REASONS = {"STOP": "stop", "MAX_TOKENS": "length", **dict.fromkeys(_FILTERED, "content_filter")}


def vectors(provider: str, items: Any, path: tuple[str, ...]) -> list[list[float]]:
    """The vector at ``path`` in each of ``items``; a 502 naming the provider for another shape."""
    found: list[list[float]] = []
    for item in items if isinstance(items, list) else ():
        node = item
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, list):
            break
        found.append(node)
    else:
        if found:
            return found
    raise ProviderError(provider, 502, "the answer holds no embeddings.", "bad_upstream_response")


# --- chat ----------------------------------------------------------------------------------


def read_response(provider: str, status: int, body: bytes, model: str) -> bytes:
    """An OpenAI chat completion (or error) from a ``GenerateContentResponse``."""
    if status >= 400:
        return upstream_error(provider, status, body, ("error",))
    answer = json_object(provider, body)
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in _parts(answer):
        if "functionCall" in part:
            calls.append(tool_call(*_call_of(part)))
        elif part.get("thought"):
            thoughts.append(part.get("text") or "")
        else:
            texts.append(part.get("text") or "")
    return completion(
        response_id=answer.get("responseId") or new_id(),
        model=answer.get("modelVersion") or model,
        content="".join(texts) if texts or not calls else None,
        reasoning="".join(thoughts) or None,
        tool_calls=calls,
        finish_reason=_finish_reason(answer, bool(calls)) or "stop",
        usage=_usage(answer.get("usageMetadata")),
    )


def _candidate(answer: Mapping[str, Any]) -> dict[str, Any]:
    candidates = answer.get("candidates")
    first = candidates[0] if isinstance(candidates, list) and candidates else None
    return first if isinstance(first, dict) else {}


def _parts(answer: Mapping[str, Any]) -> list[dict[str, Any]]:
    parts = (_candidate(answer).get("content") or {}).get("parts")
    return [part for part in parts if isinstance(part, dict)] if isinstance(parts, list) else []


def _call_of(part: Mapping[str, Any]) -> tuple[str, str, str, dict[str, Any] | None]:
    """(id, name, arguments JSON, extra fields) of a ``functionCall`` part."""
    call = part["functionCall"]
    call_id = call.get("id") or new_id("call_")
    signature = part.get("thoughtSignature")
    extra = {"extra_content": {"google": {"thought_signature": signature}}} if signature else None
    return call_id, call.get("name") or "", orjson.dumps(call.get("args") or {}).decode(), extra


def _finish_reason(answer: Mapping[str, Any], has_calls: bool) -> str | None:
    """OpenAI's finish reason, or ``None`` while the answer is not finished (a stream event)."""
    reason = _candidate(answer).get("finishReason")
    if reason is None:
        blocked = not answer.get("candidates") and (answer.get("promptFeedback") or {}).get("blockReason")
        return "content_filter" if blocked else None
    mapped = _FINISH_REASONS.get(reason, "stop")
    return "tool_calls" if has_calls and mapped == "stop" else mapped


def _usage(counts: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not counts:
        return None
    # Tokens of tool use (search results...) are input too: prompt + completion = totalTokenCount.
    prompt = (counts.get("promptTokenCount") or 0) + (counts.get("toolUsePromptTokenCount") or 0)
    thoughts = counts.get("thoughtsTokenCount")
    return usage(
        prompt,
        (counts.get("candidatesTokenCount") or 0) + (thoughts or 0),
        cached=counts.get("cachedContentTokenCount"),
        reasoning=thoughts,
    )


class GenerateContentStream:
    """Translates one ``streamGenerateContent?alt=sse`` stream (see
    :class:`~gateway.providers.base.StreamTranslator`)."""

    __slots__ = ("_calls", "_chunks", "_provider", "_sse", "_started")

    def __init__(self, provider: str, model: str, include_usage: bool) -> None:
        self._provider = provider
        self._sse = SseDecoder()
        self._chunks = ChunkWriter(model, include_usage)
        self._started = False
        self._calls = 0

    @property
    def usage(self) -> dict[str, Any] | None:
        return self._chunks.usage

    def feed(self, data: bytes) -> bytes:
        return self._chunks.each(self._sse.feed(data), self._event)

    def end(self) -> bytes:
        return self._chunks.end(self._provider)

    def _event(self, event: SseEvent) -> bytes:
        try:
            payload = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            payload = None
        if not isinstance(payload, dict):
            raise UpstreamBroken(f"Provider {self._provider} sent a stream event that is not a JSON object.")
        if "error" in payload:
            error = payload["error"] if isinstance(payload["error"], dict) else {}
            code = error.get("code")
            status = code if isinstance(code, int) else 500
            raise ProviderError(
                self._provider, status, error.get("message") or "stream error", error.get("status")
            )
        chunks = self._chunks
        out: list[bytes] = [] if self._started else [self._start(payload)]
        for part in _parts(payload):
            if "functionCall" in part:
                out.append(chunks.tool_start(self._calls, *_call_of(part)))
                self._calls += 1
            elif part.get("thought"):
                out.append(chunks.reasoning(part.get("text") or ""))
            else:
                out.append(chunks.text(part.get("text") or ""))
        if payload.get("usageMetadata"):
            chunks.usage = _usage(payload["usageMetadata"])
        reason = _finish_reason(payload, chunks.has_tool_calls)
        if reason is not None:
            out.append(chunks.finish(reason))
        return b"".join(out)

    def _start(self, payload: Mapping[str, Any]) -> bytes:
        """The role chunk, once the first event names the response (every event repeats its id)."""
        self._started = True
        self._chunks.start(payload.get("responseId") or new_id(), payload.get("modelVersion"))
        return self._chunks.role()
