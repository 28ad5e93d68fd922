"""Running one event's hooks on one exchange, shaped as Portkey's ``hook_results``.

Each hook's checks run together (pure checks inline, checks that call out concurrently), or one
after the other when the hook is ``sequential``, so a check sees the transforms of those before it.
A transform (``CheckResult.transformed_request`` / ``transformed_response``) replaces the body in
``context`` for the following checks and hooks and for what goes upstream or back to the client.

A hook passes when all its checks pass. Unlike Portkey, where a check that errors lets the hook
pass unless it says ``failOnError``, a check that could not decide fails (closed); a check that
should let errors through says so itself (the webhook's ``fail_open``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gateway.config.hooks import CheckCall, Hook
from gateway.guardrails.check import AFTER_REQUEST, BEFORE_REQUEST, CheckResult, HookContext

__all__ = [
    "GUARDED_REQUEST_TYPES",
    "CheckTiming",
    "EventOutcome",
    "run_event",
]

#: Portkey runs hooks on these request types only; others' hooks are reported ``skipped``.
GUARDED_REQUEST_TYPES = frozenset({"chatComplete", "complete", "embed", "messages"})


@dataclass(frozen=True, slots=True)
class CheckTiming:
    """One check's run, for the metrics: its registry id, event, verdict (``pass``, ``fail``, or
    ``error`` when it could not decide, whatever its verdict) and seconds."""

    check: str
    event: str
    verdict: str
    seconds: float


@dataclass(slots=True)
class EventOutcome:
    """What one event's hooks said."""

    #: Portkey's HookResult objects, in hook order.
    results: list[dict[str, Any]] = field(default_factory=list)
    #: A hook with ``deny`` failed: the request (or answer) is withheld (446).
    denied: bool = False
    #: A hook failed without denying (246).
    failed: bool = False
    #: A check replaced the body (``context`` holds the new one).
    transformed: bool = False
    timings: list[CheckTiming] = field(default_factory=list)
    #: Seconds the event's hooks took.
    seconds: float = 0.0


async def run_event(hooks: Sequence[Hook], context: HookContext) -> EventOutcome:
    """Run ``hooks`` (one event's, none of them async) on ``context``, one after the other so
    each sees the transforms of those before it."""
    outcome = EventOutcome()
    started = time.perf_counter()
    for hook in hooks:
        result = await run_hook(hook, context, outcome.timings)
        outcome.results.append(result)
        if result["skipped"]:
            continue
        outcome.transformed |= result["transformed"]
        if not result["verdict"]:
            outcome.denied |= hook.deny
            outcome.failed = True
    outcome.seconds = time.perf_counter() - started
    return outcome


async def run_hook(hook: Hook, context: HookContext, timings: list[CheckTiming]) -> dict[str, Any]:
    """One hook's result (Portkey's HookResult); its checks' timings are added to ``timings``."""
    created = _now()
    started = time.perf_counter()
    if _skipped(hook, context):
        return {"id": hook.id, "type": hook.type, "skipped": True, "verdict": True, "transformed": False}
    if hook.sequential or hook.type == "mutator":
        checks = [await _run_and_apply(call, context) for call in hook.checks]
    else:
        checks = await _run_together(hook.checks, context)
    timings.extend(_timing(hook.event, check) for check in checks)
    verdict = all(check["verdict"] for check in checks)
    return {
        "verdict": verdict,
        "id": hook.id,
        "transformed": any(check["transformed"] for check in checks),
        "checks": checks,
        "feedback": _feedback(hook, checks, verdict),
        "execution_time": _ms(started),
        "async": hook.run_async,
        "type": hook.type,
        "created_at": created,
        "deny": hook.deny and not verdict,
        "skipped": False,
    }


def _timing(event: str, check: dict[str, Any]) -> CheckTiming:
    verdict = "error" if check["error"] is not None else "pass" if check["verdict"] else "fail"
    return CheckTiming(check["id"], event, verdict, check["execution_time"] / 1000)


def _skipped(hook: Hook, context: HookContext) -> bool:
    """Portkey's ``shouldSkipHook``: unguarded request types, embeddings after the model, async mutators."""
    return (
        context.request_type not in GUARDED_REQUEST_TYPES
        or (context.request_type == "embed" and (hook.event == AFTER_REQUEST or hook.type == "mutator"))
        or (hook.type == "mutator" and hook.run_async)
    )


async def _run_together(calls: Sequence[CheckCall], context: HookContext) -> list[dict[str, Any]]:
    """Every check on the same body; their transforms applied afterwards, in order."""
    shaped: list[dict[str, Any] | None] = [None] * len(calls)
    results: list[CheckResult | None] = [None] * len(calls)
    waiting = []
    for index, call in enumerate(calls):
        if call.spec.run is not None:
            shaped[index], results[index] = _timed(call, context)
        else:
            waiting.append((index, _run_async(call, context)))
    if waiting:
        done = await asyncio.gather(*(coroutine for _, coroutine in waiting))
        for (index, _), (check, outcome) in zip(waiting, done, strict=True):
            shaped[index], results[index] = check, outcome
    for result in results:
        if result is not None:
            _apply(result, context)
    return [check for check in shaped if check is not None]


async def _run_and_apply(call: CheckCall, context: HookContext) -> dict[str, Any]:
    if call.spec.run is not None:
        check, result = _timed(call, context)
    else:
        check, result = await _run_async(call, context)
    _apply(result, context)
    return check


def _timed(call: CheckCall, context: HookContext) -> tuple[dict[str, Any], CheckResult]:
    assert call.spec.run is not None
    created, started = _now(), time.perf_counter()
    result = call.spec.run(context, call.prepared)
    return _shaped(call, result, created, started), result


async def _run_async(call: CheckCall, context: HookContext) -> tuple[dict[str, Any], CheckResult]:
    assert call.spec.run_async is not None
    created, started = _now(), time.perf_counter()
    result = await call.spec.run_async(context, call.prepared)
    return _shaped(call, result, created, started), result


def _shaped(call: CheckCall, result: CheckResult, created: str, started: float) -> dict[str, Any]:
    """Portkey's GuardrailCheckResult."""
    return {
        "verdict": result.verdict,
        "id": call.spec.id,
        "data": result.data,
        "error": None if result.error is None else {"name": "Check error", "message": result.error},
        "execution_time": _ms(started),
        "transformed": result.transformed,
        "created_at": created,
    }


def _apply(result: CheckResult, context: HookContext) -> None:
    if context.event == BEFORE_REQUEST and result.transformed_request is not None:
        context.request_json = result.transformed_request
    elif context.event == AFTER_REQUEST and result.transformed_response is not None:
        context.response_json = result.transformed_response


def _feedback(hook: Hook, checks: list[dict[str, Any]], verdict: bool) -> dict[str, Any] | None:
    """Portkey's feedback object, when the hook's ``on_success`` / ``on_fail`` gives one."""
    chosen = hook.on_success if verdict else hook.on_fail
    feedback = chosen.get("feedback") if chosen is not None else None
    if not isinstance(feedback, dict):
        return None
    extra = feedback.get("metadata")
    return {
        "value": feedback.get("value"),
        "weight": feedback.get("weight"),
        "metadata": {
            **(extra if isinstance(extra, dict) else {}),
            "successfulChecks": ", ".join(c["id"] for c in checks if c["verdict"]),
            "failedChecks": ", ".join(c["id"] for c in checks if not c["verdict"] and c["error"] is None),
            "erroredChecks": ", ".join(
                c["id"] for c in checks if not c["verdict"] and c["error"] is not None
            ),
        },
    }


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
