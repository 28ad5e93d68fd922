"""What a gateway key allows: which config a request runs, and whether its planned targets are
within the key's providers, models and virtual keys.

A refusal is a 403 (``PermissionDenied``) naming the provider, model, config or virtual key that
is not allowed, and the key's id: never a key. An empty allow list allows anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gateway.errors import PermissionDenied
from gateway.limits.caller import GatewayKey
from gateway.routing.target import Target

__all__ = [
    "check_targets",
    "config_for",
    "metadata_for",
]


def config_for(key: GatewayKey, header: str | None) -> str | None:
    """The config a request of ``key`` runs: ``x-portkey-config``, else the key's
    ``default_config`` (``None``: none, the headers name the target). With ``configs`` set, the
    config must be one of those ids; an inline config is refused then."""
    config = (header or "").strip() or key.default_config or None
    if config is None or not key.configs:
        return config
    if config.startswith("{"):
        raise _denied(key, "an inline x-portkey-config", "config_not_allowed", "named configs only")
    if config not in key.configs:
        raise _denied(key, f"the config {config!r}", "config_not_allowed")
    return config


def metadata_for(key: GatewayKey, metadata: dict[str, str]) -> dict[str, str]:
    """The request's ``x-portkey-metadata`` over the key's own (the request's values win)."""
    return {**key.metadata, **metadata} if key.metadata else metadata


def check_targets(key: GatewayKey, targets: Sequence[Target], params: Mapping[str, Any]) -> None:
    """A 403 unless every planned target is within the key's grants (a fallback may not reach what
    the key may not call directly)."""
    for target in targets:
        provider = target.adapter.spec.slug
        if key.providers and provider not in key.providers:
            raise _denied(key, f"the provider {provider!r}", "provider_not_allowed")
        if key.virtual_keys and target.virtual_key not in key.virtual_keys:
            what = f"the virtual key {target.virtual_key!r}" if target.virtual_key else "a caller's own key"
            raise _denied(key, what, "virtual_key_not_allowed", "its virtual keys only")
        if key.models:
            model = target.model_for(params)
            if not model:
                raise _denied(key, "a request that names no model", "model_not_allowed", "named models only")
            if model not in key.models:
                raise _denied(key, f"the model {model[:200]!r}", "model_not_allowed")


def _denied(key: GatewayKey, what: str, code: str, only: str = "") -> PermissionDenied:
    rule = f" (it may use {only})" if only else ""
    return PermissionDenied(f"The gateway key {key.id} may not use {what}{rule}.", code=code)
