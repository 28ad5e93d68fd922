"""Reading an OpenAI chat or embeddings request for a provider that speaks another format.

Shared by the translating adapters: the checks and shapes every one of them needs, each failure a
400 that names the parameter and the provider. Nothing here is silently dropped: a translation
lists the parameters it carries over, and :func:`check_params` refuses the others.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.errors import InvalidRequest

__all__ = [
    "TurnOf",
    "check_params",
    "conversation",
    "dimensions",
    "embedding_inputs",
    "encoding_format",
    "image_of",
    "include_usage",
    "is_stream",
    "json_schema",
    "max_tokens",
    "messages",
    "model",
    "parts_of",
    "refuse",
    "single_choice",
    "stop_sequences",
    "text_of",
    "thinking",
    "thinking_blocks_of",
    "thinking_budget",
    "tool_calls_of",
    "tool_choice",
    "tools",
]

#: Parameters no translation needs to carry: they steer only the client or the gateway.
HANDLED_HERE = frozenset({"model", "messages", "stream", "stream_options"})

_DATA_URL = re.compile(r"data:(?P<type>[\w.+-]+/[\w.+-]+);base64,(?P<data>.*)", re.DOTALL)


def refuse(provider: str, param: str, why: str) -> InvalidRequest:
    return InvalidRequest(f"{provider}: {why}", param=param, code="unsupported_parameter")


def check_params(body: Mapping[str, Any], provider: str, supported: Iterable[str]) -> None:
    """A 400 for the first parameter set (not null) that the provider's translation cannot carry."""
    allowed = HANDLED_HERE.union(supported)
    for name, value in body.items():
        if value is not None and name not in allowed:
            raise refuse(provider, name, f"parameter {name!r} is not supported by this provider.")


def model(body: Mapping[str, Any]) -> str:
    value = body.get("model")
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest("'model' is required: name the provider's model.", param="model")
    return value.strip()


