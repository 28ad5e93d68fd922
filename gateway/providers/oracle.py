"""Oracle Cloud Infrastructure Generative AI (inference) behind OpenAI's chat completions.

Where: ``POST https://inference.generativeai.{region}.oci.oraclecloud.com/{api version}/actions/chat``
(a custom host ``http://host:port`` replaces the base; the API version is ``20231130`` unless
``x-portkey-oracle-api-version`` names another). The body is OCI's ``ChatDetails``: the
``compartmentId``, a ``servingMode`` (``ON_DEMAND`` with the request's model as ``modelId``, or
``DEDICATED`` with it as the ``endpointId``) and a ``chatRequest`` in the ``GENERIC`` API format
(the one OCI serves every chat model but Cohere's in). Auth: an OCI API key signature
(``gateway/upstream/oci_signature.py``) over the final bytes, from ``x-portkey-oracle-tenancy``,
``-user``, ``-fingerprint``, ``-private-key`` (and ``-key-passphrase``).
``oracle_answers.py`` reads the answers.

Refused with a 400 (no GENERIC equivalent): ``n`` > 1 (one choice is read), content parts other
than text and images. Reference: https://docs.oracle.com/en-us/iaas/api/#/en/generative-ai-inference/
20231130/ChatResult/Chat (``GenericChatRequest``, ``Message``, ``ToolChoice``, ``ResponseFormat``).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Mapping
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.errors import InvalidRequest
from gateway.providers import openai_request as openai
from gateway.providers.base import CHAT, Credentials, NativeRequest, ProviderSpec, UpstreamCall
from gateway.providers.oracle_answers import SLUG, ChatStream, read_chat
from gateway.providers.translated import TranslatedProvider
from gateway.upstream.expiring import remember
from gateway.upstream.oci_signature import load_private_key, sign

__all__ = [
    "OPTION_HEADERS",
    "chat_body",
    "provider",
]

SPEC = ProviderSpec(
    slug=SLUG,
    name="Oracle Cloud Infrastructure Generative AI",
    base_url="https://inference.generativeai.{region}.oci.oraclecloud.com",
    docs="https://docs.oracle.com/en-us/iaas/api/#/en/generative-ai-inference/20231130/ChatResult/Chat",
    endpoints=frozenset({CHAT}),
)
#: Portkey's names (``x-portkey-oracle-*``; ``oracle_*`` in a config target).
OPTION_HEADERS = (
    "oracle-region",
    "oracle-compartment-id",
    "oracle-serving-mode",
    "oracle-api-version",
    "oracle-tenancy",
    "oracle-user",
    "oracle-fingerprint",
    "oracle-private-key",
    "oracle-key-passphrase",
)
API_VERSION = "20231130"
SERVING_MODES = {"ON_DEMAND": "modelId", "DEDICATED": "endpointId"}
#: Loaded signing keys kept per process (the oldest dropped first).
_MAX_KEYS = 256

#: Region names go into the host: only what OCI names look like (us-chicago-1, sa-saopaulo-1).
_REGION = re.compile(r"[a-z]{2,4}(?:-[a-z0-9]+)+-\d{1,2}")
_API_VERSION = re.compile(r"\d{8}")
#: OCIDs (``ocid1.tenancy.oc1..aaaa``) and fingerprints (``12:34:...``) go into the key id, which
#: is quoted in the Authorization header: never a quote, comma or space.
_OCID = re.compile(r"ocid1\.[a-z0-9_-]+\.[a-z0-9_-]+\.[a-z0-9_-]*\.[a-zA-Z0-9._-]+")
_FINGERPRINT = re.compile(r"[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){15}")

SUPPORTED = frozenset(
    {"max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k", "stop", "n", "seed"}
    | {"frequency_penalty", "presence_penalty", "logit_bias", "tools", "tool_choice"}
    | {"parallel_tool_calls", "response_format", "reasoning_effort"}
)
#: OpenAI name → GENERIC name, for the fields carried as they are.
_AS_IS = {
    "temperature": "temperature",
    "top_p": "topP",
    "top_k": "topK",
    "seed": "seed",
    "frequency_penalty": "frequencyPenalty",
    "presence_penalty": "presencePenalty",
    "logit_bias": "logitBias",
    "parallel_tool_calls": "isParallelToolCalls",
}
#: OpenAI's role → GENERIC's (``developer`` as ``SYSTEM``, as Portkey sends it).
_ROLES = {"system": "SYSTEM", "developer": "SYSTEM", "user": "USER", "assistant": "ASSISTANT", "tool": "TOOL"}
_REASONING_EFFORTS = frozenset({"none", "minimal", "low", "medium", "high"})


class OracleChat:
    """``chat/completions`` → ``POST {base}/{api version}/actions/chat``.

    Holds the signing keys it loaded, under the SHA-256 of their PEM and passphrase (never the text):
    loading validates the key, ~100 ms of CPU, so it runs once per key, in a worker thread.
    """

    __slots__ = ("_keys",)

    def __init__(self) -> None:
        self._keys: dict[str, rsa.RSAPrivateKey] = {}

    def request(self, call: UpstreamCall, body: dict[str, Any]) -> NativeRequest:
        model = openai.model(body)
        options = call.options
        mode = _serving_mode(options)
        chat = chat_body(body)
        strict = call.strict_open_ai_compliance
        stream = None
        if openai.is_stream(body):
            # Usage is always asked for: the gateway accounts for it even when the client does not.
            chat |= {"isStream": True, "streamOptions": {"isIncludeUsage": True}}
            stream = ChatStream(model, openai.include_usage(body), strict)
        native = {
            "compartmentId": _option(options, "oracle-compartment-id", _OCID, "a compartment OCID"),
            "servingMode": {"servingType": mode, SERVING_MODES[mode]: model},
            "chatRequest": chat,
        }
        accept = "text/event-stream" if stream else "application/json"
        headers = {"Accept": accept}
        return NativeRequest(_url(call), orjson.dumps(native), headers, model, stream, strict)

    async def authorize(self, native: NativeRequest, credentials: Credentials) -> None:
        options = credentials.options
        key_id = "/".join(
            (
                _option(options, "oracle-tenancy", _OCID, "a tenancy OCID"),
                _option(options, "oracle-user", _OCID, "a user OCID"),
                _option(options, "oracle-fingerprint", _FINGERPRINT, "a key fingerprint (12:34:...:ef)"),
            )
        )
        pem = options.get("oracle-private-key", "")
        if not pem:
            raise _missing("oracle-private-key", "the API signing key, in PEM")
        key = await self._key(pem, options.get("oracle-key-passphrase", ""))
        native.headers.update(sign("POST", native.url, native.body, key, key_id))

    async def _key(self, pem: str, passphrase: str) -> rsa.RSAPrivateKey:
        digest = hashlib.sha256(f"{pem}\0{passphrase}".encode("utf-8", "surrogatepass")).hexdigest()
        key = self._keys.get(digest)
        if key is None:
            key = await asyncio.to_thread(load_private_key, pem, passphrase, "x-portkey-oracle-private-key")
            remember(self._keys, digest, key, _MAX_KEYS)
        return key

    def read_body(self, status: int, body: bytes, native: NativeRequest) -> bytes:
        return read_chat(status, body, native.model, native.strict_open_ai_compliance)


def provider() -> TranslatedProvider:
    return TranslatedProvider(SPEC, {"chat/completions": OracleChat()}, OPTION_HEADERS)


def _url(call: UpstreamCall) -> str:
    version = call.options.get("oracle-api-version") or API_VERSION
    if not _API_VERSION.fullmatch(version):
        raise InvalidRequest(
            "x-portkey-oracle-api-version must be an OCI API version date like 20231130.",
            param="x-portkey-oracle-api-version",
            code="invalid_api_version",
        )
    base = call.base_url.rstrip("/")
    if not base:
        region = _option(call.options, "oracle-region", _REGION, "an OCI region (like us-chicago-1)")
        base = SPEC.base_url.format(region=region)
    return f"{base}/{version}/actions/chat"


def _serving_mode(options: Mapping[str, str]) -> str:
    mode = (options.get("oracle-serving-mode") or "ON_DEMAND").upper()
    if mode not in SERVING_MODES:
        raise InvalidRequest(
            "x-portkey-oracle-serving-mode must be ON_DEMAND (the model is a model id) or DEDICATED "
            "(the model is an endpoint OCID).",
            param="x-portkey-oracle-serving-mode",
            code="invalid_serving_mode",
        )
    return mode


def _option(options: Mapping[str, str], name: str, shape: re.Pattern[str], what: str) -> str:
    """The option's value, checked against ``shape``; a 400 naming the header (never repeating a
    value, which may be a pasted secret) when it is missing or malformed."""
    value = options.get(name, "")
    if not value:
        raise _missing(name, what)
    if not shape.fullmatch(value):
        raise InvalidRequest(
            f"x-portkey-{name} is not {what}.",
            param=f"x-portkey-{name}",
            code=f"invalid_{name.replace('-', '_')}",
        )
    return value


def _missing(name: str, what: str) -> InvalidRequest:
    config_key = name.replace("-", "_")
    return InvalidRequest(
        f"Oracle needs {what}: send x-portkey-{name}, {config_key} in the config, or {name} in the "
        "[providers.oracle] options.",
        param=f"x-portkey-{name}",
        code="missing_oracle_option",
    )


# --- request ---------------------------------------------------------------------------------


def chat_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """The ``GenericChatRequest`` for an OpenAI chat request (no ``isStream``)."""
    openai.check_params(body, SLUG, SUPPORTED)
    openai.single_choice(body, SLUG)
    native: dict[str, Any] = {
        "apiFormat": "GENERIC",
        "messages": [_message(m, f"messages[{i}]") for i, m in enumerate(openai.messages(body))],
    }
    max_tokens = openai.max_tokens(body)
    if max_tokens is not None:
        native["maxTokens"] = max_tokens
    native.update((theirs, body[ours]) for ours, theirs in _AS_IS.items() if body.get(ours) is not None)
    stop = openai.stop_sequences(body)
    if stop:
        native["stop"] = stop
    native.update(_tools(body))
    response_format = _response_format(body)
    if response_format is not None:
        native["responseFormat"] = response_format
    effort = body.get("reasoning_effort")
    if effort is not None:
        if effort not in _REASONING_EFFORTS:
            raise openai.refuse(SLUG, "reasoning_effort", "reasoning_effort must be low, medium or high.")
        native["reasoningEffort"] = effort.upper()
    return native


def _message(message: Mapping[str, Any], where: str) -> dict[str, Any]:
    role = _ROLES.get(message["role"])
    if role is None:
        raise openai.refuse(SLUG, where, f"message role {message['role']!r} is not supported.")
    native: dict[str, Any] = {"role": role, "content": _content(message.get("content"), where)}
    if role == "ASSISTANT":
        calls = openai.tool_calls_of(message, where)
        if calls:
            native["toolCalls"] = [
                {
                    "id": call_id,
                    "type": "FUNCTION",
                    "name": name,
                    "arguments": orjson.dumps(arguments).decode(),
                }
                for call_id, name, arguments in calls
            ]
    elif role == "TOOL":
        call_id = message.get("tool_call_id")
        if not isinstance(call_id, str):
            raise openai.refuse(SLUG, where, "a tool message needs 'tool_call_id'.")
        native["toolCallId"] = call_id
    return native


def _content(content: Any, where: str) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(openai.parts_of(content, where)):
        kind = part.get("type")
        if kind == "text":
            parts.append({"type": "TEXT", "text": part.get("text", "")})
        elif kind == "image_url":
            openai.image_of(part, f"{where}.content[{j}]")  # validates; OCI takes data: URLs as they are
            image = part["image_url"]
            # OCI's ImageUrl names url and detail as OpenAI does.
            url = (
                {k: image[k] for k in ("url", "detail") if image.get(k)}
                if isinstance(image, dict)
                else {"url": image}
            )
            parts.append({"type": "IMAGE", "imageUrl": url})
        else:
            raise openai.refuse(SLUG, f"{where}.content[{j}]", f"content part {kind!r} is not supported.")
    return parts


def _tools(body: Mapping[str, Any]) -> dict[str, Any]:
    functions = openai.tools(body)
    choice = openai.tool_choice(body)
    native: dict[str, Any] = {}
    if functions:
        native["tools"] = [
            {
                "type": "FUNCTION",
                "name": f.name,
                "parameters": f.parameters,
                **({"description": f.description} if f.description else {}),
            }
            for f in functions
        ]
    if choice is not None:
        mode, name = choice
        native["toolChoice"] = (
            {"type": "FUNCTION", "name": name} if mode == "function" else {"type": mode.upper()}
        )
    return native


def _response_format(body: Mapping[str, Any]) -> dict[str, Any] | None:
    """OCI's ``responseFormat``: ``JSON_OBJECT``, or ``JSON_SCHEMA`` with the schema's name and
    strictness; ``None`` for text."""
    found = openai.json_schema(body)
    if found is None:
        return None
    kind, schema = found
    if kind != "json_schema":
        return {"type": "JSON_OBJECT"}
    spec = body["response_format"]["json_schema"]
    json_schema = {"name": spec.get("name") or "response", "schema": schema}
    if isinstance(spec.get("strict"), bool):
        json_schema["isStrict"] = spec["strict"]
    if isinstance(spec.get("description"), str):
        json_schema["description"] = spec["description"]
    return {"type": "JSON_SCHEMA", "jsonSchema": json_schema}
