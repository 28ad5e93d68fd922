"""Bedrock's image models behind OpenAI's image generation: ``POST {base}/model/{modelId}/invoke``.

The body is the model family's own (AWS's model parameter pages), chosen by the model id:

- Amazon Titan Image Generator and Nova Canvas (``amazon.titan-image-generator-*``,
  ``amazon.nova-canvas-*``): ``{"taskType": "TEXT_IMAGE", "textToImageParams": {"text",
  "negativeText"?}, "imageGenerationConfig": {"numberOfImages", "width", "height", "quality",
  "cfgScale", "seed"}}``, answered ``{"images": [...], "error"}``. OpenAI's ``quality`` ``hd`` is
  ``premium``.
  https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-titan-image.html
- Stability's SDXL (``stability.stable-diffusion-xl-*``): Stability's v1 text-to-image body,
  answered ``{"result", "artifacts": [{"base64", ...}]}``.
- Stability's other models (SD3, Stable Image Core and Ultra): ``{"prompt", "aspect_ratio", ...}``,
  answered ``{"seeds", "finish_reasons", "images"}``.
  https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-diffusion-stable-image-core-text-image-request-response.html

Every answer is OpenAI's ``data[].b64_json``. Signed as every Bedrock request (``bedrock_access.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from gateway.providers import image_format, stability
from gateway.providers import openai_request as openai
from gateway.providers.base import Credentials, NativeRequest, UpstreamCall
from gateway.providers.bedrock_access import authorize, model_url
from gateway.providers.bedrock_answers import SLUG, read_error
from gateway.providers.translated import json_object

__all__ = [
    "BedrockImages",
    "amazon_body",
]

_AMAZON_PARAMS = frozenset(
    {"prompt", "n", "size", "quality", "response_format", "negative_prompt", "seed", "cfg_scale"}
)
#: Titan and Nova Canvas make up to 5 images a request.
_AMAZON_MOST = 5
#: OpenAI's ``quality`` → Amazon's (its own names accepted too).
_QUALITY = {"standard": "standard", "hd": "premium", "premium": "premium"}


class BedrockImages:
    """``images/generations`` → ``invoke`` with the model family's own body."""

    __slots__ = ()

    def request(self, call: UpstreamCall, body: dict[str, Any]) -> NativeRequest:
        model = openai.model(body)
        image_format.response_format(body, SLUG)
        if "titan-image" in model or "nova-canvas" in model:
            native: Mapping[str, Any] = amazon_body(body)
        elif "stability.stable-diffusion-xl" in model:
            native = stability.v1_body(body, SLUG)
        elif "stability." in model:
            native = stability.v2_params(body, SLUG)
        else:
            raise openai.refuse(
                SLUG,
                "model",
                "images are served for Amazon Titan Image Generator and Nova Canvas, and Stability "
                "models (amazon.titan-image-generator-*, amazon.nova-canvas-*, stability.*).",
            )
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        return NativeRequest(model_url(call, model, "invoke"), orjson.dumps(native), headers, model)

    async def authorize(self, native: NativeRequest, credentials: Credentials) -> None:
        await authorize(native, credentials)

    def read_body(self, status: int, body: bytes, native: NativeRequest) -> bytes:
        if status >= 400:
            return read_error(status, body)
        answer = json_object(SLUG, body)
        images = answer.get("images")
        if isinstance(answer.get("artifacts"), list):
            images = [
                artifact.get("base64") for artifact in answer["artifacts"] if isinstance(artifact, dict)
            ]
        # Titan reports a refusal (its content filter) as ``error`` beside no images.
        why = str(answer.get("error") or "the answer holds no image.")
        return image_format.answer(SLUG, images if isinstance(images, list) else [], why)


def amazon_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """Titan Image Generator's and Nova Canvas's TEXT_IMAGE request."""
    openai.check_params(body, SLUG, _AMAZON_PARAMS)
    text: dict[str, Any] = {"text": image_format.prompt(body)}
    if body.get("negative_prompt") is not None:
        text["negativeText"] = body["negative_prompt"]
    config: dict[str, Any] = {"numberOfImages": image_format.count(body, SLUG, _AMAZON_MOST)}
    size = image_format.dimensions(body)
    if size is not None:
        config["width"], config["height"] = size
    quality = body.get("quality")
    if quality is not None:
        if quality not in _QUALITY:
            raise openai.refuse(SLUG, "quality", "quality must be 'standard' or 'hd' (premium).")
        config["quality"] = _QUALITY[quality]
    for ours, theirs in (("cfg_scale", "cfgScale"), ("seed", "seed")):
        if body.get(ours) is not None:
            config[theirs] = body[ours]
    return {"taskType": "TEXT_IMAGE", "textToImageParams": text, "imageGenerationConfig": config}