def messages(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    value = body.get("messages")
    if not isinstance(value, list) or not value:
        raise InvalidRequest("'messages' must be a non-empty array.", param="messages")
    for i, message in enumerate(value):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise InvalidRequest(f"messages[{i}] must be an object with a 'role'.", param=f"messages[{i}]")
    return value


def is_stream(body: Mapping[str, Any]) -> bool:
    return body.get("stream") is True


def include_usage(body: Mapping[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def max_tokens(body: Mapping[str, Any]) -> int | None:
    """``max_completion_tokens``, or the older ``max_tokens``."""
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if value is not None:
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidRequest(f"'{name}' must be a positive integer.", param=name)
            return value
    return None


def stop_sequences(body: Mapping[str, Any]) -> list[str] | None:
    value = body.get("stop")
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    raise InvalidRequest("'stop' must be a string or an array of strings.", param="stop")


def single_choice(body: Mapping[str, Any], provider: str) -> None:
    n = body.get("n")
    if n is not None and n != 1:
        raise refuse(provider, "n", "only n=1 is supported (one choice per request).")


def text_of(content: Any, where: str) -> str:
    """The text of a message whose content must be text: a string or text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for i, part in enumerate(content):
            if (
                not isinstance(part, dict)
                or part.get("type") != "text"
                or not isinstance(part.get("text"), str)
            ):
                raise InvalidRequest(f"{where}.content[{i}] must be a text part here.", param=where)
            texts.append(part["text"])
        return "".join(texts)
    if content is None:
        return ""
    raise InvalidRequest(f"{where}.content must be a string or an array of parts.", param=where)


def parts_of(content: Any, where: str) -> list[dict[str, Any]]:
    """A message's content as a list of parts (a string is one text part)."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if content is None:
        return []
    if isinstance(content, list) and all(isinstance(part, dict) for part in content):
        return content
    raise InvalidRequest(f"{where}.content must be a string or an array of parts.", param=where)


#: How a provider turns one message of a role (that is not a system prompt) into a turn: the
#: provider's role for it, and the blocks of the message (given the message, its path for errors,
#: ``messages[3]``, and the provider's slug).
TurnOf = tuple[str, Callable[[Mapping[str, Any], str, str], list[dict[str, Any]]]]


def conversation(
    messages: list[dict[str, Any]],
    provider: str,
    system_block: Callable[[str], dict[str, Any]],
    turns: Mapping[str, TurnOf],
    *,
    blocks_key: str = "content",
    drop_empty: bool = False,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(system blocks, turns) of an OpenAI conversation, for a provider that takes the system prompt
    apart and one turn per role change (Anthropic, Bedrock's Converse, Gemini).

    System and developer messages become ``system_block(text)``; any other message becomes a turn
    ``{"role", blocks_key: blocks}`` as ``turns[its role]`` says (a 400 for a role missing there),
    and joins the turn before when that has the same role: consecutive tool results become one user
    turn, as parallel results must. ``drop_empty``: a turn without blocks is left out.
    """
    system: list[dict[str, Any]] = []
    merged: list[dict[str, Any]] = []
    last: dict[str, Any] = {"role": None}  # the turn a message may join: none yet
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        role = message["role"]
        if role in ("system", "developer"):
            system.append(system_block(text_of(message.get("content"), where)))
            continue
        turn = turns.get(role)
        if turn is None:
            raise refuse(provider, where, f"message role {role!r} is not supported.")
        role, blocks_of = turn
        blocks = blocks_of(message, where, provider)
        if drop_empty and not blocks:
            continue
        if last["role"] == role:
            last[blocks_key].extend(blocks)
        else:
            last = {"role": role, blocks_key: blocks}
            merged.append(last)
    return system, merged


@dataclass(frozen=True, slots=True)
class Image:
    """An ``image_url`` part: inline base64 data (``data:`` URLs) or a URL to fetch."""

    url: str | None = None
    media_type: str = ""
    data: str = ""


def image_of(part: Mapping[str, Any], where: str) -> Image:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str) or not url:
        raise InvalidRequest(f"{where}.image_url.url must be a URL or a data: URL.", param=where)
    if not url.startswith("data:"):
        return Image(url=url)
    match = _DATA_URL.fullmatch(url)
    if match is None:
        raise InvalidRequest(f"{where}: a data: URL must be data:<media type>;base64,<data>.", param=where)
    data = match["data"]
    try:
        binascii.a2b_base64(data[:64] + "=" * (-len(data[:64]) % 4))
    except binascii.Error:
        raise InvalidRequest(f"{where}: the image's base64 data is not valid.", param=where) from None
    return Image(media_type=match["type"], data=data)


@dataclass(frozen=True, slots=True)
class Function:
    name: str
    description: str | None
    parameters: dict[str, Any]


def tools(body: Mapping[str, Any]) -> list[Function]:
    value = body.get("tools")
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidRequest("'tools' must be an array.", param="tools")
    functions = []
    for i, tool in enumerate(value):
        function = tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise InvalidRequest(
                f"tools[{i}] must be {{'type': 'function', 'function': {{'name': ...}}}}.",
                param=f"tools[{i}]",
            )
        parameters = function.get("parameters") or {"type": "object", "properties": {}}
        functions.append(Function(function["name"], function.get("description"), parameters))
    return functions


def tool_choice(body: Mapping[str, Any]) -> tuple[str, str] | None:
    """(``auto`` | ``none`` | ``required`` | ``function``, the function's name or ``""``), or ``None``
    when the client did not say."""
    value = body.get("tool_choice")
    if value is None or value == "none" or value == "auto":
        return None if value is None else (str(value), "")
    if not body.get("tools"):  # as OpenAI answers: a call cannot be required of no tools
        raise InvalidRequest("'tool_choice' requires 'tools'.", param="tool_choice")
    if value == "required":
        return "required", ""
    if isinstance(value, dict):
        function = value.get("function")
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            return "function", function["name"]
    raise InvalidRequest(
        "'tool_choice' must be 'auto', 'none', 'required' or "
        "{'type': 'function', 'function': {'name': ...}}.",
        param="tool_choice",
    )


def arguments_of(call: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A tool call's JSON ``arguments`` as an object."""
    function = call.get("function")
    text = function.get("arguments") if isinstance(function, dict) else None
    try:
        value = orjson.loads(text or "{}")
    except orjson.JSONDecodeError:
        raise InvalidRequest(f"{where}.function.arguments is not valid JSON.", param=where) from None
    if not isinstance(value, dict):
        raise InvalidRequest(f"{where}.function.arguments must be a JSON object.", param=where)
    return value


def tool_calls_of(message: Mapping[str, Any], where: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(id, name, arguments) of each call in an assistant message."""
    calls = message.get("tool_calls") or []
    result = []
    for i, call in enumerate(calls):
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise InvalidRequest(f"{where}.tool_calls[{i}] needs function.name.", param=where)
        call_id = call.get("id") if isinstance(call.get("id"), str) else f"call_{i}"
        result.append((call_id, function["name"], arguments_of(call, f"{where}.tool_calls[{i}]")))
    return result


def thinking_blocks_of(message: Mapping[str, Any], where: str) -> list[dict[str, str]]:
    """An assistant message's ``thinking_blocks``, as the gateway returned them: Anthropic-format
    ``{"type": "thinking", "thinking", "signature"}`` or ``{"type": "redacted_thinking", "data"}``.

    Claude needs them back, unchanged, in a tool-use loop with extended thinking on; the field name
    is the one LiteLLM uses, so clients written for it work here too.
    """
    blocks = message.get("thinking_blocks")
    if blocks is None:
        return []
    fields = {"thinking": ("thinking", "signature"), "redacted_thinking": ("data",)}
    checked = []
    for i, block in enumerate(blocks if isinstance(blocks, list) else [None]):
        needed = fields.get(str(block.get("type"))) if isinstance(block, dict) else None
        if needed is None or not all(isinstance(block.get(name), str) for name in needed):
            raise InvalidRequest(
                f"{where}.thinking_blocks[{i}] must be a thinking block as the gateway returned it.",
                param=f"{where}.thinking_blocks",
            )
        checked.append({"type": block["type"], **{name: block[name] for name in needed}})
    return checked


def json_schema(body: Mapping[str, Any]) -> tuple[str, dict[str, Any] | None] | None:
    """``response_format`` as (``json_object`` | ``json_schema``, schema), or ``None`` for text."""
    value = body.get("response_format")
    if value is None:
        return None
    kind = value.get("type") if isinstance(value, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return "json_object", None
    if kind == "json_schema":
        spec = value.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise InvalidRequest(
                "response_format.json_schema.schema must be an object.", param="response_format"
            )
        return "json_schema", schema
    raise InvalidRequest(
        "response_format.type must be 'text', 'json_object' or 'json_schema'.", param="response_format"
    )


#: ``reasoning_effort`` → tokens of thinking, for providers that take a thinking budget.
THINKING_BUDGETS = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576}


def thinking_budget(
    body: Mapping[str, Any], provider: str, budgets: Mapping[str, int] = THINKING_BUDGETS
) -> int | None:
    """The thinking budget ``reasoning_effort`` asks for: ``None`` when not given, 0 for ``none``."""
    effort = body.get("reasoning_effort")
    if effort is None:
        return None
    if effort == "none":
        return 0
    if effort not in budgets:
        choices = ", ".join(budgets)
        raise refuse(provider, "reasoning_effort", f"reasoning_effort must be one of none, {choices}.")
    return budgets[effort]


def thinking(body: Mapping[str, Any], provider: str, budget_field: str) -> dict[str, Any] | None:
    """A ``thinking`` object as Anthropic and Cohere take it: the client's own, as given, or one made
    from ``reasoning_effort`` (``{"type": "enabled", <budget_field>: tokens}``, or disabled)."""
    own = body.get("thinking")
    if own is not None:
        if not isinstance(own, dict):
            raise refuse(provider, "thinking", "'thinking' must be an object.")
        return own
    budget = thinking_budget(body, provider)
    if budget is None:
        return None
    return {"type": "enabled", budget_field: budget} if budget else {"type": "disabled"}


def embedding_inputs(body: Mapping[str, Any]) -> list[str]:
    """The texts to embed (``input`` as a string or an array of strings)."""
    value = body.get("input")
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        return value
    raise InvalidRequest(
        "'input' must be a string or a non-empty array of strings (token arrays are OpenAI-only).",
        param="input",
    )


def dimensions(body: Mapping[str, Any]) -> int | None:
    """``dimensions`` of an embeddings request: a positive integer, or ``None`` when not given."""
    value = body.get("dimensions")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidRequest("'dimensions' must be a positive integer.", param="dimensions")
    return value


def encoding_format(body: Mapping[str, Any], provider: str) -> str:
    """``float`` or ``base64``: the OpenAI SDKs ask for base64 unless told otherwise, so a provider
    that answers floats has them encoded (``openai_format.embeddings``) rather than refused."""
    value = body.get("encoding_format") or "float"
    if value not in ("float", "base64"):
        raise refuse(provider, "encoding_format", "encoding_format must be 'float' or 'base64'.")
    return str(value)
