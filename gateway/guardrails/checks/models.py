"""``default.modelwhitelist`` and ``default.modelRules``: the request's ``model`` is allowed.

Both read the model of the body as the target gets it (``context.request_json``) and run before
the request only. ``not`` turns the list into a block list. A request without a model fails with
``error`` set (the check cannot decide), as in Portkey.

``default.modelwhitelist`` is the id in Portkey's manifest; Portkey's gateway resolves the
function by the name ``modelWhitelist``, so configs written against either spelling work here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.guardrails.check import BEFORE_REQUEST, CheckParametersError, CheckResult, CheckSpec, HookContext

__all__ = [
    "SPECS",
    "negation",
]

_BEFORE = frozenset({BEFORE_REQUEST})


def negation(parameters: Mapping[str, Any]) -> bool:
    """The ``not`` parameter (default false)."""
    negate = parameters.get("not", False)
    if not isinstance(negate, bool):
        raise CheckParametersError("not", "not must be true or false.")
    return negate


def _model(context: HookContext) -> str | None:
    model = context.request_json.get("model")
    return model if isinstance(model, str) and model else None


@dataclass(frozen=True, slots=True)
class _Whitelist:
    models: tuple[str, ...]
    negate: bool


def _prepare_whitelist(parameters: Mapping[str, Any]) -> _Whitelist:
    models = parameters.get("models")
    if not isinstance(models, list) or not all(isinstance(model, str) for model in models):
        raise CheckParametersError("models", "models must be a list of model names.")
    return _Whitelist(tuple(models), negation(parameters))


def _run_whitelist(context: HookContext, prepared: _Whitelist) -> CheckResult:
    model, negate, allowed = _model(context), prepared.negate, list(prepared.models)
    if model is None:
        data = {
            "explanation": "An error occurred while checking model whitelist: Missing model in request",
            "requestedModel": "No model specified",
            "not": negate,
            "allowedModels": allowed,
        }
        return CheckResult(False, data, error="the request names no model")
    verdict = (model in prepared.models) != negate
    if verdict:
        explanation = (
            f'Model "{model}" is not in the allowed list as expected.'
            if negate
            else f'Model "{model}" is allowed.'
        )
    elif negate:
        explanation = f'Model "{model}" is in the allowed list when it should not be.'
    else:
        explanation = f'Model "{model}" is not in the allowed list.'
    data = {
        "verdict": verdict,
        "not": negate,
        "explanation": explanation,
        "requestedModel": model,
        "allowedModels": allowed,
    }
    return CheckResult(verdict, data)


@dataclass(frozen=True, slots=True)
class _Rules:
    #: Models allowed when no metadata rule matches.
    defaults: tuple[str, ...]
    #: Metadata key → its value → the models that value allows.
    by_metadata: Mapping[str, Mapping[str, tuple[str, ...]]]
    negate: bool


def _prepare_rules(parameters: Mapping[str, Any]) -> _Rules:
    """Portkey's shape: ``{"defaults": [models], "metadata": {key: {value: [models]}}}``; entries
    of another shape are skipped, as Portkey skips them."""
    rules = parameters.get("rules")
    if not isinstance(rules, dict):
        raise CheckParametersError("rules", "rules must be an object with defaults and metadata.")
    defaults = rules.get("defaults")
    metadata = rules.get("metadata")
    by_metadata = {
        key: {
            value: tuple(model for model in models if isinstance(model, str) and model)
            for value, models in mapping.items()
            if isinstance(models, list)
        }
        for key, mapping in (metadata.items() if isinstance(metadata, dict) else ())
        if isinstance(mapping, dict)
    }
    return _Rules(
        tuple(str(model) for model in defaults) if isinstance(defaults, list) else (),
        by_metadata,
        negation(parameters),
    )


def _run_rules(context: HookContext, prepared: _Rules) -> CheckResult:
    model = _model(context)
    if model is None:
        return _rules_error("Missing model in request")
    matched_rules: list[str] = []
    allowed: set[str] = set()
    for key, mapping in prepared.by_metadata.items():
        value = context.metadata.get(key)
        if value is not None and value in mapping:
            matched_rules.append(f"{key}:{value}")
            allowed.update(mapping[value])
    using_defaults = not allowed
    if using_defaults:
        allowed = set(prepared.defaults)
    if not allowed:
        return _rules_error("No allowed models resolved from rules")
    negate = prepared.negate
    verdict = (model in allowed) != negate
    if not verdict:
        explanation = (
            f'Model "{model}" is permitted by rules (in blocked list).'
            if negate
            else f'Model "{model}" is not allowed by rules.'
        )
        return CheckResult(False, {"explanation": explanation})
    explanation = (
        f'Model "{model}" is not permitted by rules (blocked list).'
        if negate
        else f'Model "{model}" is allowed by rules.'
    )
    if matched_rules:
        explanation += f" (matched rules: {', '.join(matched_rules)})"
    elif using_defaults:
        explanation += " (using default models)"
    return CheckResult(True, {"explanation": explanation})


def _rules_error(reason: str) -> CheckResult:
    data = {"explanation": f"An error occurred while checking model rules: {reason}"}
    return CheckResult(False, data, error=reason)


SPECS = (
    CheckSpec("default.modelwhitelist", _prepare_whitelist, run=_run_whitelist, events=_BEFORE),
    CheckSpec("default.modelWhitelist", _prepare_whitelist, run=_run_whitelist, events=_BEFORE),
    CheckSpec("default.modelRules", _prepare_rules, run=_run_rules, events=_BEFORE),
)
