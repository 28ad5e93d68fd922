"""Reading the Gemini API's answers into OpenAI's: ``GenerateContentResponse`` bodies, their SSE
stream (each event a whole response, no terminal event: complete once a ``finishReason`` came),
embeddings and Google's errors. Shared by ``gemini.py`` and ``vertex.py``, which build the
requests these answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from gateway.errors import ProviderError, UpstreamBroken
from gateway.providers import extras
from gateway.providers.openai_format import (
    completion,
    new_id,
    tool_call,
    upstream_error,
    usage,
)
from gateway.providers.translated import json_object
from gateway.providers.translated_stream import TranslatedStream
from gateway.streaming.sse import SseDecoder, SseEvent

__all__ = [
    "GenerateContentStream",
    "read_response",
    "vectors",
]

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


def read_response(provider: str, status: int, body: bytes, model: str, strict: bool = True) -> bytes:
    """An OpenAI chat completion (or error) from a ``GenerateContentResponse``; not ``strict``, as
    Portkey has it: the raw ``finishReason``, ``content_blocks``, each call's ``thought_signature``
    in its ``function`` and the candidate's ``groundingMetadata`` (``safetyRatings`` on Vertex)."""
    if status >= 400:
        return upstream_error(provider, status, body, ("error",))
    answer = json_object(provider, body)
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in _parts(answer):
        if "functionCall" in part:
            calls.append(tool_call(*_call_of(part, strict)))
        elif part.get("thought"):
            thoughts.append(part.get("text") or "")
        else:
            texts.append(part.get("text") or "")
    finish_reason = _finish_reason(answer, bool(calls)) or "stop"
    blocks = None
    choice_extra = None
    if not strict:
        finish_reason = extras.finish_reason(_candidate(answer).get("finishReason"), finish_reason, strict)
        blocks = [block for part in _parts(answer) if (block := _content_block(part))]
        choice_extra = _choice_extra(provider, _candidate(answer))
    return completion(
        response_id=answer.get("responseId") or new_id(),
        model=answer.get("modelVersion") or model,
        content="".join(texts) if texts or not calls else None,
        reasoning="".join(thoughts) or None,
        tool_calls=calls,
        finish_reason=finish_reason,
        usage=_usage(answer.get("usageMetadata")),
        content_blocks=blocks,
        choice_extra=choice_extra,
    )


def _content_block(part: Mapping[str, Any]) -> dict[str, Any] | None:
    """Portkey's ``content_blocks`` entry for a part (function calls are tool calls, not blocks)."""
    if part.get("text"):
        kind = "thinking" if part.get("thought") else "text"
        return {"type": kind, kind: part["text"]}
    inline = part.get("inlineData")
    if isinstance(inline, dict):
        url = f"data:{inline.get('mimeType')};base64,{inline.get('data')}"
        return {"type": "image_url", "image_url": {"url": url}}
    return None


def _choice_extra(provider: str, candidate: Mapping[str, Any]) -> dict[str, Any]:
    """The candidate fields Portkey keeps on a non-strict choice: ``groundingMetadata``, and on
    Vertex AI ``safetyRatings`` too."""
    names = ("groundingMetadata", "safetyRatings") if provider == "vertex-ai" else ("groundingMetadata",)
    return {name: candidate[name] for name in names if candidate.get(name)}


def _candidate(answer: Mapping[str, Any]) -> dict[str, Any]:
    candidates = answer.get("candidates")
    first = candidates[0] if isinstance(candidates, list) and candidates else None
    return first if isinstance(first, dict) else {}


def _parts(answer: Mapping[str, Any]) -> list[dict[str, Any]]:
    parts = (_candidate(answer).get("content") or {}).get("parts")
    return [part for part in parts if isinstance(part, dict)] if isinstance(parts, list) else []


def _call_of(
    part: Mapping[str, Any], strict: bool
) -> tuple[str, str, str, dict[str, Any] | None, dict[str, Any] | None]:
    """(id, name, arguments JSON, extra fields, extra ``function`` fields) of a ``functionCall``
    part; the signature goes in ``function`` too when not strict, where Portkey puts it."""
    call = part["functionCall"]
    call_id = call.get("id") or new_id("call_")
    signature = part.get("thoughtSignature")
    extra = {"extra_content": {"google": {"thought_signature": signature}}} if signature else None
    in_function = {"thought_signature": signature} if signature and not strict else None
    return call_id, call.get("name") or "", orjson.dumps(call.get("args") or {}).decode(), extra, in_function


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


class GenerateContentStream(TranslatedStream[SseEvent]):
    """Translates one ``streamGenerateContent?alt=sse`` stream (see
    :class:`~gateway.providers.base.StreamTranslator`)."""

    __slots__ = ("_calls", "_started", "_thought")

    def __init__(self, provider: str, model: str, include_usage: bool, strict: bool = True) -> None:
        # Not strict: Portkey's extras too (see :func:`read_response`), event by event.
        super().__init__(provider, model, include_usage, strict, SseDecoder())
        self._started = False
        self._calls = 0
        #: A thought came: Portkey numbers the text block after it 1 (the thoughts are block 0).
        self._thought = False

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
        strict = self._strict
        out: list[bytes] = [] if self._started else [self._start(payload)]
        for part in _parts(payload):
            if "functionCall" in part:
                out.append(chunks.tool_start(self._calls, *_call_of(part, strict)))
                self._calls += 1
            elif part.get("thought"):
                text = part.get("text") or ""
                self._thought = self._thought or not strict
                blocks = None if strict else [{"index": 0, "delta": {"thinking": text}}]
                out.append(chunks.reasoning(text, blocks))
            else:
                text = part.get("text") or ""
                plain = strict or "text" not in part
                blocks = None if plain else [{"index": int(self._thought), "delta": {"text": text}}]
                out.append(chunks.text(text, blocks))
        if payload.get("usageMetadata"):
            chunks.usage = _usage(payload["usageMetadata"])
        if not strict and (fields := _choice_extra(self._provider, _candidate(payload))):
            out.append(chunks.choice_extra(fields))
        reason = _finish_reason(payload, chunks.has_tool_calls)
        if reason is not None:
            raw = _candidate(payload).get("finishReason")
            out.append(chunks.finish(extras.finish_reason(raw, reason, strict)))
        return b"".join(out)

    def _start(self, payload: Mapping[str, Any]) -> bytes:
        """The role chunk, once the first event names the response (every event repeats its id)."""
        self._started = True
        self._chunks.start(payload.get("responseId") or new_id(), payload.get("modelVersion"))
        return self._chunks.role()
