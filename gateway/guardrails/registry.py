"""Every check a config may name, by id (``default.regexMatch``, ``gateway.pii``, ...).

Each check module under ``guardrails/checks/`` exports ``SPECS``, a tuple of its
:class:`~gateway.guardrails.check.CheckSpec`; this table gathers them. The checks whose libraries
are heavy are imported on first use (see ``_ON_FIRST_USE``), so an idle gateway that never runs
them does not hold them.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from gateway.guardrails.check import CheckSpec
from gateway.guardrails.checks import (
    case,
    counts,
    json_keys,
    log,
    metadata_keys,
    models,
    patterns,
    phrases,
    pii,
    prefix,
    presence,
    request_types,
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
    presence.SPECS,
    prefix.SPECS,
    webhook.SPECS,
    json_keys.SPECS,
    models.SPECS,
    request_types.SPECS,
    metadata_keys.SPECS,
    pii.SPECS,
    log.SPECS,
)

#: Check id → the module that holds it, imported when a config first names the check: PyJWT
#: with cryptography (~10 MB resident) and jsonschema with its referencing and rpds (~3 MB) would
#: otherwise be loaded by every gateway, and most never run these checks; the URL and code checks
#: compile RE2 patterns when imported (``config/regex.py`` loads RE2 on first use).
_ON_FIRST_USE: dict[str, str] = {
    "default.jwt": "gateway.guardrails.checks.jwt_auth",
    "default.jsonSchema": "gateway.guardrails.checks.json_schema",
    "default.validUrls": "gateway.guardrails.checks.urls",
    "default.containsCode": "gateway.guardrails.checks.code",
}


class _Checks(Mapping[str, CheckSpec]):
    """Check id → spec; a check in ``_ON_FIRST_USE`` is imported by its first lookup and kept."""

    __slots__ = ("_specs",)

    def __init__(self, specs: dict[str, CheckSpec]) -> None:
        self._specs = specs

    def __getitem__(self, check_id: str) -> CheckSpec:
        spec = self._specs.get(check_id)
        if spec is None:
            module = importlib.import_module(_ON_FIRST_USE[check_id])  # KeyError: no such check
            self._specs.update((loaded.id, loaded) for loaded in module.SPECS)
            spec = self._specs[check_id]
        return spec

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs.keys() | _ON_FIRST_USE.keys())

    def __len__(self) -> int:
        return len(self._specs.keys() | _ON_FIRST_USE.keys())


#: Check id → its spec.
CHECKS: Mapping[str, CheckSpec] = _Checks({spec.id: spec for specs in _MODULES for spec in specs})
