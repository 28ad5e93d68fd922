"""The provider table (docs/providers.md) and the README's count cannot drift from the registry.

Every slug the registry knows has exactly one row of the table, whose endpoint families, auth (for
OpenAI-format rows, from the catalog's auth form) and source (the docs URL in the provider's spec)
say what the code does; the README's "Providers" paragraph states how many there are.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.providers.base import ProviderAdapter
from gateway.providers.openai_compat import OpenAICompatible
from gateway.providers.registry import ProviderRegistry

ROOT = Path(__file__).resolve().parents[2]
HEADER = "| slug | provider | base URL (what a custom host replaces) | endpoint families | auth | source |"
#: How an OpenAI-format row's ``auth`` form reads in the table.
AUTH_FORMS = {"bearer": "`Authorization: Bearer`", "api-key": "`api-key`", "none": "none"}
ADAPTERS = {adapter.spec.slug: adapter for adapter in ProviderRegistry.default()}


def table_rows() -> list[list[str]]:
    """The cells of each row of the provider table (the one under :data:`HEADER`)."""
    lines = (ROOT / "docs" / "providers.md").read_text(encoding="utf-8").splitlines()
    start = lines.index(HEADER) + 2  # the header and its |---| line
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


ROWS = table_rows()


def row_of(slug: str) -> list[str]:
    rows = [row for row in ROWS if row[0] == f"`{slug}`"]
    assert len(rows) == 1, f"docs/providers.md: {len(rows)} rows for `{slug}` in the provider table (want 1)"
    assert len(rows[0]) == 6, f"docs/providers.md: the row for `{slug}` has {len(rows[0])} cells (want 6)"
    return rows[0]


def families_of(adapter: ProviderAdapter) -> str:
    served = adapter.spec.endpoints
    if served is None:
        return "all"
    return ", ".join(sorted(served)) or "none"  # none: the provider's own API, passed through


@pytest.mark.parametrize("slug", sorted(ADAPTERS))
def test_every_provider_has_one_row_matching_its_spec(slug: str) -> None:
    adapter = ADAPTERS[slug]
    _, _, base_url, families, auth, source = row_of(slug)
    if adapter.spec.base_url:
        assert base_url == f"`{adapter.spec.base_url}`", f"`{slug}`: base URL differs from its spec"
    else:  # no public host (self-hosted, or a URL per caller): the row says what stands for it
        assert base_url.startswith("none: "), f"`{slug}`: no base URL: the row must say 'none: ...'"
    assert re.sub(r" \(.*\)$", "", families) == families_of(adapter), (
        f"`{slug}`: endpoint families {families!r} differ from its spec's: {families_of(adapter)!r}"
    )
    assert source == adapter.spec.docs, f"`{slug}`: source {source!r} differs from its spec's docs"
    assert auth, f"`{slug}`: the auth cell is empty"
    if type(adapter) is OpenAICompatible:
        want = AUTH_FORMS[adapter.spec.auth]
        assert auth == want, f"`{slug}`: auth {auth!r} differs from its catalog row's: {want!r}"


def test_the_table_has_no_row_for_a_provider_the_registry_does_not_know() -> None:
    unknown = [row[0] for row in ROWS if row[0].strip("`") not in ADAPTERS]
    assert unknown == [], f"docs/providers.md: rows for providers the registry does not know: {unknown}"


def test_readme_states_how_many_providers_there_are() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    stated = re.search(r"\*\*(\d+) providers\*\*", readme)
    assert stated is not None, "README.md: the Providers paragraph must say **<n> providers**"
    assert int(stated.group(1)) == len(ADAPTERS), (
        f"README.md says {stated.group(1)} providers; the registry knows {len(ADAPTERS)}"
    )
