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
        """The Responses API's errors are OpenAI's error bodies: passed as they are."""
        return openai_error

    def stream(self, request: dict[str, Any]) -> ResponsesStream:
        return ResponsesStream(request)


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
