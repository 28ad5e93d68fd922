"""Every check a config may name, by id (``default.regexMatch``, ``gateway.pii``, ...).

Each check module under ``guardrails/checks/`` exports ``SPECS``, a tuple of its
:class:`~gateway.guardrails.check.CheckSpec`; this table gathers them.
"""

from __future__ import annotations

from gateway.guardrails.check import CheckSpec
from gateway.guardrails.checks import (
    case,
    code,
    counts,
    json_keys,
    json_schema,
    jwt_auth,
    log,
    metadata_keys,
    models,
    patterns,
    phrases,
    pii,
    prefix,
    presence,
    request_types,
    urls,
    webhook,
)

__all__ = [
    "CHECKS",
]

_MODULES: tuple[tuple[CheckSpec, ...], ...] = (
    patterns.SPECS,
    phrases.SPECS,
    counts.SPECS,
    case.SPECS,
    code.SPECS,
    urls.SPECS,
    presence.SPECS,
    prefix.SPECS,
    webhook.SPECS,
    json_schema.SPECS,
    json_keys.SPECS,
    models.SPECS,
    request_types.SPECS,
    metadata_keys.SPECS,
    jwt_auth.SPECS,
    pii.SPECS,
    log.SPECS,
)

#: Check id → its spec.
CHECKS: dict[str, CheckSpec] = {spec.id: spec for specs in _MODULES for spec in specs}
