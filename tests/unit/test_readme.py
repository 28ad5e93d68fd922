"""The providers page (docs/providers.md, linked from the README) names every provider the gateway accepts."""

from __future__ import annotations

from pathlib import Path

from gateway.providers.registry import ProviderRegistry

PROVIDERS_PAGE = (Path(__file__).resolve().parents[2] / "docs" / "providers.md").read_text(encoding="utf-8")


def test_providers_page_lists_every_provider_slug_with_its_base_url() -> None:
    missing = [
        adapter.spec.slug
        for adapter in ProviderRegistry.default()
        if f"| `{adapter.spec.slug}` |" not in PROVIDERS_PAGE
        or f"`{adapter.spec.base_url}`" not in PROVIDERS_PAGE
    ]
    assert missing == []
