"""An OpenAI Responses API request as a chat completions request (the half of
``formats/responses.py`` that reads requests).

``instructions`` becomes the first system message; ``input`` items become chat messages in
order: a message item keeps its role, ``function_call`` items join the assistant message before
them as ``tool_calls`` and ``function_call_output`` items become ``tool`` messages; ``reasoning``
items are dropped (the chat form has no place to send them back). Function tools, ``tool_choice``,
``max_output_tokens`` (``max_tokens``), ``reasoning.effort`` (``reasoning_effort``), ``text.format``
(``response_format``) and the sampling fields map one to one; ``metadata`` is echoed on the Response
only.

Refused with a 400 naming the field: what needs state the gateway does not keep
(``previous_response_id``, ``conversation``, ``store: true``, ``background``, stored ``prompt``
templates, ``item_reference`` items), OpenAI's built-in tools, and any field not listed here.
Ignored, as hints that do not change the answer: ``metadata``, ``include``, ``prompt_cache_key``,
``prompt_cache_retention``, ``safety_identifier``, ``service_tier``, ``stream_options``,
``text.verbosity``, ``reasoning.summary``, ``truncation: "disabled"``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gateway.errors import InvalidRequest

__all__ = [
    "chat_request",
]

#: Copied to the chat request under the same name.
_SAME = ("model", "temperature", "top_p", "parallel_tool_calls", "user")
#: Accepted and not sent on: they tune OpenAI's own service, not the answer. ``metadata`` tags
#: the Response object (echoed on it, ``responses_output.envelope``), not the model's input;
#: sent as chat ``metadata`` it would be refused by most translated providers.
_HINTS = frozenset(
    {"include", "prompt_cache_key", "prompt_cache_retention", "safety_identifier", "service_tier"}
    | {"stream_options", "metadata"}
)
#: What a Responses request may hold and why it cannot be served without OpenAI's stored state.
_STATEFUL = {
    "previous_response_id": "responses are not stored here; send the whole conversation in 'input'.",
    "conversation": "conversations are not stored here; send the whole conversation in 'input'.",
    "prompt": "stored prompt templates live at OpenAI; send 'instructions' and 'input'.",
    "background": "background responses are not supported here.",
    "max_tool_calls": "the chat form cannot cap built-in tool calls.",
}


def refuse(param: str, why: str) -> InvalidRequest:
    return InvalidRequest(f"Responses API: {why}", param=param, code="unsupported_parameter")


def chat_request(body: Mapping[str, Any]) -> dict[str, Any]:
    """The chat completions request for a Responses request (see the module's docstring)."""
    chat: dict[str, Any] = {}
    for name, value in body.items():
        if value is None or name in _HINTS:
            continue
        field = _FIELDS.get(name)
        if field is None:
            raise refuse(name, _STATEFUL.get(name, f"parameter {name!r} is not supported here."))
        field(chat, value)
    if not isinstance(body.get("model"), str):
        raise InvalidRequest("'model' is required: name the provider's model.", param="model")
    chat["messages"] = _messages(body)
    if chat.get("stream"):
        chat["stream_options"] = {"include_usage": True}
    return chat


def _messages(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    instructions = body.get("instructions")
    if instructions is not None:
        if not isinstance(instructions, str):
            raise refuse("instructions", "'instructions' must be a string.")
        messages.append({"role": "system", "content": instructions})
    given = body.get("input")
    if isinstance(given, str):
        messages.append({"role": "user", "content": given})
    elif isinstance(given, list):
        for i, item in enumerate(given):
            _add_item(messages, item, f"input[{i}]")
    else:
        raise refuse("input", "'input' must be a string or a list of input items.")
    return messages


def _add_item(messages: list[dict[str, Any]], item: object, where: str) -> None:
    if not isinstance(item, dict):
        raise refuse(where, "an input item must be an object.")
    kind = item.get("type", "message")  # an "easy" input message has no type
    if kind == "message":
        messages.append(_message(item, where))
    elif kind == "function_call":
        _add_call(messages, item, where)
    elif kind == "function_call_output":
        call_id = _string(item, "call_id", where)
        messages.append({"role": "tool", "tool_call_id": call_id, "content": _output(item, where)})
    elif kind != "reasoning":  # reasoning items are the provider's to keep; chat has no slot
        raise refuse(f"{where}.type", f"input items of type {kind!r} are not supported here.")


def _message(item: Mapping[str, Any], where: str) -> dict[str, Any]:
    role = item.get("role")
    if role not in ("user", "assistant", "system", "developer"):
        raise refuse(f"{where}.role", "a message's role must be user, assistant, system or developer.")
    content = item.get("content")
    if isinstance(content, str):
        return {"role": role, "content": content}
    if not isinstance(content, list):
        raise refuse(f"{where}.content", "a message's content must be a string or a list of parts.")
    if role == "assistant":
        return {"role": role, "content": _assistant_text(content, f"{where}.content")}
    return {"role": role, "content": [_part(part, f"{where}.content[{j}]") for j, part in enumerate(content)]}


def _assistant_text(parts: list[Any], where: str) -> str:
    """An earlier answer's text: its output_text (and refusal) parts, joined."""
    texts = []
    for j, part in enumerate(parts):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in ("output_text", "input_text", "refusal"):
            raise refuse(f"{where}[{j}]", f"assistant content parts of type {kind!r} are not supported.")
        texts.append(part.get("refusal" if kind == "refusal" else "text") or "")
    return "".join(texts)


def _part(part: object, where: str) -> dict[str, Any]:
    kind = part.get("type") if isinstance(part, dict) else None
    read = _PARTS.get(kind) if isinstance(kind, str) else None
    if read is None or not isinstance(part, dict):
        raise refuse(where, f"content parts of type {kind!r} are not supported here.")
    return read(part, where)


def _text_part(part: Mapping[str, Any], where: str) -> dict[str, Any]:
    return {"type": "text", "text": _string(part, "text", where)}


def _image_part(part: Mapping[str, Any], where: str) -> dict[str, Any]:
    url = part.get("image_url")
    if not isinstance(url, str):
        # A file_id names a file stored at OpenAI, which no other provider can read.
        raise refuse(f"{where}.image_url", "an input_image needs 'image_url' (a URL or a data: URL).")
    image: dict[str, Any] = {"url": url}
    if part.get("detail") is not None:
        image["detail"] = part["detail"]
    return {"type": "image_url", "image_url": image}


def _file_part(part: Mapping[str, Any], where: str) -> dict[str, Any]:
    if part.get("file_url") is not None:
        raise refuse(f"{where}.file_url", "an input_file by URL is not supported; send 'file_data'.")
    file = {name: part[name] for name in ("file_data", "file_id", "filename") if part.get(name) is not None}
    if "file_data" not in file and "file_id" not in file:
        raise refuse(where, "an input_file needs 'file_data' or 'file_id'.")
    return {"type": "file", "file": file}


_PARTS: Mapping[str, Callable[[Mapping[str, Any], str], dict[str, Any]]] = {
    "input_text": _text_part,
    "input_image": _image_part,
    "input_file": _file_part,
}


def _add_call(messages: list[dict[str, Any]], item: Mapping[str, Any], where: str) -> None:
    """A function call joins the assistant message just before it: an answer's text and its
    calls (and parallel calls) are one assistant turn in the chat form."""
    arguments = item.get("arguments")
    if not isinstance(arguments, str):
        raise refuse(f"{where}.arguments", "a function_call needs 'arguments' as a JSON string.")
    call = {
        "id": _string(item, "call_id", where),
        "type": "function",
        "function": {"name": _string(item, "name", where), "arguments": arguments},
    }
    last = messages[-1] if messages else None
    if last is None or last["role"] != "assistant":
        last = {"role": "assistant", "content": None}
        messages.append(last)
    last.setdefault("tool_calls", []).append(call)


def _output(item: Mapping[str, Any], where: str) -> str:
    """A function's result as the tool message's text (the chat form carries only text there)."""
    output = item.get("output")
    if isinstance(output, str):
        return output
    if not isinstance(output, list):
        raise refuse(f"{where}.output", "a function_call_output needs 'output'.")
    texts = []
    for j, part in enumerate(output):
        if not isinstance(part, dict) or part.get("type") != "input_text":
            raise refuse(f"{where}.output[{j}]", "a function's output may hold only input_text parts here.")
        texts.append(_string(part, "text", f"{where}.output[{j}]"))
    return "".join(texts)


def _string(item: Mapping[str, Any], key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str):
        raise refuse(f"{where}.{key}", f"{key!r} must be a string.")
    return value


# --- the other fields: each sets its chat counterpart -------------------------------------------


def _same(name: str) -> Callable[[dict[str, Any], Any], None]:
    def copy(chat: dict[str, Any], value: Any) -> None:
        chat[name] = value

    return copy


def _ignored(_chat: dict[str, Any], _value: Any) -> None:
    """Read by :func:`_messages`, not here."""


def _stream(chat: dict[str, Any], value: Any) -> None:
    if value:
        chat["stream"] = True


def _store(_chat: dict[str, Any], value: Any) -> None:
    if value:
        raise refuse("store", "responses are not stored here; send 'store': false or leave it out.")


def _background(_chat: dict[str, Any], value: Any) -> None:
    if value:
        raise refuse("background", _STATEFUL["background"])


def _truncation(_chat: dict[str, Any], value: Any) -> None:
    if value != "disabled":
        raise refuse("truncation", "only 'truncation': 'disabled' is supported here.")


def _top_logprobs(_chat: dict[str, Any], value: Any) -> None:
    if value:
        raise refuse("top_logprobs", "log probabilities are not supported here.")


def _reasoning(chat: dict[str, Any], value: Any) -> None:
    if not isinstance(value, dict):
        raise refuse("reasoning", "'reasoning' must be an object.")
    if value.get("effort") is not None:
        chat["reasoning_effort"] = value["effort"]


def _text(chat: dict[str, Any], value: Any) -> None:
    if not isinstance(value, dict):
        raise refuse("text", "'text' must be an object.")
    form = value.get("format")
    kind = form.get("type") if isinstance(form, dict) else None
    if form is None or kind == "text":
        return
    if kind == "json_object":
        chat["response_format"] = {"type": "json_object"}
    elif kind == "json_schema" and isinstance(form, dict):
        schema = {key: form[key] for key in ("name", "schema", "strict", "description") if key in form}
        chat["response_format"] = {"type": "json_schema", "json_schema": schema}
    else:
        raise refuse("text.format", f"output format {kind!r} is not supported here.")


def _tools(chat: dict[str, Any], value: Any) -> None:
    if not isinstance(value, list):
        raise refuse("tools", "'tools' must be a list.")
    tools = []
    for i, tool in enumerate(value):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind != "function" or not isinstance(tool, dict):
            raise refuse(
                f"tools[{i}]", f"the built-in tool {kind!r} is OpenAI's own; only function tools here."
            )
        function = {"name": _string(tool, "name", f"tools[{i}]")}
        function.update(
            (k, tool[k]) for k in ("description", "parameters", "strict") if tool.get(k) is not None
        )
        tools.append({"type": "function", "function": function})
    chat["tools"] = tools


def _tool_choice(chat: dict[str, Any], value: Any) -> None:
    if value in ("none", "auto", "required"):
        chat["tool_choice"] = value
    elif isinstance(value, dict) and value.get("type") == "function" and isinstance(value.get("name"), str):
        chat["tool_choice"] = {"type": "function", "function": {"name": value["name"]}}
    else:
        kind = value.get("type") if isinstance(value, dict) else value
        raise refuse("tool_choice", f"tool_choice {kind!r} is not supported here.")


_FIELDS: Mapping[str, Callable[[dict[str, Any], Any], None]] = {
    **{name: _same(name) for name in _SAME},
    "max_output_tokens": _same("max_tokens"),
    "input": _ignored,
    "instructions": _ignored,
    "stream": _stream,
    "store": _store,
    "background": _background,
    "truncation": _truncation,
    "top_logprobs": _top_logprobs,
    "reasoning": _reasoning,
    "text": _text,
    "tools": _tools,
    "tool_choice": _tool_choice,
}
