"""Segmind's serverless image models behind OpenAI's image generation.

``POST {base}/{model}`` (base ``https://api.segmind.com/v1``, as Portkey has it) with the key as
``x-api-key`` and a JSON body whose fields are the model's own (each model page lists them).
OpenAI's fields map as Portkey maps them: ``n`` → ``samples``, ``size`` → ``img_width`` /
``img_height``, ``steps`` → ``num_inference_steps``; ``base64: true`` is always sent, so the answer is
JSON ``{"image": <base64> | [<base64>...]}`` rather than image bytes. Any other field goes as given
(model-specific: ``negative_prompt``, ``scheduler``, ``guidance_scale``, ``seed``...); unlike Portkey,
no model-specific defaults are added (they belong to a few SDXL models and break the others).
Errors: ``{"error": "..."}`` or ``{"html-message": "..."}``.
Docs: https://docs.segmind.com/api-reference
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from gateway.providers import image_format
from gateway.providers import openai_request as openai
from gateway.providers.base import IMAGES, Credentials, NativeRequest, ProviderSpec, UpstreamCall
from gateway.providers.openai_format import error, upstream_error
from gateway.providers.translated import TranslatedProvider, json_object

__all__ = [
    "SPEC",
    "provider",
]

SLUG = "segmind"
SPEC = ProviderSpec(
    slug=SLUG,
    name="Segmind (serverless image models)",
    base_url="https://api.segmind.com/v1",
    docs="https://docs.segmind.com/api-reference",
    endpoints=frozenset({IMAGES}),
)
#: The model is the path segment: Segmind's slugs only (``sdxl1.0-txt2img``, ``flux-schnell``).
_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
#: OpenAI fields Segmind has no counterpart for: a 400 rather than a field a model ignores.
_REFUSED = ("quality", "user", "background", "moderation", "output_compression", "partial_images", "stream")
_RENAMED = {"steps": "num_inference_steps"}
_MOST = 10


class SegmindImages:
    """``images/generations`` → ``POST {base}/{model}``."""

    __slots__ = ()

    def request(self, call: UpstreamCall, body: dict[str, Any]) -> NativeRequest:
        model = openai.model(body)
        if not _MODEL.fullmatch(model):
            raise openai.refuse(SLUG, "model", "the model must be a Segmind model slug, like 'flux-schnell'.")
        url = f"{(call.base_url or SPEC.base_url).rstrip('/')}/{model}"
        return NativeRequest(
            url, orjson.dumps(segmind_body(body)), {"Content-Type": "application/json"}, model
        )

    async def authorize(self, native: NativeRequest, credentials: Credentials) -> None:
        if credentials.api_key:
            native.headers["x-api-key"] = credentials.api_key

    def read_body(self, status: int, body: bytes, native: NativeRequest) -> bytes:
        if status >= 400:
            return read_error(status, body)
        image = json_object(SLUG, body).get("image")
        return image_format.answer(SLUG, image if isinstance(image, list) else [image])


def provider() -> TranslatedProvider:
    return TranslatedProvider(SPEC, {"images/generations": SegmindImages()})


def segmind_body(body: dict[str, Any]) -> dict[str, Any]:
    """The model's JSON body: OpenAI's fields mapped, the model's own fields as given."""
    for name in _REFUSED:
        if body.get(name) is not None:
            raise openai.refuse(SLUG, name, f"parameter {name!r} is not supported by this provider.")
    image_format.response_format(body, SLUG)
    native: dict[str, Any] = {"prompt": image_format.prompt(body)}
    if body.get("n") is not None:
        native["samples"] = image_format.count(body, SLUG, _MOST)
    size = image_format.dimensions(body)
    if size is not None:
        native["img_width"], native["img_height"] = size
    skipped = {"model", "prompt", "n", "size", "response_format", "base64"}
    native.update((_RENAMED.get(k, k), v) for k, v in body.items() if k not in skipped and v is not None)
    native["base64"] = True
    return native


def read_error(status: int, body: bytes) -> bytes:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        parsed = None
    message = parsed.get("error") or parsed.get("html-message") if isinstance(parsed, dict) else None
    if isinstance(message, str) and message:
        return error(SLUG, status, message)
    return upstream_error(SLUG, status, body, ())
