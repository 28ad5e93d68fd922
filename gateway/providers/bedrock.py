"""AWS Bedrock behind OpenAI's chat completions (Converse API) and embeddings (InvokeModel).

Where: ``https://bedrock-runtime.{region}.amazonaws.com`` (a custom host ``http://host:port``
replaces it), region from ``x-portkey-aws-region`` (required: it is in the host and in the
signature). Auth: SigV4 with the caller's ``x-portkey-aws-*`` keys, signed over the final URL, the
body and the headers we set; without AWS keys, the caller's bearer key goes as a Bedrock API key.
Chat: ``/model/{modelId}/converse`` or ``/converse-stream`` (an ``application/vnd.amazon.eventstream``
body, translated frame by frame). Bedrock answers carry no completion id, so one is generated.
Embeddings: ``/model/{modelId}/invoke`` for Titan (one text per call) and Cohere models.
Refused with a 400 (Converse has no equivalent): ``n`` > 1, http image URLs, ``tool_choice`` "none",
``parallel_tool_calls`` false, JSON mode without a schema, ``reasoning_effort`` for non-Anthropic
models.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import orjson

from gateway.errors import InvalidRequest
from gateway.providers import openai_request as openai
from gateway.providers.anthropic import DEFAULT_MAX_TOKENS
from gateway.providers.aws_roles import ASSUMED_ROLE
from gateway.providers.base import (
    CHAT,
    EMBEDDINGS,
    Credentials,
    NativeRequest,
    ProviderSpec,
    Translation,
    UpstreamCall,
)
from gateway.providers.bedrock_answers import SLUG, ConverseStream, read_converse, read_embeddings
from gateway.providers.openai_format import EmbeddingsRequest
from gateway.providers.translated import TranslatedProvider
from gateway.upstream.sigv4 import AwsCredentials, sign

__all__ = [
    "BedrockConverse",
    "converse_body",
    "provider",
]

SPEC = ProviderSpec(
    slug=SLUG,
    name="AWS Bedrock",
    base_url="https://bedrock-runtime.{region}.amazonaws.com",
    docs="https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html",
    endpoints=frozenset({CHAT, EMBEDDINGS}),
)
OPTION_HEADERS = (
    "aws-access-key-id",
    "aws-secret-access-key",
    "aws-session-token",
    "aws-region",
    "aws-auth-type",
    "aws-role-arn",
    "aws-external-id",
)
#: ``x-portkey-aws-auth-type`` values, as Portkey names them (none: the AWS keys, or the bearer key).
AUTH_TYPES = (ASSUMED_ROLE, "apiKey")
#: The SigV4 service name of the Bedrock runtime.
SERVICE = "bedrock"
EVENT_STREAM = "application/vnd.amazon.eventstream"
#: Region names go into the host: only what AWS names look like (us-east-1, us-gov-west-1).
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}")

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


def provider() -> TranslatedProvider:
    translations: dict[str, Translation] = {
        "chat/completions": BedrockConverse(),
        "embeddings": BedrockEmbeddings(),
    }
    return TranslatedProvider(SPEC, translations, OPTION_HEADERS)


# --- where and who ---------------------------------------------------------------------------


def model_url(call: UpstreamCall, model: str, action: str) -> str:
    """``{base}/model/{modelId}/{action}``; the id is one path segment (ARNs hold ``/`` and ``:``)."""
    base = call.base_url.rstrip("/") or SPEC.base_url.format(region=_region(call.options))
    return f"{base}/model/{quote(model, safe='')}/{action}"


def _region(options: Mapping[str, str]) -> str:
    region = options.get("aws-region", "")
    if not region:
        raise InvalidRequest(
            "Bedrock needs an AWS region: send x-portkey-aws-region (like us-east-1), "
            "aws_region in the config, or aws-region in the [providers.bedrock] options.",
            param="x-portkey-aws-region",
            code="missing_region",
        )
    if not _REGION.fullmatch(region):
        raise InvalidRequest(
            f"x-portkey-aws-region {region[:40]!r} is not an AWS region name (like us-east-1).",
            param="x-portkey-aws-region",
            code="invalid_region",
        )
    return region


async def authorize(native: NativeRequest, credentials: Credentials) -> None:
    """SigV4 with the caller's AWS keys, or with an assumed role's temporary keys
    (``x-portkey-aws-auth-type: assumedRole``); the bearer key as a Bedrock API key without AWS keys
    (or with ``apiKey``)."""
    options = credentials.options
    auth_type = options.get("aws-auth-type", "")
    if auth_type and auth_type not in AUTH_TYPES:
        raise InvalidRequest(
            f"x-portkey-aws-auth-type must be {' or '.join(AUTH_TYPES)} (or absent, for AWS keys).",
            param="x-portkey-aws-auth-type",
            code="invalid_aws_auth_type",
        )
    if auth_type == ASSUMED_ROLE:
        region = _region(options)
        role = await credentials.cloud.aws.credentials(options, region)
        native.headers.update(sign("POST", native.url, native.headers, native.body, role, region, SERVICE))
        return
    if auth_type == "apiKey" and credentials.api_key:
        native.headers["Authorization"] = f"Bearer {credentials.api_key}"
        return
    key_id = options.get("aws-access-key-id", "")
    secret = options.get("aws-secret-access-key", "")
    if not key_id and not secret and credentials.api_key:
        native.headers["Authorization"] = f"Bearer {credentials.api_key}"
        return
    if not key_id or not secret:
        missing = "x-portkey-aws-secret-access-key" if key_id else "x-portkey-aws-access-key-id"
        raise InvalidRequest(
            f"Bedrock needs AWS credentials and {missing} is missing: send x-portkey-aws-access-key-id "
            "and x-portkey-aws-secret-access-key (plus x-portkey-aws-session-token for temporary "
            "credentials), or a Bedrock API key as the bearer token.",
            param=missing,
            code="missing_credentials",
        )
    aws = AwsCredentials(key_id, secret, options.get("aws-session-token", ""))
    region = _region(options)
    native.headers.update(sign("POST", native.url, native.headers, native.body, aws, region, SERVICE))


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
