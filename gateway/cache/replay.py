"""A cached answer in the other form: a stored stream as the JSON a plain request gets, a stored
JSON answer as the event stream a streamed request gets, and whether a recorded stream may be kept.

Pure functions over bytes, no I/O. They run once per store or per HIT, never per chunk of a live
stream, so they decode every event they need. OpenAI formats only: ``chat.completion`` (chunks
``chat.completion.chunk``) and the legacy ``text_completion``; anything else gives ``None`` and the
caller treats the entry as a miss (an embeddings answer has no stream form).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from gateway.streaming.sse import SseDecoder, SseEvent

__all__ = [
    "json_from_stream",
    "stored_events",
    "stream_from_json",
    "stream_is_complete",
]

Json = dict[str, Any]
#: Folds one choice's part of a chunk into the choice; ``False`` when it cannot be folded.
Merge = Callable[[Json, Json], bool]
#: What a JSON value of the wrong shape raises in the code below (a list where an object was
#: meant, an index that is not a number): the body is not a stream or answer this module knows.
_MALFORMED = (AttributeError, KeyError, TypeError)

_DONE = b"[DONE]"
_CHAT, _CHUNK, _TEXT = "chat.completion", "chat.completion.chunk", "text_completion"
#: The answer-wide fields a stream's chunks repeat and its JSON carries once.
_HEADER_FIELDS = ("id", "created", "model", "system_fingerprint", "service_tier")
#: Message fields that arrive as text pieces, joined in order (``reasoning``: Groq, OpenRouter;
#: ``reasoning_content``: DeepSeek and vLLM).
_TEXT_FIELDS = ("content", "refusal", "reasoning", "reasoning_content")


def stored_events(body: bytes) -> list[SseEvent] | None:
    """The events of a whole event stream body; ``None`` when its last event is cut off."""
    decoder = SseDecoder()
    events = decoder.feed(body)
    return None if decoder.pending else events


def stream_is_complete(body: bytes) -> bool:
    """Whether a recorded OpenAI-format stream ended cleanly and may be stored.

    Clean: not cut mid-event, no in-band error event, and either its last data event is
    ``[DONE]`` or (a provider that sends no ``[DONE]``) every choice of its last chunk with choices
    carries a finish reason.
    """
    events = stored_events(body)
    if not events or any(_is_error(event) for event in events):
        return False
    if events[-1].data == _DONE:
        return True
    return _ends_with_finish_reason(events)


def _is_error(event: SseEvent) -> bool:
    if event.event == b"error":
        return True
    if b'"error"' not in event.data:  # most chunks: no decode needed to clear them
        return False
    payload = _decode(event.data)
    return payload is None or "error" in payload


def _ends_with_finish_reason(events: list[SseEvent]) -> bool:
    for event in reversed(events):
        payload = _decode(event.data)
        if payload is None:
            return False
        choices = payload.get("choices")
        if choices:
            return all(isinstance(c, dict) and c.get("finish_reason") for c in choices)
    return False


def _decode(data: bytes) -> Json | None:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _chunks(body: bytes) -> list[Json] | None:
    """The stream's JSON chunks in order (``[DONE]`` left out); ``None`` when one is not JSON."""
    events = stored_events(body)
    if events is None:
        return None
    payloads = [event.data for event in events if event.data != _DONE]
    chunks = [chunk for data in payloads if (chunk := _decode(data)) is not None]
    return chunks if chunks and len(chunks) == len(payloads) else None


def json_from_stream(body: bytes) -> bytes | None:
    """The JSON answer a non-streamed request would have got, assembled from a stored stream.

    ``chat.completion.chunk`` events give a ``chat.completion``; ``text_completion`` events a
    ``text_completion``. ``None`` when the body is not such a stream (cut, an error event, another
    object type, content that is not text).
    """
    chunks = _chunks(body)
    if chunks is None:
        return None
    kind = chunks[0].get("object")
    if kind not in (_CHUNK, _TEXT) or any(chunk.get("object") != kind for chunk in chunks):
        return None
    try:
        choices = _assemble_choices(chunks, _merge_message if kind == _CHUNK else _merge_text)
    except _MALFORMED:
        return None
    if choices is None:
        return None
    answer: Json = {**_header(chunks[0]), "object": _CHAT if kind == _CHUNK else _TEXT, "choices": choices}
    usage = next((chunk["usage"] for chunk in reversed(chunks) if chunk.get("usage")), None)
    if usage is not None:
        answer["usage"] = usage
    return orjson.dumps(answer)


def _header(source: Json) -> Json:
    return {name: source[name] for name in _HEADER_FIELDS if name in source}


def _assemble_choices(chunks: list[Json], merge: Merge) -> list[Json] | None:
    """The choices, by index, each merged from its deltas; ``None`` when a delta cannot be merged."""
    choices: dict[int, Json] = {}
    for chunk in chunks:
        for part in chunk.get("choices") or ():
            index = part.get("index", 0)
            choice = choices.setdefault(index, _new_choice(index, chunk["object"]))
            if not merge(choice, part):
                return None
            _merge_logprobs(choice, part.get("logprobs"))
            if part.get("finish_reason") is not None:
                choice["finish_reason"] = part["finish_reason"]
    return [_finish_choice(choices[index]) for index in sorted(choices)]


