"""``default.jsonKeys``: the answer holds a JSON object with any, all or none of some keys.

As Portkey's: every fenced block and bare object of the answer is a candidate
(``json_text.py``); the first that satisfies ``operator`` decides, else the one with the most of
the keys is reported. No JSON in the text fails. ``data`` is Portkey's: ``matchedJson``,
``verdict``, ``explanation``, ``presentKeys``, ``missingKeys``, ``operator``, ``textExcerpt``
(the first 100 characters). A JSON value that is not an object has none of the keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.guardrails.check import AFTER_REQUEST, CheckParametersError, CheckResult, CheckSpec, HookContext
from gateway.guardrails.checks.json_text import json_values
from gateway.guardrails.text import text_of

__all__ = [
    "SPECS",
    "key_operator",
]

_OPERATORS = ("any", "all", "none")


@dataclass(frozen=True, slots=True)
class _Prepared:
    keys: tuple[str, ...]
    operator: str


def key_operator(parameters: Mapping[str, Any], default: str) -> str:
    """The ``operator`` parameter (``any``, ``all``, ``none``), ``default`` when absent."""
    operator = parameters.get("operator", default)
    if operator not in _OPERATORS:
        raise CheckParametersError("operator", "operator must be one of: any, all, none.")
    return str(operator)


def _prepare(parameters: Mapping[str, Any]) -> _Prepared:
    keys = parameters.get("keys")
    if not isinstance(keys, list) or not keys or not all(isinstance(key, str) for key in keys):
        raise CheckParametersError("keys", "keys must be a non-empty list of strings.")
    return _Prepared(tuple(keys), key_operator(parameters, "any"))


def _excerpt(text: str) -> str:
    """Portkey's ``textExcerpt``: the first 100 characters."""
    return text[:100] + "..." if len(text) > 100 else text


def _run(context: HookContext, prepared: _Prepared) -> CheckResult:
    text = text_of(context)
    keys, operator = list(prepared.keys), prepared.operator
    if not text:
        explanation = "An error occurred while processing JSON: Missing text to analyze"
        data = {"explanation": explanation, "operator": operator, "requiredKeys": keys}
        return CheckResult(False, data, error="no text to check")
    values = json_values(text, bare_only_without_fences=False)
    if not values:
        explanation = "No valid JSON found in the text."
        data = {
            "explanation": explanation,
            "requiredKeys": keys,
            "operator": operator,
            "textExcerpt": _excerpt(text),
        }
        return CheckResult(False, data)
    matched: Any = None
    present: list[str] = []
    verdict = False
    for value in values:
        found = [key for key in keys if isinstance(value, dict) and key in value]
        verdict = _holds(operator, len(found), len(keys))
        if verdict or len(found) > len(present):
            matched, present = value, found
        if verdict:
            break
    missing = [key for key in keys if key not in present]
    return CheckResult(
        verdict,
        {
            "matchedJson": matched,
            "verdict": verdict,
            "explanation": _explanation(operator, present, missing, verdict),
            "presentKeys": present,
            "missingKeys": missing,
            "operator": operator,
            "textExcerpt": _excerpt(text),
        },
    )


def _holds(operator: str, found: int, wanted: int) -> bool:
    if operator == "any":
        return found > 0
    if operator == "all":
        return found == wanted
    return found == 0


def _explanation(operator: str, present: list[str], missing: list[str], verdict: bool) -> str:
    found = f"Found keys: [{', '.join(present)}]" if present else "No matching keys found"
    absent = f"Missing keys: [{', '.join(missing)}]" if missing else "No missing keys"
    if operator == "any":
        if verdict:
            return f"Successfully found at least one required key. {found}."
        return f"Failed to find any required keys. {absent}."
    if operator == "all":
        if verdict:
            return f"Successfully found all required keys. {found}."
        return f"Failed to find all required keys. {absent}."
    if verdict:
        return f"Successfully verified no required keys are present. {absent}."
    return f"Found some keys that should not be present. {found}."


SPECS = (CheckSpec("default.jsonKeys", _prepare, run=_run, events=frozenset({AFTER_REQUEST})),)
