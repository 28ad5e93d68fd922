"""AWS Bedrock behind OpenAI's chat completions (Converse API) and embeddings (InvokeModel).

Where and auth (SigV4, or a Bedrock API key): ``bedrock_access.py``; Anthropic's own Messages API
on Bedrock: ``bedrock_messages.py``.
Chat: ``/model/{modelId}/converse`` or ``/converse-stream`` (an ``application/vnd.amazon.eventstream``
body, translated frame by frame). Bedrock answers carry no completion id, so one is generated.
Embeddings: ``/model/{modelId}/invoke`` for Titan (one text per call) and Cohere models.
Images: ``/model/{modelId}/invoke`` for Titan, Nova Canvas and Stability models (``bedrock_images.py``).
Refused with a 400 (Converse has no equivalent): ``n`` > 1, http image URLs, ``tool_choice`` "none",
``parallel_tool_calls`` false, JSON mode without a schema, ``reasoning_effort`` for non-Anthropic
models.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from gateway.providers import model_lists
from gateway.providers import openai_request as openai
from gateway.providers.anthropic import DEFAULT_MAX_TOKENS
from gateway.providers.base import (
    BATCHES,
    FILES,
    ClientBody,
    Credentials,
    NativeRequest,
    PreparedRequest,
    ProviderSpec,
    Translation,
    UpstreamCall,
)
from gateway.providers.bedrock_access import EVENT_STREAM, OPTION_HEADERS, SPEC, authorize, model_url
from gateway.providers.bedrock_answers import SLUG, ConverseStream, read_converse, read_embeddings
from gateway.providers.bedrock_batches import BedrockBatches
from gateway.providers.bedrock_files import BedrockFiles
from gateway.providers.bedrock_images import BedrockImages
from gateway.providers.bedrock_messages import BedrockCountTokens, BedrockMessages
from gateway.providers.openai_format import EmbeddingsRequest
from gateway.providers.translated import TranslatedProvider

__all__ = [
    "BedrockConverse",
    "BedrockProvider",
    "converse_body",
    "provider",
]

SUPPORTED = frozenset(
    {"max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k", "stop", "n", "tools"}
    | {"tool_choice", "parallel_tool_calls", "response_format", "user", "metadata", "reasoning_effort"}
)
_IMAGE_FORMATS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}
_TOOL_CHOICES: dict[str, dict[str, Any]] = {"auto": {"auto": {}}, "required": {"any": {}}}


class BedrockConverse:
    """``chat/completions`` → ``POST {base}/model/{modelId}/converse`` (or ``/converse-stream``)."""

    __slots__ = ()

    def request(self, call: UpstreamCall, body: dict[str, Any]) -> NativeRequest:
        model = openai.model(body)
        native = converse_body(body, model)
        strict = call.strict_open_ai_compliance
        stream = ConverseStream(model, openai.include_usage(body), strict) if openai.is_stream(body) else None
        action, accept = ("converse-stream", EVENT_STREAM) if stream else ("converse", "application/json")
        headers = {"Content-Type": "application/json", "Accept": accept}
        url = model_url(call, model, action)
        return NativeRequest(url, orjson.dumps(native), headers, model, stream, strict)

    async def authorize(self, native: NativeRequest, credentials: Credentials) -> None:
        await authorize(native, credentials)

    def read_body(self, status: int, body: bytes, native: NativeRequest) -> bytes:
        return read_converse(status, body, native.model, native.strict_open_ai_compliance)


class BedrockEmbeddings:
    """``embeddings`` → ``POST {base}/model/{modelId}/invoke`` (Titan and Cohere embedding models)."""

    __slots__ = ()

    def request(self, call: UpstreamCall, body: dict[str, Any]) -> NativeRequest:
        model = openai.model(body)
        encoding = openai.encoding_format(body, SLUG)
        native = orjson.dumps(_embeddings_body(body, model))
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        return EmbeddingsRequest(
            model_url(call, model, "invoke"), native, headers, model, encoding_format=encoding
        )

    async def authorize(self, native: NativeRequest, credentials: Credentials) -> None:
        await authorize(native, credentials)

    def read_body(self, status: int, body: bytes, native: NativeRequest) -> bytes:
        return read_embeddings(status, body, native)


class BedrockProvider(TranslatedProvider):
    """The runtime's translations, plus ``/v1/files`` on S3 and ``/v1/batches`` on the control plane."""

    __slots__ = ("_batches", "_files")

    def __init__(self, spec: ProviderSpec, translations: Mapping[str, Translation]) -> None:
        natives = {"messages": BedrockMessages(), "messages/count_tokens": BedrockCountTokens()}
        super().__init__(spec, translations, OPTION_HEADERS, natives, model_lists.bedrock())
        self._files = BedrockFiles(converse_body)
        self._batches = BedrockBatches()

    def prepare(self, call: UpstreamCall, body: ClientBody) -> PreparedRequest:
        family = call.endpoint.partition("/")[0]
        if family == FILES:
            return self._files.prepare(call, body)
        if family == BATCHES:
            return self._batches.prepare(call, body)
        return super().prepare(call, body)


