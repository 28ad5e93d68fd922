"""NVIDIA Triton Inference Server's generate extension behind OpenAI's ``/v1/completions``.

Triton runs on the caller's own servers, so there is no default host: a custom host (or the
settings' ``base_url``) is required. The request goes to ``{host}/v2/models/{model}/generate``
(``generate_stream`` when streamed); a custom host that already ends in ``/v2/models/<name>`` (how
Portkey's users name a Triton model) is used as it is, with ``/generate`` appended.

The body is ``text_input`` and the sampling fields as top-level properties (``max_tokens``,
``temperature``, ``top_p``, ``top_k``, ``stop_words``, ``bad_words``, penalties, ``stream``): Triton
hands each one to the model as the input tensor of that name when the model has one (TensorRT-LLM's
ensemble reads them so) and as a request parameter otherwise, as the extension documents for extra
properties; its ``parameters`` object is documented with scalar values only (``stop_words`` is a
list). ``max_tokens`` is always sent (100 unless given, as Portkey does): TensorRT-LLM's ensemble
requires it. Triton takes no key: none is sent. ``triton_answers.py`` reads the answers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from gateway.errors import InvalidRequest
from gateway.providers import openai_request as openai
from gateway.providers.base import COMPLETIONS, Credentials, NativeRequest, ProviderSpec, UpstreamCall
from gateway.providers.translated import TranslatedProvider
from gateway.providers.triton_answers import SLUG, GenerateStream, read_generate

__all__ = [
    "provider",
]

SPEC = ProviderSpec(
    slug=SLUG,
    name="NVIDIA Triton Inference Server (generate extension, self-hosted)",
    base_url="",
    docs="https://docs.nvidia.com/deeplearning/triton-inference-server/user-guide/docs/protocol/extension_generate.html",
    auth="none",
    endpoints=frozenset({COMPLETIONS}),
)
#: Sent when the client names no limit: TensorRT-LLM's ensemble requires ``max_tokens``, and 100 is
#: Portkey's default for Triton.
DEFAULT_MAX_TOKENS = 100

SUPPORTED = frozenset(
    {"prompt", "max_tokens", "temperature", "top_p", "top_k", "stop", "n", "bad_words"}
    | {"presence_penalty", "frequency_penalty"}
)
#: Sent as they are, under the same name, when given.
_AS_IS = ("temperature", "top_p", "top_k", "presence_penalty", "frequency_penalty", "bad_words")
#: A Triton model name as it may stand in one URL path segment: never ``.``/``..``, ``/``, ``?`` or ``%``.
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}")
#: A custom host that already names the model (Portkey's form): ``…/v2/models/<name>[/versions/<n>]``.
_MODEL_URL = re.compile(r"/v2/models/[^/]+(?:/versions/[0-9]+)?$")


class TritonGenerate:
    """``completions`` → ``POST {host}/v2/models/{model}/generate`` (or ``generate_stream``)."""

    __slots__ = ()

    def request(self, call: UpstreamCall, body: dict[str, Any]) -> NativeRequest:
        model = openai.model(body)
        native = generate_body(body)
        stream = None
        route = "generate"
        if openai.is_stream(body):
            native["stream"] = True
            route = "generate_stream"
            stream = GenerateStream(model, openai.include_usage(body))
        return NativeRequest(_url(call, model, route), orjson.dumps(native), {}, model, stream)

    async def authorize(self, native: NativeRequest, credentials: Credentials) -> None:
        """Triton has no API key of its own: nothing is added."""

    def read_body(self, status: int, body: bytes, native: NativeRequest) -> bytes:
        return read_generate(status, body, native.model)


def provider() -> TranslatedProvider:
    return TranslatedProvider(SPEC, {"completions": TritonGenerate()})


def _url(call: UpstreamCall, model: str, route: str) -> str:
    base = call.base_url.rstrip("/")
    if not base:
        raise InvalidRequest(
            "Provider triton runs on your own server: send x-portkey-custom-host with its URL "
            "(http://host:8000), or set the provider's base_url in the settings.",
            param="x-portkey-custom-host",
            code="missing_custom_host",
        )
    if _MODEL_URL.search(base):
        return f"{base}/{route}"
    if not _MODEL_NAME.fullmatch(model):
        raise InvalidRequest(
            "'model' must be a Triton model name: letters, digits, '_', '-' and '.', starting with "
            "a letter or digit.",
            param="model",
            code="invalid_model",
        )
    return f"{base}/v2/models/{model}/{route}"


def generate_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """The generate request for an OpenAI completions ``body`` (no ``stream``)."""
    openai.check_params(body, SLUG, SUPPORTED)
    openai.single_choice(body, SLUG)
    native: dict[str, Any] = {
        "text_input": _prompt(body.get("prompt")),
        "max_tokens": openai.max_tokens(body) or DEFAULT_MAX_TOKENS,
    }
    native.update((name, body[name]) for name in _AS_IS if body.get(name) is not None)
    stop = openai.stop_sequences(body)
    if stop:
        native["stop_words"] = stop
    return native


def _prompt(prompt: Any) -> str:
    """The one text Triton generates from: a string, or a list holding one string."""
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise openai.refuse(SLUG, "prompt", "'prompt' must be one string (Triton takes one text input).")
    return prompt
