"""gateway/providers/registry.py: the adapter for a slug, or a 400 that helps without echoing keys."""

from __future__ import annotations

import asyncio
import threading

import pytest

from gateway.errors import InvalidRequest
from gateway.providers.registry import ProviderRegistry
from tests.unit.providers import first_use_probe

REGISTRY = ProviderRegistry.default()


def test_a_mistyped_slug_is_repeated_with_the_closest_ones() -> None:
    with pytest.raises(InvalidRequest) as raised:
        REGISTRY.get("opnai")
    assert "'opnai'" in raised.value.message
    assert "Did you mean openai" in raised.value.message
    assert raised.value.code == "unknown_provider"


def test_a_long_value_is_not_repeated_it_may_be_a_key_in_the_wrong_header() -> None:
    key = "sk-proj-" + "A1b2C3d4" * 8
    with pytest.raises(InvalidRequest) as raised:
        REGISTRY.get(key)
    assert key[:12] not in raised.value.message
    assert f"({len(key)} characters)" in raised.value.message
    assert raised.value.param == "x-portkey-provider"


def test_every_slug_reaches_the_adapter_that_serves_it() -> None:
    registry = ProviderRegistry.default()
    slugs = registry.slugs()
    assert len(slugs) == len(set(slugs)) >= 80
    assert [registry.get(slug).spec.slug for slug in slugs] == list(slugs)
    assert [adapter.spec.slug for adapter in registry] == list(slugs)


def test_an_adapter_imported_on_first_use_is_built_once_and_found_in_any_case() -> None:
    registry = ProviderRegistry.default()
    first = registry.get(" Anthropic ")
    assert first.spec.slug == "anthropic"
    assert registry.get("anthropic") is first
    assert "anthropic" in registry


def test_building_the_named_providers_skips_a_name_it_does_not_know() -> None:
    registry = ProviderRegistry.default()
    registry.build(["bedrock", "not-a-provider"])
    assert registry.get("bedrock").spec.slug == "bedrock"
    with pytest.raises(InvalidRequest):
        registry.get("not-a-provider")


def _probe_registry() -> ProviderRegistry:
    first_use_probe.BUILT_IN.clear()
    return ProviderRegistry({}, {"probe": "tests.unit.providers.first_use_probe:provider"})


async def test_ready_builds_an_adapter_of_first_use_once_and_off_the_event_loop() -> None:
    registry = _probe_registry()
    # Requests naming the slug at once (in any case) wait for the same build.
    await asyncio.gather(registry.ready(["probe"]), registry.ready([" Probe"]), registry.ready(["probe"]))
    assert len(first_use_probe.BUILT_IN) == 1
    assert first_use_probe.BUILT_IN[0] != threading.main_thread().name
    assert registry.get("probe") is registry.get("probe")
    await registry.ready(["probe"])
    assert len(first_use_probe.BUILT_IN) == 1


async def test_a_caller_leaving_while_an_adapter_is_built_does_not_stop_the_build() -> None:
    registry = _probe_registry()
    leaving = asyncio.create_task(registry.ready(["probe"]))
    await asyncio.sleep(0)  # the build has started in its thread
    leaving.cancel()
    await registry.ready(["probe"])
    registry.get("probe")
    assert len(first_use_probe.BUILT_IN) == 1


async def test_ready_leaves_unknown_and_built_slugs_alone() -> None:
    registry = _probe_registry()
    await registry.ready(["no-such-provider", ""])
    assert first_use_probe.BUILT_IN == []
    with pytest.raises(InvalidRequest):
        registry.get("no-such-provider")
