"""The README is the users' reference: it must name every provider the gateway accepts."""

from __future__ import annotations

from pathlib import Path

from gateway.providers.registry import ProviderRegistry

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def test_readme_lists_every_provider_slug_with_its_base_url() -> None:
    missing = [
        adapter.spec.slug
        for adapter in ProviderRegistry.default()
        if f"| `{adapter.spec.slug}` |" not in README or f"`{adapter.spec.base_url}`" not in README
    ]
    assert missing == []
