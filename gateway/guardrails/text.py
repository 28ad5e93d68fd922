"""The text a check reads, and a body with that text replaced (Portkey's content part helpers).

Before the model a check reads the request's *current* part: the last message's content (its text
parts, for a list), a completion's ``prompt``, an embedding's ``input``. After the model it reads
the answer: the first choice's message content, a completion's text, a Messages answer's text
blocks. Bodies of an unexpected shape read as no text (a check then says so), never an exception.

``with_texts`` returns a new body with those parts replaced, leaving the given one untouched;
``None`` in the list keeps a part as it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.guardrails.check import BEFORE_REQUEST, HookContext

__all__ = [
    "content_of",
    "text_of",
    "texts_of",
    "with_texts",
]


def text_of(context: HookContext) -> str:
    """The current part's non-empty texts joined by newlines."""
    return "\n".join(text for text in texts_of(context) if text)


def texts_of(context: HookContext) -> list[str]:
    """The current part's texts, in order (one per content part)."""
    if context.event == BEFORE_REQUEST:
        return _request_texts(context.request_json, context.request_type)
    return _response_texts(context.response_json, context.request_type)


def content_of(context: HookContext) -> Any:
    """The current part as the body holds it (a string, a list of parts; ``None`` when absent)."""
    kind = context.request_type
    if context.event == BEFORE_REQUEST:
        if kind in ("chatComplete", "messages"):
            message = _last_message(context.request_json)
            return message.get("content") if message is not None else None
        field = {"complete": "prompt", "embed": "input"}.get(kind)
        return context.request_json.get(field) if field is not None else None
    body = context.response_json
    if body is None or kind == "messages":
        return body.get("content") if body is not None else None
    choice = _first_choice(body) or {}
    if kind == "chatComplete":
        message = choice.get("message")
        return message.get("content") if isinstance(message, dict) else None
    return choice.get("text") if kind == "complete" else None


def with_texts(context: HookContext, texts: Sequence[str | None]) -> dict[str, Any] | None:
    """The event's body (request before, answer after) with its current part's texts replaced;
    ``None`` when the body has no such part."""
    if context.event == BEFORE_REQUEST:
        return _request_with(context.request_json, context.request_type, texts)
    if context.response_json is None:
        return None
    return _response_with(context.response_json, context.request_type, texts)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item if isinstance(item, str) else "" for item in value]
    return []


def _part_texts(content: Any) -> list[str]:
    """A message content: a string, or a list of parts of which the text parts count."""
    if isinstance(content, list):
        return [part.get("text") or "" if isinstance(part, dict) else "" for part in content]
    return _strings(content)


def _last_message(body: dict[str, Any]) -> dict[str, Any] | None:
    messages = body.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[-1], dict):
        return messages[-1]
    return None


def _request_texts(body: dict[str, Any], request_type: str) -> list[str]:
    if request_type in ("chatComplete", "messages"):
        message = _last_message(body)
        return _part_texts(message.get("content")) if message is not None else []
    if request_type == "complete":
        return _strings(body.get("prompt"))
    if request_type == "embed":
        return _strings(body.get("input"))
    return []


def _first_choice(body: dict[str, Any]) -> dict[str, Any] | None:
    choices = body.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return choices[0]
    return None


def _response_texts(body: dict[str, Any] | None, request_type: str) -> list[str]:
    if body is None:
        return []
    if request_type == "messages":
        return _part_texts(body.get("content"))
    choice = _first_choice(body)
    if choice is None:
        return []
    if request_type == "chatComplete":
        message = choice.get("message")
        return _strings(message.get("content")) if isinstance(message, dict) else []
    if request_type == "complete":
        return _strings(choice.get("text"))
    return []


def _replaced_parts(content: Any, texts: Sequence[str | None]) -> Any:
    """``content`` (a string or a list of parts) with its texts replaced."""
    if isinstance(content, list):
        parts = list(content)
        for index, part in enumerate(parts):
            new = texts[index] if index < len(texts) else None
            if new is not None and isinstance(part, dict) and "text" in part:
                parts[index] = {**part, "text": new}
        return parts
    if isinstance(content, str) and texts and texts[0] is not None:
        return texts[0]
    return content


def _request_with(
    body: dict[str, Any], request_type: str, texts: Sequence[str | None]
) -> dict[str, Any] | None:
    if request_type in ("chatComplete", "messages"):
        message = _last_message(body)
        if message is None:
            return None
        messages = list(body["messages"])
        messages[-1] = {**message, "content": _replaced_parts(message.get("content"), texts)}
        return {**body, "messages": messages}
    field = {"complete": "prompt", "embed": "input"}.get(request_type)
    if field is None or field not in body:
        return None
    value = body[field]
    if isinstance(value, list):
        replaced = [
            texts[i] if i < len(texts) and texts[i] is not None else item for i, item in enumerate(value)
        ]
        return {**body, field: replaced}
    return {**body, field: _replaced_parts(value, texts)}


def _response_with(
    body: dict[str, Any], request_type: str, texts: Sequence[str | None]
) -> dict[str, Any] | None:
    if request_type == "messages":
        return {**body, "content": _replaced_parts(body.get("content"), texts)}
    choice = _first_choice(body)
    if choice is None:
        return None
    if request_type == "chatComplete" and isinstance(choice.get("message"), dict):
        message = choice["message"]
        choice = {**choice, "message": {**message, "content": _replaced_parts(message.get("content"), texts)}}
    elif request_type == "complete":
        choice = {**choice, "text": _replaced_parts(choice.get("text"), texts)}
    else:
        return None
    return {**body, "choices": [choice, *body["choices"][1:]]}
