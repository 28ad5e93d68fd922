"""Stability AI behind OpenAI's image generation.

Two APIs, chosen by the model, as Portkey chooses (``src/providers/stability-ai``):

- v1 engines (:data:`V1_ENGINES`): ``POST {base}/v1/generation/{engine}/text-to-image``, JSON
  ``{"text_prompts": [{"text", "weight"}], "samples", "width", "height", ...}``, answered with
  ``{"artifacts": [{"base64", "finishReason", "seed"}]}``.
- any other model (``core``, ``ultra``, ``sd3``): ``POST {base}/v2beta/stable-image/generate/{model}``,
  ``multipart/form-data`` with ``Accept: application/json``, answered with one image as
  ``{"image", "finish_reason", "seed"}``. An SD3 model name (``sd3.5-large``) goes to ``…/sd3`` with
  that name in the form's ``model`` field, which is how that endpoint selects it.

Both answer OpenAI's ``data[].b64_json``. Errors: v1 ``{"id", "name", "message"}``, v2
``{"id", "name", "errors": [...]}``. Auth: ``Authorization: Bearer``. ``x-portkey-stability-client-id``,
``-client-user-id`` and ``-client-version`` go as Stability's ``stability-client-*`` headers.
Docs: https://platform.stability.ai/docs/api-reference#tag/Generate (v2beta) and
https://platform.stability.ai/docs/api-reference (v1: ``/v1/generation/{engine_id}/text-to-image``).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from typing import Any

import orjson

from gateway.errors import InvalidRequest
from gateway.providers import image_format
from gateway.providers import openai_request as openai
from gateway.providers.base import IMAGES, Credentials, NativeRequest, ProviderSpec, UpstreamCall
from gateway.providers.openai_format import upstream_error
from gateway.providers.translated import TranslatedProvider, json_object

__all__ = [
    "SPEC",
    "V1_ENGINES",
    "provider",
    "v1_body",
    "v2_params",
]

SLUG = "stability-ai"
SPEC = ProviderSpec(
    slug=SLUG,
    name="Stability AI",
    base_url="https://api.stability.ai",
    docs="https://platform.stability.ai/docs/api-reference#tag/Generate",
    endpoints=frozenset({IMAGES}),
)
#: ``x-portkey-<name>`` options that Stability reads as ``<name>`` headers (optional client
#: identification, for its analytics and support).
CLIENT_HEADERS = ("stability-client-id", "stability-client-user-id", "stability-client-version")
#: The engines served by the v1 text-to-image API (Portkey's list).
V1_ENGINES = frozenset({"stable-diffusion-xl-1024-v1-0", "stable-diffusion-v1-6"})
#: The model is a path segment: Stability's names only (``core``, ``sd3.5-large``).
_MODEL = re.compile(r"[a-z0-9][a-z0-9.-]{0,63}")
_SD3 = re.compile(r"sd3[.-].+")
#: OpenAI's ``style`` carries a v1 ``style_preset`` (as Portkey maps it); the rest go as named.
_V1_FIELDS = ("style_preset", "cfg_scale", "clip_guidance_preset", "sampler", "seed", "steps", "extras")
_V1_PARAMS = frozenset({"prompt", "n", "size", "style", "response_format", *_V1_FIELDS})
_V2_FIELDS = ("negative_prompt", "aspect_ratio", "seed", "style_preset", "output_format")
_V2_PARAMS = frozenset({"prompt", "n", "response_format", *_V2_FIELDS})
#: v1 makes up to 10 images a request; v2 one.
_V1_MOST = 10


class StabilityImages:
    """``images/generations`` → the v1 text-to-image or v2beta Stable Image API."""

    __slots__ = ()

    def request(self, call: UpstreamCall, body: dict[str, Any]) -> NativeRequest:
        model = openai.model(body)
        if not _MODEL.fullmatch(model):
            raise openai.refuse(SLUG, "model", "the model must be a Stability model name, like 'core'.")
        image_format.response_format(body, SLUG)
        base = (call.base_url or SPEC.base_url).rstrip("/")
        headers = {"Accept": "application/json"}
        # The options are these headers only (the adapter's option_headers), each sent when given.
        headers.update((name, value) for name, value in call.options.items() if value)
        if model in V1_ENGINES:
            headers["Content-Type"] = "application/json"
            url = f"{base}/v1/generation/{model}/text-to-image"
            return NativeRequest(url, orjson.dumps(v1_body(body)), headers, model)
        return _v2_request(base, model, body, headers)

    async def authorize(self, native: NativeRequest, credentials: Credentials) -> None:
        if credentials.api_key:
            native.headers["Authorization"] = f"Bearer {credentials.api_key}"

    def read_body(self, status: int, body: bytes, native: NativeRequest) -> bytes:
        if status >= 400:
            return read_error(status, body)
        answer = json_object(SLUG, body)
        if "/v1/generation/" in native.url:
            artifacts = answer.get("artifacts") or []
            return image_format.answer(
                SLUG, (art.get("base64") for art in artifacts if isinstance(art, dict))
            )
        return image_format.answer(SLUG, [answer.get("image")])


def provider() -> TranslatedProvider:
    return TranslatedProvider(SPEC, {"images/generations": StabilityImages()}, CLIENT_HEADERS)


def _v2_request(base: str, model: str, body: Mapping[str, Any], headers: dict[str, str]) -> NativeRequest:
    """The v2beta Stable Image request: a multipart form; an SD3 model name goes to ``…/sd3``."""
    fields = {name: str(value) for name, value in v2_params(body).items()}
    path = model
    if _SD3.fullmatch(model):
        path, fields["model"] = "sd3", model
    boundary = secrets.token_hex(16)
    headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
    url = f"{base}/v2beta/stable-image/generate/{path}"
    return NativeRequest(url, form_data(fields, boundary), headers, model)


def v1_body(body: Mapping[str, Any], provider: str = SLUG) -> dict[str, Any]:
    """The v1 text-to-image JSON for an OpenAI images request (Bedrock's SDXL takes it too)."""
    openai.check_params(body, provider, _V1_PARAMS)
    native: dict[str, Any] = {
        "text_prompts": [{"text": image_format.prompt(body), "weight": 1}],
        "samples": image_format.count(body, provider, _V1_MOST),
    }
    size = image_format.dimensions(body)
    if size is not None:
        native["width"], native["height"] = size
    if body.get("style") is not None:
        native["style_preset"] = body["style"]
    native.update((name, body[name]) for name in _V1_FIELDS if body.get(name) is not None)
    return native


def v2_params(body: Mapping[str, Any], provider: str = SLUG) -> dict[str, str | int | float]:
    """The Stable Image fields for an OpenAI images request (one image: ``n`` > 1 is a 400): the
    v2beta form's, and the JSON body of Stability's models on Bedrock."""
    openai.check_params(body, provider, _V2_PARAMS)
    image_format.count(body, provider, 1)
    fields: dict[str, str | int | float] = {"prompt": image_format.prompt(body)}
    for name in _V2_FIELDS:
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise InvalidRequest(f"'{name}' must be a string or a number.", param=name)
        fields[name] = value
    return fields


def form_data(fields: Mapping[str, str], boundary: str) -> bytes:
    """``multipart/form-data`` of text fields (RFC 7578). The boundary is random, so a value cannot
    end its part early; names are ours, never the caller's."""
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        + value.encode()
        + b"\r\n"
        for name, value in fields.items()
    ]
    return b"".join(parts) + f"--{boundary}--\r\n".encode()


def read_error(status: int, body: bytes) -> bytes:
    """v2's ``{"name", "errors": [...]}`` joined into one message; v1's ``{"name", "message"}``."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        parsed = None
    errors = parsed.get("errors") if isinstance(parsed, dict) else None
    if isinstance(errors, list) and errors:
        message = {"message": ", ".join(map(str, errors)), "type": parsed.get("name")}
        return upstream_error(SLUG, status, orjson.dumps(message), ())
    return upstream_error(SLUG, status, body, ())