def _new_choice(index: int, kind: str) -> Json:
    if kind == _TEXT:
        return {"index": index, "text": "", "logprobs": None, "finish_reason": None}
    message: Json = {"role": "assistant", "content": None, "refusal": None}
    return {"index": index, "message": message, "logprobs": None, "finish_reason": None}


def _merge_message(choice: Json, part: Json) -> bool:
    """Fold one chat delta into the choice's message; ``False`` when its content is not text."""
    delta = part.get("delta") or {}
    message = choice["message"]
    if delta.get("role"):
        message["role"] = delta["role"]
    for name in _TEXT_FIELDS:
        piece = delta.get(name)
        if piece is None:
            continue
        if not isinstance(piece, str):
            return False  # e.g. Mistral's thinking parts: no faithful JSON form from here
        message[name] = (message.get(name) or "") + piece
    for call in delta.get("tool_calls") or ():
        _merge_tool_call(message.setdefault("tool_calls", {}), call)
    return True


def _merge_tool_call(calls: dict[int, Json], delta: Json) -> None:
    """Arguments arrive in pieces and are joined; id, type and name are set once (OpenRouter
    repeats them whole in later pieces, so joining them would double them)."""
    call = calls.setdefault(delta.get("index", 0), {"id": None, "type": "function", "function": {}})
    for name in ("id", "type"):
        if delta.get(name):
            call[name] = delta[name]
    function = delta.get("function") or {}
    if function.get("name"):
        call["function"]["name"] = function["name"]
    call["function"]["arguments"] = call["function"].get("arguments", "") + (function.get("arguments") or "")


def _merge_text(choice: Json, part: Json) -> bool:
    text = part.get("text")
    if text is not None and not isinstance(text, str):
        return False
    choice["text"] += text or ""
    return True


def _merge_logprobs(choice: Json, logprobs: Json | None) -> None:
    """Joins each list of a chunk's logprobs (chat: ``content``, ``refusal``; completions:
    ``tokens``, ``token_logprobs``, ...) onto the choice's."""
    if not logprobs:
        return
    merged = choice["logprobs"] = choice["logprobs"] or {}
    for name, values in logprobs.items():
        if isinstance(values, list):
            merged[name] = (merged.get(name) or []) + values
        elif name not in merged:
            merged[name] = values


def _finish_choice(choice: Json) -> Json:
    """The message's tool calls as the list the JSON answer carries, in index order."""
    calls = choice.get("message", {}).get("tool_calls")
    if calls is not None:
        choice["message"]["tool_calls"] = [calls[index] for index in sorted(calls)]
    return choice


def stream_from_json(body: bytes, include_usage: bool) -> bytes | None:
    """The event stream a streamed request would have got from a stored JSON answer.

    Per choice: a chunk with the role, one with each text field whole, one per tool call, and one
    with the finish reason (and the logprobs); then, when ``include_usage`` and the answer has
    usage, a usage chunk with no choices; then ``[DONE]``. ``None`` for anything but a
    ``chat.completion`` or ``text_completion``.
    """
    answer = _decode(body)
    if answer is None or answer.get("object") not in (_CHAT, _TEXT):
        return None
    chat = answer["object"] == _CHAT
    header = {**_header(answer), "object": _CHUNK if chat else _TEXT}
    try:
        parts = [
            part for choice in answer["choices"] for part in (_chat_parts if chat else _text_parts)(choice)
        ]
    except _MALFORMED:
        return None
    chunks = [{**header, "choices": [part]} for part in parts]
    if include_usage and answer.get("usage"):
        chunks.append({**header, "choices": [], "usage": answer["usage"]})
    return b"".join(b"data: " + orjson.dumps(chunk) + b"\n\n" for chunk in chunks) + b"data: [DONE]\n\n"


def _chat_parts(choice: Json) -> list[Json]:
    index, message = choice.get("index", 0), choice.get("message") or {}
    deltas: list[Json] = [{"role": message.get("role", "assistant")}]
    deltas += [{name: message[name]} for name in _TEXT_FIELDS if message.get(name) is not None]
    for position, call in enumerate(message.get("tool_calls") or ()):
        deltas.append({"tool_calls": [{"index": position, **call}]})
    parts = [{"index": index, "delta": delta, "finish_reason": None} for delta in deltas]
    parts.append(
        {
            "index": index,
            "delta": {},
            "logprobs": choice.get("logprobs"),
            "finish_reason": choice.get("finish_reason"),
        }
    )
    return parts


def _text_parts(choice: Json) -> list[Json]:
    index = choice.get("index", 0)
    return [
        {"index": index, "text": choice.get("text") or "", "logprobs": None, "finish_reason": None},
        {
            "index": index,
            "text": "",
            "logprobs": choice.get("logprobs"),
            "finish_reason": choice.get("finish_reason"),
        },
    ]