def provider() -> BedrockProvider:
    translations: dict[str, Translation] = {
        "chat/completions": BedrockConverse(),
        "embeddings": BedrockEmbeddings(),
        "images/generations": BedrockImages(),
    }
    return BedrockProvider(SPEC, translations)


# --- chat request ----------------------------------------------------------------------------


def converse_body(body: Mapping[str, Any], model: str) -> dict[str, Any]:
    """The Converse request fields for an OpenAI chat request (the model goes in the URL)."""
    openai.check_params(body, SLUG, SUPPORTED)
    openai.single_choice(body, SLUG)
    system, turns = openai.conversation(openai.messages(body), SLUG, _system_block, _TURNS)
    native: dict[str, Any] = {"messages": turns}
    if system:
        native["system"] = system
    additional = _additional_fields(body, model)
    inference = _inference_config(body, additional.get("thinking"))
    optional = {
        "inferenceConfig": inference,
        "additionalModelRequestFields": additional,
        "toolConfig": _tool_config(body),
        "outputConfig": _output_config(body),
        "requestMetadata": _request_metadata(body),
    }
    native.update((name, value) for name, value in optional.items() if value)
    return native


def _system_block(text: str) -> dict[str, Any]:
    return {"text": text}


def _user_blocks(message: Mapping[str, Any], where: str, _provider: str) -> list[dict[str, Any]]:
    parts = openai.parts_of(message.get("content"), where)
    return [_user_block(part, f"{where}.content[{j}]") for j, part in enumerate(parts)]


def _user_block(part: Mapping[str, Any], where: str) -> dict[str, Any]:
    kind = part.get("type")
    if kind == "text":
        return {"text": part.get("text", "")}
    if kind != "image_url":
        raise openai.refuse(SLUG, where, f"content part {kind!r} is not supported.")
    image = openai.image_of(part, where)
    if image.url:
        raise openai.refuse(
            SLUG, where, "Converse takes images inline only: send a base64 data: URL, not an http URL."
        )
    image_format = _IMAGE_FORMATS.get(image.media_type)
    if image_format is None:
        raise openai.refuse(SLUG, where, "images must be PNG, JPEG, GIF or WebP.")
    return {"image": {"format": image_format, "source": {"bytes": image.data}}}


def _assistant_blocks(message: Mapping[str, Any], where: str, _provider: str) -> list[dict[str, Any]]:
    blocks = [_reasoning_content(block) for block in openai.thinking_blocks_of(message, where)]
    text = openai.text_of(message.get("content"), where)
    if text:  # Converse refuses blank text blocks, which tool-calling turns often carry
        blocks.append({"text": text})
    for call_id, name, arguments in openai.tool_calls_of(message, where):
        blocks.append({"toolUse": {"toolUseId": call_id, "name": name, "input": arguments}})
    return blocks


def _reasoning_content(block: Mapping[str, str]) -> dict[str, Any]:
    """A thinking block the gateway returned, as Converse takes it back (Claude needs it)."""
    if block["type"] == "redacted_thinking":
        return {"reasoningContent": {"redactedContent": block["data"]}}
    return {
        "reasoningContent": {"reasoningText": {"text": block["thinking"], "signature": block["signature"]}}
    }


def _tool_results(message: Mapping[str, Any], where: str, _provider: str) -> list[dict[str, Any]]:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str):
        raise openai.refuse(SLUG, where, "a tool message needs 'tool_call_id'.")
    text = openai.text_of(message.get("content"), where)
    return [{"toolResult": {"toolUseId": call_id, "content": [{"text": text}]}}]


#: Each role's turn; tool results go in a user turn, as Converse requires.
_TURNS: Mapping[str, openai.TurnOf] = {
    "user": ("user", _user_blocks),
    "assistant": ("assistant", _assistant_blocks),
    "tool": ("user", _tool_results),
}


