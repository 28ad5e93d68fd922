"""Which provider a request goes to, with which key and base URL, from its x-portkey-* headers.

(Routing configs with several targets build on this: see DESIGN.md §2.)
"""

from __future__ import annotations

from dataclasses import dataclass

from multidict import CIMultiDictProxy

from gateway.config.settings import ProviderSettings, Settings
from gateway.errors import InvalidRequest
from gateway.providers.base import ProviderAdapter
from gateway.providers.registry import ProviderRegistry
from gateway.upstream.hostguard import check_custom_host

_NO_PROVIDER_SETTINGS = ProviderSettings()


@dataclass(frozen=True, slots=True)
class Target:
    adapter: ProviderAdapter
    api_key: str
    #: The custom host or the settings' base URL; ``""`` means the provider's own.
    base_url: str
    #: The ``x-portkey-<name>`` values the adapter declared (Azure resource, deployment...).
    options: dict[str, str]


def target_from_headers(
    headers: CIMultiDictProxy[str], registry: ProviderRegistry, settings: Settings
) -> Target:
    slug = headers.get("x-portkey-provider", "").strip()
    if not slug:
        if "x-portkey-config" in headers:
            raise InvalidRequest(
                "Routing configs (x-portkey-config) are not supported by this gateway version yet: "
                "send x-portkey-provider instead.",
                param="x-portkey-config",
                code="config_not_supported",
            )
        raise InvalidRequest(
            "Missing x-portkey-provider header: name the provider to call, for example "
            "'x-portkey-provider: openai' (the README lists every provider).",
            param="x-portkey-provider",
            code="missing_provider",
        )
    adapter = registry.get(slug)
    configured = settings.providers.get(adapter.spec.slug, _NO_PROVIDER_SETTINGS)
    custom_host = headers.get("x-portkey-custom-host", "")
    base_url = check_custom_host(custom_host, settings.custom_hosts) if custom_host else configured.base_url
    options = {name: headers.get(f"x-portkey-{name}", "").strip() for name in adapter.option_headers}
    return Target(adapter, _api_key(headers) or configured.api_key, base_url, options)


def _api_key(headers: CIMultiDictProxy[str]) -> str:
    authorization = headers.get("Authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return headers.get("x-portkey-api-key", "").strip()
