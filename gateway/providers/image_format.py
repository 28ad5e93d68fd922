"""OpenAI's image generation request and answer, for providers that generate images another way.

Shared by the translating adapters (Stability AI, Segmind, Bedrock, Vertex Imagen): the checks every
one needs, each failure a 400 naming the parameter and the provider, and the answer they all give.
These providers return the image bytes, not a URL, so the answer is ``data[].b64_json`` and a
request for ``response_format: url`` is refused rather than answered in another form.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from gateway.errors import InvalidRequest, ProviderError
from gateway.providers import openai_request as openai

__all__ = [
    "answer",
    "count",
    "dimensions",
    "prompt",
    "response_format",
]

_SIZE = re.compile(r"(\d{2,5})x(\d{2,5})")


def prompt(body: Mapping[str, Any]) -> str:
    value = body.get("prompt")
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest("'prompt' is required: describe the image to generate.", param="prompt")
    return value


def count(body: Mapping[str, Any], provider: str, most: int) -> int:
    """``n``: how many images (1 when not given); a 400 past the ``most`` the provider makes at once."""
    value = body.get("n")
    if value is None:
        return 1
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidRequest("'n' must be a positive integer.", param="n")
    if value > most:
        raise openai.refuse(provider, "n", f"at most {most} image(s) per request.")
    return value


def dimensions(body: Mapping[str, Any]) -> tuple[int, int] | None:
    """``size`` (``"1024x768"``) as (width, height); ``None`` when not given."""
    value = body.get("size")
    if value is None:
        return None
    match = _SIZE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidRequest("'size' must be '<width>x<height>', like '1024x1024'.", param="size")
    return int(match[1]), int(match[2])


def response_format(body: Mapping[str, Any], provider: str) -> None:
    """A 400 for ``response_format`` other than ``b64_json``: the provider hands back image bytes."""
    value = body.get("response_format")
    if value is not None and value != "b64_json":
        raise openai.refuse(
            provider, "response_format", "images come back as base64 only: use response_format 'b64_json'."
        )


def answer(provider: str, images: Iterable[object], why: str = "the answer holds no image.") -> bytes:
    """OpenAI's images answer for the base64 images among ``images``; a 502 naming the provider
    (saying ``why``) when there is none."""
    data = [{"b64_json": image} for image in images if isinstance(image, str) and image]
    if not data:
        raise ProviderError(provider, 502, why, "bad_upstream_response")
    return orjson.dumps({"created": int(time.time()), "data": data})
