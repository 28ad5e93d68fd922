"""Anthropic's Messages API as an inbound format: a Messages request in the chat form, a chat
answer back as a Message, an OpenAI error in Anthropic's error shape.

What the chat form cannot say is refused with a 400 naming the field (server tools, documents,
images inside tool results) rather than dropped; what it can say only roughly is mapped as
docs/formats.md describes (``thinking.budget_tokens`` → ``reasoning_effort``, ``is_error`` of a
tool result is not carried). The stream is ``anthropic_stream.py``'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from gateway.errors import InvalidRequest
from gateway.formats.anthropic_stream import (
    MessagesEvents,
    anthropic_error,
    message_id,
    stop_reason,
    usage_of,
)

__all__ = [
    "AnthropicMessages",
]

Json = dict[str, Any]

#: ``thinking.budget_tokens`` up to each bound → the ``reasoning_effort`` that asks for about as much
#: (the bounds of ``providers/openai_request.THINKING_BUDGETS``).
_EFFORTS = ((2048, "low"), (8192, "medium"))

#: Request fields that change the answer and that no chat request can carry.
_REFUSED = ("mcp_servers", "container")


class AnthropicMessages:
    """The ``anthropic_messages`` inbound format (stateless: one instance serves every request)."""

    __slots__ = ()
    name = "anthropic_messages"

    def to_chat(self, body: dict[str, Any]) -> dict[str, Any]:
        for field in _REFUSED:
            if body.get(field) is not None:
                raise _refuse(
                    field, "is not supported for this provider (it is served through chat completions)."
                )
        chat: Json = {"model": _required(body, "model", str), "messages": _messages(body)}
        chat["max_tokens"] = _required(body, "max_tokens", int)
        for name in ("temperature", "top_p", "top_k"):
            if body.get(name) is not None:
                chat[name] = body[name]
        if body.get("stop_sequences"):
            chat["stop"] = body["stop_sequences"]
        chat.update(_tools(body))
        effort = _effort(body.get("thinking"))
        if effort is not None:
            chat["reasoning_effort"] = effort
        metadata = body.get("metadata")
        if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
            chat["user"] = metadata["user_id"]
        if body.get("stream") is True:
            chat["stream"] = True
            chat["stream_options"] = {"include_usage": True}
        return chat

    def from_chat(self, answer: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
        choices = answer.get("choices") or [{}]
        choice = choices[0] if isinstance(choices[0], dict) else {}
        message = choice.get("message") or {}
        reason, sequence = stop_reason(choice.get("finish_reason"), choice.get("stop_reason"), request)
        return {
            "id": message_id(answer.get("id")),
            "type": "message",
            "role": "assistant",
            "content": _content(message),
            "model": answer.get("model") or request.get("model", ""),
            "stop_reason": reason,
            "stop_sequence": sequence,
            "usage": usage_of(answer.get("usage")),
        }

    def error(self, status: int, openai_error: dict[str, Any]) -> dict[str, Any]:
        return anthropic_error(status, openai_error)

    def stream(self, request: dict[str, Any]) -> MessagesEvents:
        return MessagesEvents(request)


def _refuse(param: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"{param} {message}", param=param, code="unsupported_parameter")


def _required(body: Mapping[str, Any], name: str, kind: type) -> Any:
    value = body.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise InvalidRequest(f"{name}: a {kind.__name__} is required.", param=name, code="invalid_request")
    return value


# --- request ---------------------------------------------------------------------------------


def _messages(body: Mapping[str, Any]) -> list[Json]:
    turns = body.get("messages")
    if not isinstance(turns, list) or not turns:
        raise InvalidRequest(
            "messages: a non-empty list is required.", param="messages", code="invalid_request"
        )
    out: list[Json] = []
    system = body.get("system")
    if system:
        out.append({"role": "system", "content": _text(system, "system")})
    for i, turn in enumerate(turns):
        where = f"messages[{i}]"
        if not isinstance(turn, dict) or turn.get("role") not in ("user", "assistant"):
            raise InvalidRequest(
                f"{where}: an object with role 'user' or 'assistant' is required.",
                param=where,
                code="invalid_request",
            )
        out.extend(_user(turn, where) if turn["role"] == "user" else [_assistant(turn, where)])
    return out


def _blocks(content: Any, where: str) -> list[Json]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list) or not all(isinstance(block, dict) for block in content):
        raise InvalidRequest(f"{where}.content: a string or a list of blocks is required.", param=where)
    return content


def _text(content: Any, where: str) -> str:
    """The text of a string or of text blocks (a system prompt, a tool result)."""
    parts = []
    for j, block in enumerate(_blocks(content, where)):
        if block.get("type") != "text":
            raise _refuse(
                f"{where}[{j}]", f"holds a {block.get('type')!r} block, where only text is supported."
            )
        parts.append(block.get("text", ""))
    return "\n\n".join(parts)


def _user(turn: Mapping[str, Any], where: str) -> list[Json]:
    """A user turn: its tool results as tool messages (first: they answer the previous turn's
    calls), then the rest as one user message."""
    results: list[Json] = []
    parts: list[Json] = []
    for j, block in enumerate(_blocks(turn.get("content"), where)):
        kind, at = block.get("type"), f"{where}.content[{j}]"
        if kind == "text":
            parts.append({"type": "text", "text": block.get("text", "")})
        elif kind == "image":
            parts.append({"type": "image_url", "image_url": {"url": _image_url(block.get("source"), at)}})
        elif kind == "tool_result":
            content = block.get("content", "")
            results.append(
                {"role": "tool", "tool_call_id": block.get("tool_use_id", ""), "content": _text(content, at)}
            )
        else:
            raise _refuse(at, f"is a {kind!r} block, which this provider cannot be sent.")
    if parts:
        text_only = all(part["type"] == "text" for part in parts)
        joined: Any = "\n\n".join(part["text"] for part in parts) if text_only else parts
        results.append({"role": "user", "content": joined})
    return results


def _image_url(source: Any, where: str) -> str:
    if isinstance(source, dict) and source.get("type") == "base64":
        return f"data:{source.get('media_type', '')};base64,{source.get('data', '')}"
    if isinstance(source, dict) and source.get("type") == "url" and isinstance(source.get("url"), str):
        return str(source["url"])
    raise _refuse(f"{where}.source", "must be a base64 or url image source.")


def _assistant(turn: Mapping[str, Any], where: str) -> Json:
    texts: list[str] = []
    calls: list[Json] = []
    thinking: list[Json] = []
    for j, block in enumerate(_blocks(turn.get("content"), where)):
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text", ""))
        elif kind == "tool_use":
            arguments = orjson.dumps(block.get("input") or {}).decode()
            function = {"name": block.get("name", ""), "arguments": arguments}
            calls.append({"id": block.get("id", ""), "type": "function", "function": function})
        elif kind in ("thinking", "redacted_thinking"):
            # Sent back unchanged: Claude needs its signed thinking in a tool-use loop.
            thinking.append(block)
        else:
            raise _refuse(
                f"{where}.content[{j}]", f"is a {kind!r} block, which this provider cannot be sent."
            )
    message: Json = {"role": "assistant", "content": "".join(texts) or None}
    if calls:
        message["tool_calls"] = calls
    if thinking:
        message["thinking_blocks"] = thinking
    return message


def _tools(body: Mapping[str, Any]) -> Json:
    out: Json = {}
    tools = body.get("tools")
    if tools:
        if not isinstance(tools, list):
            raise InvalidRequest("tools: a list is required.", param="tools")
        out["tools"] = [_tool(tool, f"tools[{i}]") for i, tool in enumerate(tools)]
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        kind = choice.get("type")
        if kind == "tool":
            out["tool_choice"] = {"type": "function", "function": {"name": choice.get("name", "")}}
        elif kind in ("auto", "any", "none"):
            out["tool_choice"] = "required" if kind == "any" else kind
        if choice.get("disable_parallel_tool_use") is True:
            out["parallel_tool_calls"] = False
    return out


def _tool(tool: Any, where: str) -> Json:
    if not isinstance(tool, dict) or tool.get("type") not in (None, "custom") or "input_schema" not in tool:
        raise _refuse(
            where, "must be a client tool (name, input_schema); server tools are not supported here."
        )
    function: Json = {"name": tool.get("name", ""), "parameters": tool["input_schema"]}
    if tool.get("description"):
        function["description"] = tool["description"]
    return {"type": "function", "function": function}


def _effort(thinking: Any) -> str | None:
    if not isinstance(thinking, dict) or thinking.get("type") != "enabled":
        return None
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int):
        return "medium"
    return next((effort for bound, effort in _EFFORTS if budget <= bound), "high")


# --- answer ----------------------------------------------------------------------------------


def _content(message: Mapping[str, Any]) -> list[Json]:
    blocks: list[Json] = [
        dict(block) for block in message.get("thinking_blocks") or () if isinstance(block, dict)
    ]
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if not blocks and isinstance(reasoning, str) and reasoning:
        blocks.append({"type": "thinking", "thinking": reasoning, "signature": ""})
    text = message.get("content") or message.get("refusal")
    if isinstance(text, str) and text:
        blocks.append({"type": "text", "text": text})
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        blocks.append(
            {
                "type": "tool_use",
                "id": call.get("id") or "",
                "name": function.get("name", ""),
                "input": _arguments(function.get("arguments")),
            }
        )
    return blocks


def _arguments(text: Any) -> Any:
    """A tool call's arguments as the object Anthropic's ``input`` is ({} when not JSON)."""
    if not isinstance(text, str) or not text:
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
