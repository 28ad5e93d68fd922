"""Provider slug → adapter, built once at start-up from the catalog and the code adapters."""

from __future__ import annotations

import difflib
from collections.abc import Mapping

from gateway.errors import InvalidRequest
from gateway.providers import (
    anthropic,
    bedrock,
    cohere,
    gemini,
    nomic,
    oracle,
    segmind,
    stability,
    triton,
    vertex,
)
from gateway.providers.azure_ai import AzureAI
from gateway.providers.azure_openai import AzureOpenAI
from gateway.providers.base import ProviderAdapter
from gateway.providers.catalog import PROVIDERS
from gateway.providers.databricks import Databricks
from gateway.providers.fireworks import FireworksAI
from gateway.providers.mistral import MistralAI
from gateway.providers.openai_compat import OpenAICompatible
from gateway.providers.option_url import OptionURL, needs_options
from gateway.providers.pass_through import adapters as pass_through_adapters
from gateway.providers.predibase import Predibase
from gateway.providers.sagemaker import SageMaker
from gateway.providers.shut_down import SHUT_DOWN

__all__ = [
    "ProviderRegistry",
]


#: Longest unknown provider name an error repeats (the longest slug is well under it).
_LONGEST_ECHOED = 32


class ProviderRegistry:
    __slots__ = ("_adapters", "_shut_down")

    def __init__(
        self, adapters: Mapping[str, ProviderAdapter], shut_down: Mapping[str, str] | None = None
    ) -> None:
        self._adapters = dict(adapters)
        #: slug → notice for providers that no longer exist: named, but never routed to.
        self._shut_down = dict(shut_down or {})

    @classmethod
    def default(cls) -> ProviderRegistry:
        adapters: dict[str, ProviderAdapter] = {spec.slug: OpenAICompatible(spec) for spec in PROVIDERS}
        adapters["mistral-ai"] = MistralAI(adapters["mistral-ai"].spec)
        adapters["fireworks-ai"] = FireworksAI(adapters["fireworks-ai"].spec)
        adapters.update({spec.slug: OptionURL(spec) for spec in PROVIDERS if needs_options(spec)})
        adapters["azure-openai"] = AzureOpenAI()
        adapters["anthropic"] = anthropic.provider()
        adapters["google"] = gemini.provider()
        adapters["vertex-ai"] = vertex.provider()
        adapters["bedrock"] = bedrock.provider()
        adapters["cohere"] = cohere.provider()
        adapters["oracle"] = oracle.provider()
        adapters["triton"] = triton.provider()
        adapters["predibase"] = Predibase()
        adapters["azure-ai"] = AzureAI()
        adapters["databricks"] = Databricks()
        adapters["stability-ai"] = stability.provider()
        adapters["nomic"] = nomic.provider()
        adapters["segmind"] = segmind.provider()
        adapters.update(pass_through_adapters())
        adapters["sagemaker"] = SageMaker()
        return cls(adapters, {gone.slug: gone.notice for gone in SHUT_DOWN})

    def __contains__(self, slug: str) -> bool:
        return slug in self._adapters

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._adapters.values())

    def get(self, slug: str, where: str = "x-portkey-provider") -> ProviderAdapter:
        """The adapter for ``slug``; a shut-down provider is a 400 ``provider_shut_down`` that says
        so, an unknown slug a 400 that says ``where`` it was named and suggests the closest ones."""
        adapter = self._adapters.get(slug) or self._adapters.get(slug.strip().lower())
        if adapter is not None:
            return adapter
        param = "x-portkey-config" if where.startswith("config") else "x-portkey-provider"
        notice = self._shut_down.get(slug.strip().lower())
        if notice is not None:
            raise InvalidRequest(
                f"Provider {slug.strip().lower()!r} in {where} has shut down: {notice}.",
                param=param,
                code="provider_shut_down",
            )
        close = self._closest(slug.strip().lower())
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        # A slug is short: a long value is more likely a key pasted in the wrong header, not echoed.
        named = repr(slug) if len(slug) <= _LONGEST_ECHOED else f"({len(slug)} characters)"
        raise InvalidRequest(
            f"Unknown provider {named} in {where}.{hint} Known providers: "
            f"{', '.join(sorted(self._adapters))}.",
            param=param,
            code="unknown_provider",
        )

    def _closest(self, name: str) -> list[str]:
        """Up to 3 slugs ``name`` may have meant: those it is the first word of (``azure`` for
        ``azure-openai``: too short a share of the slug for difflib), then difflib's nearest."""
        words = [slug for slug in self._adapters if slug.startswith(f"{name}-")] if name else []
        close = difflib.get_close_matches(name, self._adapters, n=3, cutoff=0.6)
        return list(dict.fromkeys([*words, *close]))[:3]
