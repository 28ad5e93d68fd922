"""Provider slug → adapter: the catalog's OpenAI-compatible rows at start-up, the adapters with
code of their own imported on first use."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterable, Iterator, Mapping

from gateway.errors import InvalidRequest
from gateway.on_first_use import load
from gateway.providers.base import ProviderAdapter
from gateway.providers.catalog import PROVIDERS
from gateway.providers.openai_compat import OpenAICompatible
from gateway.providers.option_url import OptionURL, needs_options
from gateway.providers.pass_through import adapters as pass_through_adapters
from gateway.providers.shut_down import SHUT_DOWN

__all__ = [
    "ProviderRegistry",
]


#: Longest unknown provider name an error repeats (the longest slug is well under it).
_LONGEST_ECHOED = 32

#: slug → ``"module:factory"`` of the adapters with code of their own, imported by the first
#: request that names the slug: importing them all at start-up held ~12 MB more of an idle
#: gateway (cryptography for Vertex's and Oracle's signatures, the translators' modules) that most
#: deployments never use. A slug the catalog lists gets its catalog row (``factory(spec)``);
#: the others build their own (``factory()``).
_ON_FIRST_USE: dict[str, str] = {
    "mistral-ai": "gateway.providers.mistral:MistralAI",
    "fireworks-ai": "gateway.providers.fireworks:FireworksAI",
    "azure-openai": "gateway.providers.azure_openai:AzureOpenAI",
    "anthropic": "gateway.providers.anthropic:provider",
    "google": "gateway.providers.gemini:provider",
    "vertex-ai": "gateway.providers.vertex:provider",
    "bedrock": "gateway.providers.bedrock:provider",
    "cohere": "gateway.providers.cohere:provider",
    "oracle": "gateway.providers.oracle:provider",
    "triton": "gateway.providers.triton:provider",
    "predibase": "gateway.providers.predibase:Predibase",
    "azure-ai": "gateway.providers.azure_ai:AzureAI",
    "databricks": "gateway.providers.databricks:Databricks",
    "stability-ai": "gateway.providers.stability:provider",
    "nomic": "gateway.providers.nomic:provider",
    "segmind": "gateway.providers.segmind:provider",
    "sagemaker": "gateway.providers.sagemaker:SageMaker",
}


class ProviderRegistry:
    """Every provider slug the gateway routes to. An adapter named in ``_ON_FIRST_USE`` is built
    by the first ``get`` of its slug and kept; iterating builds them all (the docs' tests do)."""

    __slots__ = ("_adapters", "_building", "_catalog", "_on_first_use", "_shut_down", "_slugs")

    def __init__(
        self,
        adapters: Mapping[str, ProviderAdapter],
        on_first_use: Mapping[str, str] | None = None,
        shut_down: Mapping[str, str] | None = None,
    ) -> None:
        self._adapters = dict(adapters)
        self._on_first_use = dict(on_first_use or {})
        #: slug → its adapter being built in a worker thread (:meth:`ready`).
        self._building: dict[str, asyncio.Future[ProviderAdapter]] = {}
        self._catalog = {spec.slug: spec for spec in PROVIDERS}
        self._slugs = tuple(dict.fromkeys([*self._adapters, *self._on_first_use]))
        #: slug → notice for providers that no longer exist: named, but never routed to.
        self._shut_down = dict(shut_down or {})

    @classmethod
    def default(cls) -> ProviderRegistry:
        adapters: dict[str, ProviderAdapter] = {spec.slug: OpenAICompatible(spec) for spec in PROVIDERS}
        adapters.update({spec.slug: OptionURL(spec) for spec in PROVIDERS if needs_options(spec)})
        adapters.update(pass_through_adapters())
        for slug in _ON_FIRST_USE:
            adapters.pop(slug, None)
        return cls(adapters, _ON_FIRST_USE, {gone.slug: gone.notice for gone in SHUT_DOWN})

    def __contains__(self, slug: str) -> bool:
        return slug in self._adapters or slug in self._on_first_use

    def __iter__(self) -> Iterator[ProviderAdapter]:
        return (self.get(slug) for slug in self._slugs)

    def slugs(self) -> tuple[str, ...]:
        """Every slug, without building the adapters imported on first use."""
        return self._slugs

    def build(self, slugs: Iterable[str]) -> None:
        """Build now the adapters of ``slugs`` the registry knows (others are left to the request
        that names them, for its 400): the ones the settings name, so none of their requests
        waits for an import (tens of ms for a translated provider's modules)."""
        for slug in slugs:
            if slug in self:
                self.get(slug)

    async def ready(self, slugs: Iterable[str]) -> None:
        """Build the adapters of ``slugs`` not built yet in a worker thread, so the first request
        that names one does not hold the event loop, and every request on it, while its modules
        are imported (7-30 ms for a translated provider, up to 125 ms for Vertex AI's
        cryptography). Requests naming the same slug meanwhile wait for the one build; a caller
        leaving does not cancel it. Unknown slugs are left to :meth:`get`'s 400."""
        for slug in slugs:
            name = slug.strip().lower()
            if name not in self._on_first_use or name in self._adapters:
                continue
            building = self._building.get(name)
            if building is None:
                building = asyncio.ensure_future(asyncio.to_thread(self._build, name))
                building.add_done_callback(functools.partial(self._built, name))
                self._building[name] = building
            await asyncio.shield(building)

    def _built(self, name: str, building: asyncio.Future[ProviderAdapter]) -> None:
        del self._building[name]
        if not building.cancelled() and building.exception() is None:
            self._adapters.setdefault(name, building.result())

    def get(self, slug: str, where: str = "x-portkey-provider") -> ProviderAdapter:
        """The adapter for ``slug``; a shut-down provider is a 400 ``provider_shut_down`` that says
        so, an unknown slug a 400 that says ``where`` it was named and suggests the closest ones."""
        adapter = self._adapters.get(slug)
        if adapter is not None:
            return adapter
        name = slug.strip().lower()
        adapter = self._adapters.get(name)
        if adapter is not None:
            return adapter
        if name in self._on_first_use:
            adapter = self._adapters[name] = self._build(name)
            return adapter
        param = "x-portkey-config" if where.startswith("config") else "x-portkey-provider"
        notice = self._shut_down.get(name)
        if notice is not None:
            raise InvalidRequest(
                f"Provider {name!r} in {where} has shut down: {notice}.",
                param=param,
                code="provider_shut_down",
            )
        close = self._closest(name)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        # A slug is short: a long value is more likely a key pasted in the wrong header, not echoed.
        named = repr(slug) if len(slug) <= _LONGEST_ECHOED else f"({len(slug)} characters)"
        raise InvalidRequest(
            f"Unknown provider {named} in {where}.{hint} Known providers: {', '.join(sorted(self._slugs))}.",
            param=param,
            code="unknown_provider",
        )

    def _build(self, slug: str) -> ProviderAdapter:
        factory = load(self._on_first_use[slug])
        spec = self._catalog.get(slug)
        built: ProviderAdapter = factory(spec) if spec is not None else factory()
        return built

    def _closest(self, name: str) -> list[str]:
        """Up to 3 slugs ``name`` may have meant: those it is the first word of (``azure`` for
        ``azure-openai``: too short a share of the slug for difflib), then difflib's nearest."""
        words = [slug for slug in self._slugs if slug.startswith(f"{name}-")] if name else []
        # difflib (~0.15 MB) only for this error: no running gateway needs it otherwise.
        close = load("difflib:get_close_matches")(name, self._slugs, n=3, cutoff=0.6)
        return list(dict.fromkeys([*words, *close]))[:3]
