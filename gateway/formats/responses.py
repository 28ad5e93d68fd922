"""The OpenAI Responses API served through the chat form: ``POST /v1/responses`` for providers
reached by translation (Anthropic, Gemini, Vertex AI, Bedrock, Cohere). OpenAI-format providers
serve the Responses API themselves and are passed through instead.

The request is read by ``responses_request.py`` (what maps and what is refused), the stream is
written by ``responses_stream.py``; this module is the format the pipeline holds and the JSON
answer. Nothing is stored: a Response has ``store: false`` and cannot be retrieved or continued
with ``previous_response_id`` (a 400 says so).
"""

from __future__ import annotations

import time
from typing import Any

from gateway.formats import responses_output as out
from gateway.formats.responses_request import chat_request
from gateway.formats.responses_stream import ResponsesStream

__all__ = [
    "ResponsesFormat",
    "client_param",
    "response",
]


class ResponsesFormat:
    """The Responses API as an :class:`~gateway.formats.base.InboundFormat`."""

    __slots__ = ()

    name = "responses"

    def to_chat(self, body: dict[str, Any]) -> dict[str, Any]:
        return chat_request(body)

    def from_chat(self, answer: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
        return response(answer, request)

    def error(self, status: int, openai_error: dict[str, Any]) -> dict[str, Any]:
        """The Responses API's errors are OpenAI's error bodies, passed as they are but for a
        ``param`` naming a chat field (a provider refusing the translated request): it is named
        as the Responses field the client sent (:func:`client_param`)."""
        error = openai_error.get("error")
        param = error.get("param") if isinstance(error, dict) else None
        if not isinstance(error, dict) or not isinstance(param, str):
            return openai_error
        named = client_param(param)
        return openai_error if named == param else {**openai_error, "error": {**error, "param": named}}

    def stream(self, request: dict[str, Any]) -> ResponsesStream:
        return ResponsesStream(request)


#: Chat fields that are another field in a Responses request (``responses_request.py``).
_CHAT_FIELDS = {
    "messages": "input",
    "response_format": "text.format",
    "reasoning_effort": "reasoning.effort",
    "max_tokens": "max_output_tokens",
    "max_completion_tokens": "max_output_tokens",
}


def client_param(param: str) -> str:
    """A chat request's field path as the Responses field it came from: ``response_format`` is
    ``text.format``, ``tools[0].function.parameters`` is ``tools[0].parameters``; a message
    (``messages[2].content[0]``) is ``input``, whose items are not the messages one to one
    (``instructions`` comes first, calls join the turn before them). Others are unchanged."""
    name = param.split(".", 1)[0].split("[", 1)[0]
    if name in _CHAT_FIELDS:
        return _CHAT_FIELDS[name]
    if name in ("tools", "tool_choice"):
        return param.replace(".function", "", 1)
    return param


def response(answer: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    """A chat completion as a Response: its reasoning, its text (or refusal) and its tool calls
    as output items, in that order; a ``length`` or ``content_filter`` finish as ``incomplete``."""
    choice = (answer.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    status, details = out.status_of(choice.get("finish_reason"))
    created = answer.get("created") or int(time.time())
    model = answer.get("model") or request.get("model") or ""
    result = out.envelope(request, out.new_id("resp_"), created, model, status)
    output: list[dict[str, Any]] = []
    if message.get("reasoning_content"):
        output.append(out.reasoning_item(out.new_id("rs_"), message["reasoning_content"]))
    calls = message.get("tool_calls") or []
    parts = _content(message, bool(calls))
    if parts:
        item_status = "completed" if status == "completed" else "incomplete"
        output.append(out.message_item(out.new_id("msg_"), item_status, parts))
    for call in calls:
        function = call.get("function") or {}
        call_id = call.get("id") or out.new_id("call_")
        arguments = function.get("arguments") or ""
        output.append(
            out.function_call_item(
                out.new_id("fc_"), "completed", call_id, function.get("name", ""), arguments
            )
        )
    result.update(output=output, incomplete_details=details, usage=out.usage_of(answer.get("usage")))
    return result


def _content(message: dict[str, Any], has_calls: bool) -> list[dict[str, Any]]:
    """The message item's parts; an answer of tool calls alone has none, an empty answer one
    empty text (as a stream with no content has)."""
    parts: list[dict[str, Any]] = []
    text = message.get("content")
    text = text if isinstance(text, str) else ""
    refusal = message.get("refusal")
    if text or not (has_calls or refusal):
        parts.append(out.text_part(text))
    if refusal:
        parts.append({"type": "refusal", "refusal": refusal})
    return parts
