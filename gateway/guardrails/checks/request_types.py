"""``default.allowedRequestTypes``: the request's type (endpoint) is allowed.

As Portkey's: ``allowedTypes`` and ``blockedTypes`` (lists, or comma-separated strings), else the
request metadata's ``supported_endpoints`` / ``blocked_endpoints`` (comma-separated). Blocked wins
over allowed; with neither, everything passes. A type in both lists is a 400 when the parameters
say so (Portkey finds it per request) and an undecided check when the metadata does. Types are
Portkey's names (``chatComplete``, ``complete``, ``embed``, ``messages``, ...). Before the
request only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.guardrails.check import BEFORE_REQUEST, CheckParametersError, CheckResult, CheckSpec, HookContext

__all__ = [
    "SPECS",
]


@dataclass(frozen=True, slots=True)
class _Prepared:
    allowed: tuple[str, ...]
    blocked: tuple[str, ...]


def _types(value: Any, param: str) -> tuple[str, ...]:
    """A list of types, or a comma-separated string of them; empty when absent."""
    if value is None or value == "" or value == []:
        return ()
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(","))
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise CheckParametersError(param, f"{param} must be a list of request types or a comma-separated string.")


def _prepare(parameters: Mapping[str, Any]) -> _Prepared:
    allowed = _types(parameters.get("allowedTypes"), "allowedTypes")
    blocked = _types(parameters.get("blockedTypes"), "blockedTypes")
    if set(allowed) & set(blocked):
        raise CheckParametersError(
            "blockedTypes", "a request type appears in both allowedTypes and blockedTypes."
        )
    return _Prepared(allowed, blocked)


def _run(context: HookContext, prepared: _Prepared) -> CheckResult:
    allowed, blocked, metadata = prepared.allowed, prepared.blocked, context.metadata
    if allowed or blocked:
        source = "parameters"
    else:
        source = (
            "metadata"
            if metadata.get("supported_endpoints") or metadata.get("blocked_endpoints")
            else "default"
        )
    if not allowed:
        allowed = _types(metadata.get("supported_endpoints"), "supported_endpoints")
    if not blocked:
        blocked = _types(metadata.get("blocked_endpoints"), "blocked_endpoints")
    current = context.request_type
    conflicts = [kind for kind in allowed if kind in blocked]
    if conflicts:
        reason = f"request types in both allowed and blocked lists: {', '.join(conflicts)}"
        failure: dict[str, Any] = {
            "explanation": f"An error occurred while checking allowed request types: {reason}",
            "currentRequestType": current,
            "allowedTypes": list(allowed),
            "blockedTypes": list(blocked),
        }
        return CheckResult(False, failure, error=reason)
    verdict, mode, explanation = _decide(current, allowed, blocked)
    data: dict[str, Any] = {"currentRequestType": current}
    if allowed or mode == "unrestricted":
        data["allowedTypes"] = list(allowed) or ["all"]
    if blocked:
        data["blockedTypes"] = list(blocked)
    data |= {"verdict": verdict, "explanation": explanation, "source": source, "mode": mode}
    return CheckResult(verdict, data)


def _decide(current: str, allowed: tuple[str, ...], blocked: tuple[str, ...]) -> tuple[bool, str, str]:
    """The verdict, Portkey's mode name and its explanation."""
    subject = f'Request type "{current}"'
    if not allowed and not blocked:
        return True, "unrestricted", f"{subject} is allowed (no restrictions configured)."
    if not allowed:
        if current in blocked:
            return False, "blocklist", f"{subject} is blocked."
        return True, "blocklist", f"{subject} is allowed (not in blocklist)."
    if not blocked:
        if current in allowed:
            return True, "allowlist", f"{subject} is allowed."
        return False, "allowlist", f"{subject} is not allowed. Allowed types are: {', '.join(allowed)}"
    if current in blocked:
        return False, "combined", f"{subject} is explicitly blocked."
    if current in allowed:
        return True, "combined", f"{subject} is allowed (in allowlist and not blocked)."
    remaining = ", ".join(kind for kind in allowed if kind not in blocked)
    return (
        False,
        "combined",
        f"{subject} is not in the allowed list. Allowed types (excluding blocked): {remaining}",
    )


SPECS = (CheckSpec("default.allowedRequestTypes", _prepare, run=_run, events=frozenset({BEFORE_REQUEST})),)
