"""gateway/providers/catalog.py: every row is well-formed data.

tests/contract/test_catalog.py already sends a chat completion through each row and checks slugs,
docs links and URL schemes; these check what a wrong row would break without that test noticing:
the endpoint families a row lists, where its base URL ends, its renames, and that a row is what
the gateway serves under its slug.
"""

from __future__ import annotations

import re

import pytest
from yarl import URL

from gateway.providers.base import FAMILIES, ProviderSpec
from gateway.providers.catalog import PROVIDERS
from gateway.providers.registry import ProviderRegistry

LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
FIELD = re.compile(r"[a-z][a-z0-9_]*")
IDS = [spec.slug for spec in PROVIDERS]
#: Where a provider mounts its whole API under a path word that is also a family name: Bytez's
#: OpenAI-compatible API lives under its model API's ``/models/v2``.
API_PREFIXES = {"bytez": "/models/v2"}


@pytest.mark.parametrize("spec", PROVIDERS, ids=IDS)
def test_a_row_lists_only_known_endpoint_families(spec: ProviderSpec) -> None:
    if spec.endpoints is not None:
        assert spec.endpoints
        assert spec.endpoints <= FAMILIES, sorted(spec.endpoints - FAMILIES)


@pytest.mark.parametrize("spec", PROVIDERS, ids=IDS)
def test_a_base_url_ends_where_openais_v1_ends(spec: ProviderSpec) -> None:
    # The gateway appends the endpoint (``chat/completions``) to the base URL: a base that already
    # names an endpoint family would send ``.../chat/chat/completions``.
    segments = URL(spec.base_url).path.removeprefix(API_PREFIXES.get(spec.slug, "")).split("/")[1:]
    assert not FAMILIES.intersection(segments)
    assert "" not in segments or segments == [""], "no empty path segment (a doubled slash)"


def test_only_openai_and_local_servers_serve_every_endpoint_family() -> None:
    every_family = [spec for spec in PROVIDERS if spec.endpoints is None]
    assert "openai" in {spec.slug for spec in every_family}
    # A row without a base URL (modal) is the caller's own server, as a local one is.
    hosted = [spec for spec in every_family if spec.slug != "openai" and spec.base_url]
    assert {URL(spec.base_url).host for spec in hosted} <= LOOPBACK


@pytest.mark.parametrize(
    "spec", [spec for spec in PROVIDERS if spec.param_renames], ids=lambda spec: spec.slug
)
def test_a_rename_maps_an_openai_field_to_another_name(spec: ProviderSpec) -> None:
    for field, renamed in spec.param_renames.items():
        assert FIELD.fullmatch(field)
        assert FIELD.fullmatch(renamed)
        assert field != renamed
        assert renamed not in spec.param_renames, "renames do not chain"


def test_names_are_given_and_unique() -> None:
    names = [spec.name.strip() for spec in PROVIDERS]
    assert all(names)
    assert len(names) == len(set(names))


def test_the_gateway_serves_each_row_under_its_slug() -> None:
    # A code adapter registered under a row's slug would silently replace the row.
    registry = ProviderRegistry.default()
    assert [spec.slug for spec in PROVIDERS if registry.get(spec.slug).spec != spec] == []
