"""Providers Portkey still accepts whose service no longer exists: a request naming one gets a 400
that says so (and what to use instead) rather than "unknown provider"."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "SHUT_DOWN",
    "ShutDown",
]


@dataclass(frozen=True, slots=True)
class ShutDown:
    """A provider whose service has shut down: ``notice`` says when and what replaces it."""

    slug: str
    notice: str
    docs: str


SHUT_DOWN: tuple[ShutDown, ...] = (
    ShutDown(
        slug="anyscale",
        notice="Anyscale Endpoints' shared API closed on 2024-08-01; a model deployed on the Anyscale "
        "platform speaks OpenAI's format: use provider openai with its URL as the custom host",
        docs="https://docs.anyscale.com/endpoints/text-generation/deprecations",
    ),
    ShutDown(
        slug="lambda",
        notice="Lambda sunset its Inference API (api.lambda.ai), which shut down on 2025-09-25; a model "
        "served on a Lambda instance speaks OpenAI's format: use provider openai, its URL as the custom host",
        docs="https://docs.lambda.ai/public-cloud/lambda-inference-api",
    ),
    ShutDown(
        slug="lepton",
        notice="Lepton AI's serverless API ended when NVIDIA took Lepton into DGX Cloud Lepton (2025); a "
        "DGX Cloud Lepton endpoint speaks OpenAI's format: use provider openai, its URL as the custom host",
        docs="https://docs.nvidia.com/dgx-cloud/lepton/features/endpoints/configurations",
    ),
    ShutDown(
        slug="palm",
        notice="Google decommissioned the PaLM API on 2024-08-15; use provider google (Gemini API)",
        docs="https://ai.google.dev/palm_docs/deprecation",
    ),
)
