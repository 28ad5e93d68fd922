"""Input guardrails as a before stage, and the async hooks' bounded background runs.

Runs first of the before stages, as in Portkey: before the cache lookup (a denied request is
denied whatever the cache holds; a transformed body is the one the cache keys) and before any
upstream byte. A request whose targets and headers
name no hook costs one header lookup pair and a look at its targets; one with hooks gets a
:class:`~gateway.guardrails.hooks.Guard` on its context, which the attempts read for the
output side (``guardrails/answer.py``). A denying hook that fails answers 446 here, the provider
never called; a transform replaces the body every target gets.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import orjson

from gateway.guardrails.answer import denied_response
from gateway.guardrails.check import BEFORE_REQUEST, CheckServices, HookContext
from gateway.guardrails.hooks import Guard, header_hooks, planned_before, request_type
from gateway.guardrails.runner import run_event
from gateway.observability.logging import escaped
from gateway.observability.record import RequestRecord
from gateway.observability.tracing import trace_id

if TYPE_CHECKING:
    from aiohttp import web

    from gateway.config.hooks import Hook
    from gateway.observability.recorder import Recorder
    from gateway.routing.attempts import RequestContext
    from gateway.routing.target import Target

__all__ = [
    "MAX_ASYNC_HOOK_RUNS",
    "GuardrailStage",
]

logger = logging.getLogger("gateway.guardrails")

#: Async hook runs in flight at once; more are dropped (and counted).
MAX_ASYNC_HOOK_RUNS = 256


class GuardrailStage:
    """Before stage: input hooks. Also runs ``async: true`` hooks off the request path."""

    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder
        #: Set once the upstream session exists (``app.py``): checks that call out use it.
        self.services: CheckServices | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self.async_dropped = 0

    async def before(self, context: RequestContext) -> web.StreamResponse | None:
        headers = context.request.headers
        header_before, header_after = header_hooks(headers)
        if not header_before and not header_after and not _target_hooks(context.targets):
            return None  # most requests: no hooks anywhere
        before = planned_before(header_before, context.targets)
        target = context.targets[0]
        params = context.body.for_target(
            target.override_params, target.default_params, target.drop_params
        ).params
        hook_context = HookContext(
            BEFORE_REQUEST,
            request_type(context.family),
            target.adapter.spec.slug,
            context.metadata,
            dict(params or {}),
            request_headers=headers,
            services=self.services,
        )
        guard = context.guard = Guard(hook_context, header_after, self.run_in_background)
        self.run_in_background([hook for hook in before if hook.run_async], hook_context)
        hooks = [hook for hook in before if not hook.run_async]
        if not hooks:
            return None
        outcome = guard.before = await run_event(hooks, hook_context)
        guard.timings += outcome.timings
        if outcome.denied:
            self._record_denied(context, guard)
            return denied_response(guard)
        if outcome.transformed:
            new = hook_context.request_json
            context.body = dataclasses.replace(context.body, raw=orjson.dumps(new), parsed=new)
        return None

    def run_in_background(self, hooks: Sequence[Hook], context: HookContext) -> None:
        """Run ``async: true`` hooks without holding the request; their verdicts are logged."""
        if not hooks:
            return
        if len(self._pending) >= MAX_ASYNC_HOOK_RUNS:
            self.async_dropped += 1
            return
        # Their own copy: the request's context changes as the request goes on.
        task = asyncio.get_running_loop().create_task(_run_async_hooks(hooks, dataclasses.replace(context)))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def close(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    def _record_denied(self, context: RequestContext, guard: Guard) -> None:
        request = context.request
        parsed = context.body.parsed or {}
        model = parsed.get("model")
        record = RequestRecord(
            request.method,
            request.path,
            context.targets[0].adapter.spec.slug,
            trace_id(request),
            context.metadata,
            status=446,
            outcome="rejected",
            family=context.family or "other",
            model=model if isinstance(model, str) else "",
            target=context.targets[0].config_path or "",
            stream=parsed.get("stream") is True,
            duration_ms=(time.perf_counter() - context.started) * 1000,
        )
        guard.record(record)
        self._recorder.add(record)


async def _run_async_hooks(hooks: Sequence[Hook], context: HookContext) -> None:
    outcome = await run_event(hooks, context)
    for result in outcome.results:
        logger.info(
            "async guardrail hook %s on %s: verdict=%s in %.3f ms",
            escaped(result["id"][:100]),
            context.event,
            result["verdict"],
            result.get("execution_time", 0.0),
        )


def _target_hooks(targets: Sequence[Target]) -> bool:
    """Whether any planned target has input or output hooks."""
    return any(target.before_hooks or target.after_hooks for target in targets)