def _inference_config(body: Mapping[str, Any], thinking: Mapping[str, Any] | None) -> dict[str, Any]:
    config: dict[str, Any] = {}
    max_tokens = openai.max_tokens(body)
    if max_tokens is None and thinking is not None:
        # Claude needs max_tokens above the thinking budget; the model's default may not be.
        max_tokens = DEFAULT_MAX_TOKENS + thinking["budget_tokens"]
    if max_tokens is not None:
        config["maxTokens"] = max_tokens
    for ours, theirs in (("temperature", "temperature"), ("top_p", "topP")):
        if body.get(ours) is not None:
            config[theirs] = body[ours]
    stop = openai.stop_sequences(body)
    if stop:
        config["stopSequences"] = stop
    return config


def _additional_fields(body: Mapping[str, Any], model: str) -> dict[str, Any]:
    """Model-specific fields: ``top_k`` (as Anthropic, Mistral and Cohere models name it) and
    Claude's extended thinking from ``reasoning_effort``."""
    fields: dict[str, Any] = {}
    if body.get("top_k") is not None:
        fields["top_k"] = body["top_k"]
    budget = openai.thinking_budget(body, SLUG)
    if not budget:  # thinking is off unless asked for
        return fields
    if "anthropic." not in model and "claude" not in model:
        raise openai.refuse(
            SLUG, "reasoning_effort", "reasoning_effort is carried for Anthropic Claude models only."
        )
    fields["thinking"] = {"type": "enabled", "budget_tokens": budget}
    return fields


def _tool_config(body: Mapping[str, Any]) -> dict[str, Any] | None:
    functions = openai.tools(body)
    choice = openai.tool_choice(body)
    if not functions:
        return None
    if body.get("parallel_tool_calls") is False:
        raise openai.refuse(SLUG, "parallel_tool_calls", "Converse cannot turn off parallel tool calls.")
    mode, name = choice or ("auto", "")
    if mode == "none":
        # Dropping the tools instead would break any conversation that holds tool calls.
        raise openai.refuse(SLUG, "tool_choice", "Converse has no tool_choice 'none': send no tools instead.")
    specs = [
        {
            "toolSpec": {
                "name": f.name,
                **({"description": f.description} if f.description else {}),
                "inputSchema": {"json": f.parameters},
            }
        }
        for f in functions
    ]
    config: dict[str, Any] = {"tools": specs}
    if choice is not None:
        config["toolChoice"] = _TOOL_CHOICES.get(mode) or {"tool": {"name": name}}
    return config


def _output_config(body: Mapping[str, Any]) -> dict[str, Any] | None:
    """``response_format`` json_schema → structured output (the schema travels as a JSON string)."""
    schema = openai.json_schema(body)
    if schema is None:
        return None
    if schema[0] == "json_object":
        raise openai.refuse(
            SLUG, "response_format", "JSON mode needs a schema: use {'type': 'json_schema', ...}."
        )
    spec = body["response_format"]["json_schema"]
    definition = {"schema": orjson.dumps(schema[1]).decode()}
    definition.update((k, spec[k]) for k in ("name", "description") if isinstance(spec.get(k), str))
    return {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": definition}}}


def _request_metadata(body: Mapping[str, Any]) -> dict[str, str] | None:
    """``metadata`` and ``user`` → ``requestMetadata`` (string pairs for invocation-log filtering)."""
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise openai.refuse(SLUG, "metadata", "metadata must be an object of string values.")
    user = body.get("user")
    if user is not None and not isinstance(user, str):
        raise openai.refuse(SLUG, "user", "'user' must be a string.")
    return {**metadata, "user": user} if user else metadata or None


# --- embeddings request -------------------------------------------------------------------


def _embeddings_body(body: Mapping[str, Any], model: str) -> dict[str, Any]:
    if "amazon.titan-embed" in model:
        openai.check_params(body, SLUG, ("input", "dimensions", "encoding_format"))
        inputs = openai.embedding_inputs(body)
        if len(inputs) > 1:
            raise openai.refuse(
                SLUG, "input", "Titan embedding models take one text per request: send one input per call."
            )
        native: dict[str, Any] = {"inputText": inputs[0]}
        dimensions = openai.dimensions(body)
        return native if dimensions is None else {**native, "dimensions": dimensions}
    if "cohere.embed" in model:
        openai.check_params(body, SLUG, ("input", "input_type", "encoding_format"))
        return {
            "texts": openai.embedding_inputs(body),
            "input_type": body.get("input_type") or "search_document",
        }
    raise openai.refuse(
        SLUG,
        "model",
        "embeddings are served for Amazon Titan (amazon.titan-embed-*) and Cohere (cohere.embed-*) models.",
    )
