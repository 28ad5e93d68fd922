"""Imagen on Vertex AI behind OpenAI's image generation: the ``predict`` body and its answer.

Request: ``{"instances": [{"prompt"}], "parameters": {...}}``. OpenAI's ``n`` is ``sampleCount``
(up to 4) and ``quality`` the JPEG ``compressionQuality`` (``hd`` 100, else 75, as Portkey maps it);
Portkey's Imagen fields (``aspectRatio``, ``negativePrompt``, ``seed``, ``personGeneration``,
``safetySetting``, ``addWatermark``, ``mimeType`` → ``outputOptions.mimeType``) go as named. Answer:
``{"predictions": [{"bytesBase64Encoded", "mimeType"}]}`` → ``data[].b64_json``; an answer with no
image (every one removed by Imagen's safety filters) is a 400 ``content_filter`` naming the provider.
``vertex.py`` sends it to ``…/publishers/google/models/{model}:predict``.
Docs: https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/imagen-api
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.errors import ProviderError
from gateway.providers import image_format
from gateway.providers import openai_request as openai
from gateway.providers.openai_format import upstream_error
from gateway.providers.translated import json_object

__all__ = [
    "imagen_body",
    "read_imagen",
]

#: Portkey's names for Imagen's own parameters, sent as they are.
_IMAGEN_FIELDS = (
    "aspectRatio",
    "negativePrompt",
    "seed",
    "personGeneration",
    "safetySetting",
    "addWatermark",
)
_PARAMS = frozenset({"prompt", "n", "quality", "response_format", "mimeType", *_IMAGEN_FIELDS})
#: Imagen makes 1 to 4 images a request.
_MOST = 4


def imagen_body(body: Mapping[str, Any], provider: str) -> dict[str, Any]:
    """The ``predict`` request for an OpenAI images request; a 400 for what Imagen cannot take."""
    openai.check_params(body, provider, _PARAMS)
    image_format.response_format(body, provider)
    parameters: dict[str, Any] = {"sampleCount": image_format.count(body, provider, _MOST)}
    parameters.update((name, body[name]) for name in _IMAGEN_FIELDS if body.get(name) is not None)
    output: dict[str, Any] = {}
    if body.get("mimeType") is not None:
        output["mimeType"] = body["mimeType"]
    quality = body.get("quality")
    if quality is not None:
        output["compressionQuality"] = quality if isinstance(quality, int) else 100 if quality == "hd" else 75
    if output:
        parameters["outputOptions"] = output
    return {"instances": [{"prompt": image_format.prompt(body)}], "parameters": parameters}


def read_imagen(provider: str, status: int, body: bytes) -> bytes:
    """OpenAI's images answer for Imagen's predictions (or its error, in OpenAI's shape)."""
    if status >= 400:
        return upstream_error(provider, status, body, ("error",))
    predictions = json_object(provider, body).get("predictions") or []
    images = [
        p["bytesBase64Encoded"] for p in predictions if isinstance(p, dict) and p.get("bytesBase64Encoded")
    ]
    if not images:
        raise ProviderError(provider, 400, _filtered(predictions), "content_filter")
    return image_format.answer(provider, images)


def _filtered(predictions: list[Any]) -> str:
    """Why no image came: Imagen's ``raiFilteredReason`` when the request asked for it."""
    reasons = [
        p["raiFilteredReason"] for p in predictions if isinstance(p, dict) and p.get("raiFilteredReason")
    ]
    return (
        "; ".join(map(str, reasons)) or "no image was generated: Imagen's safety filters removed every one."
    )
