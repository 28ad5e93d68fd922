"""Guardrail hooks in a routing config (Portkey's two forms), parsed once with the config.

The full form is a list of hook objects under ``before_request_hooks`` / ``after_request_hooks``::

    {"id": "no-secrets", "type": "guardrail", "deny": true, "async": false, "sequential": false,
     "on_fail": {...}, "on_success": {...}, "stream_mode": "hold",
     "checks": [{"id": "default.contains", "parameters": {...}, "is_enabled": true}]}

The shorthand (``input_guardrails`` / ``output_guardrails``, and ``input_mutators`` /
``output_mutators`` for mutator hooks) is a list of objects whose hook keys (``deny``, ``async``,
``on_fail``, ``on_success``, ``id``, ``type``, ``sequential``, ``stream_mode``) are taken out and
whose other keys are checks: ``{"default.contains": {params}}``; a bare name gets ``default.``
(Portkey's ``convertHooksShorthand``). A hook given by a bare string (a guardrail saved in Portkey's
hosted app) has nothing here to run, so it is refused.

Every check is looked up in the registry and prepared here (``CheckSpec.prepare``): an unknown id,
a check on an event it does not support, or bad parameters are a 400 naming the dotted path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from gateway.config.fields import as_object, as_text, bad
from gateway.guardrails.check import AFTER_REQUEST, BEFORE_REQUEST, CheckParametersError, CheckSpec
from gateway.guardrails.registry import CHECKS

__all__ = [
    "MAX_CHECKS",
    "MAX_HOOKS",
    "STREAM_MODES",
    "CheckCall",
    "Hook",
    "Hooks",
    "parse_hooks",
    "parse_shorthand",
]

#: Hooks, and checks over all of them, one config (or one header) may hold: each check runs on
#: every request the config routes.
MAX_HOOKS = 16
MAX_CHECKS = 32
#: How output checks meet a streamed answer: ``hold`` it until complete and checked, or
#: ``report`` on the finished text in one event at its end (a denying hook cannot report).
STREAM_MODES = ("hold", "report")
HOOK_TYPES = ("guardrail", "mutator")
#: The hook keys of a shorthand object; its other keys are checks.
_SHORTHAND_HOOK_KEYS = frozenset(
    {
        "deny",
        "on_fail",
        "on_success",
        "async",
        "id",
        "type",
        "sequential",
        "stream_mode",
        "guardrail_version_id",
    }
)
_EVENT_OF = {"before_request_hooks": BEFORE_REQUEST, "after_request_hooks": AFTER_REQUEST}


@dataclass(frozen=True, slots=True)
class CheckCall:
    """One enabled check of a hook, its parameters already prepared."""

    spec: CheckSpec
    prepared: Any


@dataclass(frozen=True, slots=True, eq=False)
class Hook:
    """One hook: its checks run together on one event; ``eq=False``: a hook inherited by several
    targets is the same object, so a request runs it once."""

    id: str
    event: str
    type: str
    checks: tuple[CheckCall, ...]
    deny: bool = False
    run_async: bool = False
    sequential: bool = False
    stream_mode: str = "hold"
    on_fail: Mapping[str, Any] | None = None
    on_success: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Hooks:
    """A node's hooks by event (``None``: the node sets none and inherits its parent's)."""

    before: tuple[Hook, ...] | None = None
    after: tuple[Hook, ...] | None = None


def parse_hooks(table: Mapping[str, Any], path: str) -> Hooks:
    """The hooks one config node sets, both forms together (full form first, as Portkey appends)."""
    before = _event_hooks(table, path, "before_request_hooks", ("input_guardrails", "input_mutators"))
    after = _event_hooks(table, path, "after_request_hooks", ("output_guardrails", "output_mutators"))
    checks = sum(len(hook.checks) for hook in (*(before or ()), *(after or ())))
    if checks > MAX_CHECKS:
        raise bad(path, f"hooks hold {checks} checks; the limit is {MAX_CHECKS}")
    return Hooks(before, after)


def parse_shorthand(raw: Any, path: str, event: str) -> tuple[Hook, ...]:
    """A shorthand list alone (the ``x-portkey-default-*-guardrails`` headers)."""
    items = _items(raw, path)
    return tuple(_shorthand(item, f"{path}[{i}]", event, "guardrail") for i, item in enumerate(items))


def _event_hooks(
    table: Mapping[str, Any], path: str, full_key: str, shorthand_keys: tuple[str, str]
) -> tuple[Hook, ...] | None:
    present = [key for key in (full_key, *shorthand_keys) if table.get(key) is not None]
    if not present:
        return None
    event = _EVENT_OF[full_key]
    hooks = [
        _full(item, f"{path}.{full_key}[{i}]", event)
        for i, item in enumerate(_items(table.get(full_key), path))
    ]
    for key, kind in zip(shorthand_keys, HOOK_TYPES, strict=True):
        items = _items(table.get(key), f"{path}.{key}")
        hooks += [_shorthand(item, f"{path}.{key}[{i}]", event, kind) for i, item in enumerate(items)]
    if len(hooks) > MAX_HOOKS:
        raise bad(f"{path}.{present[0]}", f"{len(hooks)} hooks; the limit is {MAX_HOOKS} per event")
    return tuple(hooks)


def _items(raw: Any, path: str) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise bad(path, "expected a list of hooks")
    return raw


def _full(raw: Any, path: str, event: str) -> Hook:
    table = _hook_object(raw, path)
    checks_raw = table.get("checks", [])
    if not isinstance(checks_raw, list):
        raise bad(f"{path}.checks", "expected a list of checks")
    checks = []
    for i, item in enumerate(checks_raw):
        check = as_object(item, f"{path}.checks[{i}]")
        enabled = check.get("is_enabled", True)
        if not isinstance(enabled, bool):
            raise bad(f"{path}.checks[{i}].is_enabled", "expected true or false")
        call = _call(
            as_text(check.get("id"), f"{path}.checks[{i}].id"),
            check.get("parameters", {}),
            f"{path}.checks[{i}]",
            event,
        )
        if enabled:
            checks.append(call)
    return _hook(table, path, event, tuple(checks), str(table.get("type", "guardrail")))


def _shorthand(raw: Any, path: str, event: str, kind: str) -> Hook:
    table = _hook_object(raw, path)
    checks = []
    for name, parameters in table.items():
        if name in _SHORTHAND_HOOK_KEYS:
            continue
        params = as_object(parameters, f"{path}.{name}")
        check_id = params.get("id", name)
        if not isinstance(check_id, str) or not check_id:
            raise bad(f"{path}.{name}.id", "expected a non-empty string")
        if params.get("is_enabled", True) is not False:
            checks.append(
                _call(check_id if "." in check_id else f"default.{check_id}", params, f"{path}.{name}", event)
            )
    return _hook(table, path, event, tuple(checks), str(table.get("type", kind)))


def _hook_object(raw: Any, path: str) -> dict[str, Any]:
    if isinstance(raw, str):
        raise bad(path, "guardrails saved in Portkey's app are not available here; give the checks inline")
    return as_object(raw, path)


def _hook(table: Mapping[str, Any], path: str, event: str, checks: tuple[CheckCall, ...], kind: str) -> Hook:
    if kind not in HOOK_TYPES:
        raise bad(f"{path}.type", f"expected one of {', '.join(HOOK_TYPES)}")
    flags = {key: _flag(table, key, path) for key in ("deny", "async", "sequential")}
    mode = table.get("stream_mode", "hold")
    if mode not in STREAM_MODES:
        raise bad(f"{path}.stream_mode", f"expected one of {', '.join(STREAM_MODES)}")
    if mode == "report" and flags["deny"]:
        raise bad(
            f"{path}.stream_mode", "a denying hook must hold the stream: it cannot withhold what was sent"
        )
    if flags["async"] and flags["deny"]:
        raise bad(f"{path}.async", "an async hook runs after the answer went out, so it cannot deny")
    hook_id = table.get("id", path.rsplit(".", 1)[-1])
    return Hook(
        id=as_text(hook_id, f"{path}.id"),
        event=event,
        type=kind,
        checks=checks,
        deny=flags["deny"],
        run_async=flags["async"],
        sequential=flags["sequential"],
        stream_mode=str(mode),
        on_fail=_feedback(table, "on_fail", path),
        on_success=_feedback(table, "on_success", path),
    )


def _call(check_id: str, parameters: Any, path: str, event: str) -> CheckCall:
    spec = CHECKS.get(check_id)
    if spec is None:
        raise bad(f"{path}.id", f"no check named {check_id[:100]!r}")
    if event not in spec.events:
        raise bad(path, f"check {check_id} does not run on {event}")
    params = as_object(parameters, f"{path}.parameters")
    try:
        prepared = spec.prepare(MappingProxyType(params))
    except CheckParametersError as error:
        # Check messages are sentences; bad() ends its own.
        raise bad(f"{path}.parameters.{error.param}", str(error).rstrip(".")) from None
    return CheckCall(spec, prepared)


def _flag(table: Mapping[str, Any], key: str, path: str) -> bool:
    value = table.get(key, False)
    if not isinstance(value, bool):
        raise bad(f"{path}.{key}", "expected true or false")
    return value


def _feedback(table: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any] | None:
    value = table.get(key)
    return None if value is None else MappingProxyType(as_object(value, f"{path}.{key}"))
