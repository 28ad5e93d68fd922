"""``default.requiredMetadataKeys``: the request's metadata has all, any or none of some keys.

As Portkey's: ``metadataKeys`` (a non-empty list of strings), ``operator`` (``all`` by default,
``any``, ``none``); ``data`` has ``explanation``, ``missing_metadata_keys``,
``found_metadata_keys`` and ``operator``. Only key names are reported, never metadata values.
Before the request only. Portkey reports bad parameters per request (and then *passes*); here
they are a 400 when the config is parsed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.guardrails.check import BEFORE_REQUEST, CheckParametersError, CheckResult, CheckSpec, HookContext
from gateway.guardrails.checks.json_keys import key_operator

__all__ = [
    "SPECS",
]

_PASSED = {
    "any": "At least one metadata key was found.",
    "all": "All metadata keys were found.",
    "none": "No metadata keys were found.",
}
_FAILED = {
    "any": "No metadata keys were found.",
    "all": "Some metadata keys were missing.",
    "none": "Some metadata keys were found.",
}


@dataclass(frozen=True, slots=True)
class _Prepared:
    keys: tuple[str, ...]
    operator: str


def _prepare(parameters: Mapping[str, Any]) -> _Prepared:
    keys = parameters.get("metadataKeys")
    if not isinstance(keys, list) or not keys or not all(isinstance(key, str) for key in keys):
        raise CheckParametersError("metadataKeys", "metadataKeys must be a non-empty list of strings.")
    return _Prepared(tuple(keys), key_operator(parameters, "all"))


def _run(context: HookContext, prepared: _Prepared) -> CheckResult:
    found = [key for key in prepared.keys if key in context.metadata]
    missing = [key for key in prepared.keys if key not in context.metadata]
    operator = prepared.operator
    if operator == "any":
        verdict = bool(found)
    elif operator == "all":
        verdict = not missing
    else:
        verdict = not found
    outcome = (
        f"passed for '{operator}' metadata keys. {_PASSED[operator]}"
        if verdict
        else (f"failed for '{operator}' metadata keys. {_FAILED[operator]}")
    )
    data = {
        "explanation": f"Check {outcome}",
        "missing_metadata_keys": missing,
        "found_metadata_keys": found,
        "operator": operator,
    }
    return CheckResult(verdict, data)


SPECS = (CheckSpec("default.requiredMetadataKeys", _prepare, run=_run, events=frozenset({BEFORE_REQUEST})),)
