"""A routing target's identity: what its breaker, health and load figures are kept under.

Two requests share a breaker only when they would reach the same upstream *as the same caller*:
same provider, base URL, model, endpoint-selecting options (Azure resource and deployment, AWS
region, Vertex project and region, OpenAI organization and project) and the same credentials. So a
429 on one tenant's key, or a failing model, never opens the breaker of another tenant or of a
healthy model on the same host.

The identity is shown by ``GET /v1/health/targets``: credentials appear only as a short SHA-256
fingerprint, and every shown field is bounded in length, so the table's size is bounded too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from yarl import URL

__all__ = [
    "MAX_SHOWN",
    "TargetIdentity",
    "fingerprint",
    "target_identity",
]

#: Provider options that say *where* a request goes, and are not secret: shown as they are. Any
#: other option (AWS keys, a Vertex service account, options added later) only feeds the
#: fingerprint: an option is hidden unless it is known to be safe to show.
SHOWN_OPTIONS = frozenset(
    {
        "azure-resource-name",
        "azure-deployment-id",
        "azure-api-version",
        "aws-region",
        "vertex-project-id",
        "vertex-region",
        "openai-organization",
        "openai-project",
    }
)
#: Longest shown value; a longer one is cut and tagged with a hash of the whole, so two long
#: values that share a prefix still get two breakers.
MAX_SHOWN = 200
_FINGERPRINT_HEX = 12


@dataclass(frozen=True, slots=True)
class TargetIdentity:
    provider: str
    base_url: str
    model: str
    #: ``(option, value)`` pairs of the shown options that are set, sorted.
    scope: tuple[tuple[str, str], ...]
    #: Fingerprint of the key and the hidden options; ``""`` when the target has no credential.
    credential: str

    @property
    def id(self) -> str:
        """A short, non-reversible tag of the whole identity: the metrics' ``target`` label,
        shown as ``id`` in the health table so the two can be matched."""
        return fingerprint([self.provider, self.base_url, self.model, repr(self.scope), self.credential])

    def describe(self) -> dict[str, Any]:
        """JSON-ready, secret-free fields for the health table."""
        return {
            "id": self.id,
            "provider": self.provider,
            "base_url": self.base_url,
            "model": self.model,
            "options": dict(self.scope),
            "credential": self.credential or None,
        }


def target_identity(
    provider: str, base_url: str, model: str, options: Mapping[str, str], api_key: str
) -> TargetIdentity:
    """The identity of one target; ``base_url`` is the URL actually called (custom host or catalog)."""
    shown = tuple(sorted((k, _bounded(v)) for k, v in options.items() if v and k in SHOWN_OPTIONS))
    hidden = sorted((k, v) for k, v in options.items() if v and k not in SHOWN_OPTIONS)
    secrets = [api_key] if api_key else []
    secrets += [f"{k}={v}" for k, v in hidden]
    return TargetIdentity(
        provider, _bounded(_public_url(base_url)), _bounded(model), shown, fingerprint(secrets)
    )


def fingerprint(secrets: list[str]) -> str:
    """A short, non-reversible tag of ``secrets`` (``""`` for none): equal credentials, equal tags."""
    if not secrets:
        return ""
    digest = hashlib.sha256("\0".join(secrets).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:_FINGERPRINT_HEX]


def _public_url(base_url: str) -> str:
    """The base URL without userinfo, query or fragment (none of which may be shown)."""
    try:
        url = URL(base_url)
    except ValueError:
        return "<unparsable>"
    if url.user is None and url.password is None and not url.raw_query_string and not url.raw_fragment:
        return base_url
    return str(url.with_user(None).with_query(None).with_fragment(None))


def _bounded(value: str) -> str:
    if len(value) <= MAX_SHOWN:
        return value
    tag = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{value[: MAX_SHOWN - 10]}…{tag}"
