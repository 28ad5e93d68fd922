"""The attempt runner: which target to try, when to retry, fall back or hedge, and what it cost.

One loop for every endpoint (HTTP, and realtime's websocket open): the targets in the planned
order, each retried as its config allows, until one answers. Around each attempt it keeps the
target's breaker (asked before the first attempt at a target, told what happened after each)
and sets the attempt's deadline. What one attempt *is* — send a request and relay the answer,
open a websocket — is the :class:`Sender` the caller passes: it is the only web-specific part.

A sender says "retry" or "move on" instead of answering only before anything reached the client:
:meth:`Attempt.instead` decides on a status, :meth:`Attempt.after` on a failure (once the
request's deadline passed, the sender asks neither: nothing more is tried).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from gateway.config.settings import RetrySettings
from gateway.errors import (
    AttemptTimedOut,
    GatewayError,
    InvalidRequest,
    PayloadTooLarge,
    ServiceUnavailable,
    UpstreamBroken,
    UpstreamUnreachable,
)
from gateway.routing.deadlines import AttemptLimit, Deadline, attempt_limit
from gateway.routing.health import BreakerState, TargetHealth, counts
from gateway.routing.retry import NEVER_RETRIED, retry_delay
from gateway.routing.target import Target

if TYPE_CHECKING:
    from aiohttp import web

    from gateway.api.bodies import RequestBody
    from gateway.cache.stage import CacheLookup
    from gateway.guardrails.hooks import Guard
    from gateway.limits.caller import Caller

__all__ = [
    "MOVE_ON",
    "Attempt",
    "Chances",
    "CommitGate",
    "MoveOn",
    "RequestContext",
    "RetryIn",
    "Sender",
    "after_failure",
    "instead",
    "run_attempts",
]

Answer = TypeVar("Answer")
Answer_co = TypeVar("Answer_co", covariant=True)


@dataclass(slots=True)
class RequestContext:
    """One request on its way through the pipeline: what every stage after planning reads."""

    request: web.Request
    #: The planned targets, in the order to try them (at least one).
    targets: list[Target]
    #: The endpoint family checked against each provider's catalog row (``None``: not checked).
    family: str | None
    body: RequestBody
    metadata: dict[str, str]
    #: ``time.perf_counter()`` when the request arrived (for timing headers and the access log).
    started: float
    deadline: Deadline
    health: TargetHealth
    retries: RetrySettings
    #: The response cache's state for this request, when its lookup ran (``cache/stage.py``).
    cache: CacheLookup | None = None
    #: The request's guardrail state when it has hooks (``guardrails/stage.py``).
    guard: Guard | None = None
    #: The identified gateway key, when gateway keys are on (``limits/keys.py``).
    caller: Caller | None = None


@dataclass(slots=True)
class Chances:
    """What an attempt may do instead of relaying its answer to the client.

    Never changed once built; not frozen: one is built per attempt, and a frozen dataclass sets
    each field through ``object.__setattr__`` (~0.2 µs a field).
    """

    #: Retries already made at this target (0 on the first attempt).
    retry_number: int
    retries_left: int
    can_move_on: bool
    #: Seconds of retry waiting the request has left (the retry budget, within its deadline).
    budget_left: float


class CommitGate:
    """Lets exactly one of two hedged attempts answer the client: the first ready claims it and
    the other is cancelled, which closes its upstream connection."""

    __slots__ = ("_attempts",)

    def __init__(self) -> None:
        self._attempts: list[asyncio.Task[object]] = []

    def enter(self, attempt: asyncio.Task[object]) -> None:
        self._attempts.append(attempt)

    def claim(self) -> None:
        me = asyncio.current_task()
        for attempt in self._attempts:
            if attempt is not me:
                attempt.cancel()


@dataclass(frozen=True, slots=True)
class RetryIn:
    seconds: float


class MoveOn:
    """Try the next target."""


MOVE_ON = MoveOn()


@dataclass(slots=True)
class Attempt:
    """One attempt at one target: what the sender may do, and what it reports back for the
    target's breaker (``status``, ``failure``, ``outcome``)."""

    target: Target
    chances: Chances
    #: When this attempt must be done: the config's request_timeout or the request's deadline.
    limit: AttemptLimit
    retries: RetrySettings
    #: Set when this attempt races a hedged one: the first ready to answer claims the client.
    gate: CommitGate | None = None
    #: The provider's own status; 0 while it has not answered.
    status: int = 0
    #: What went wrong, raised or sent in-band after the answer started.
    failure: GatewayError | None = None
    #: How it ended (the access log's outcome: ``ok``, ``retried``...; ``""`` before it ended)
    #: and when its answer was ready: what the breaker and the latency average are told.
    outcome: str = ""
    first_token_ms: float = 0.0
    #: The hedge: started after the first target's ``hedge_after`` passed without an answer.
    hedge: bool = False

    def instead(self, status: int, headers: Mapping[str, str]) -> RetryIn | MoveOn | None:
        """Retry or move on rather than relay an answer with ``status``; ``None``: relay it."""
        return instead(status, headers, self.target, self.chances, self.retries)

    def after(self, failure: GatewayError) -> RetryIn | MoveOn | None:
        """Retry or move on after ``failure`` rather than answer it; ``None``: answer it."""
        return after_failure(failure, self)

    def claim(self) -> None:
        """Called as the answer is about to reach the client: a hedged rival is cancelled."""
        if self.gate is not None:
            self.gate.claim()


class Sender(Protocol[Answer_co]):
    """One attempt: send it and answer the client, or say to retry or move on instead.

    Raises a :class:`GatewayError` for a failure before anything reached the client. Sets
    ``attempt.status`` when the provider answered, ``attempt.failure`` for any failure and
    ``attempt.outcome`` as it ends (the breaker counts them)."""

    async def __call__(self, context: RequestContext, attempt: Attempt) -> Answer_co | RetryIn | MoveOn: ...


async def run_attempts(context: RequestContext, send: Sender[Answer]) -> Answer:
    """Attempt ``context.targets`` in order, retrying each as its config allows, until one
    answers (all within ``context.deadline``); the last failure, or a 503 when every breaker
    left is open, when none does."""
    budget = context.retries.budget
    targets = context.targets
    health = context.health
    clock = asyncio.get_running_loop().time
    index = retry_number = 0
    while True:
        target = targets[index]
        can_move_on = index + 1 < len(targets)
        # The breaker is asked before the first attempt at a target: the retries a config asked for
        # are the request's own, and its last answer says more than `circuit_open` would.
        if (
            retry_number == 0
            and target.health_key is not None
            and not health.allow(target.health_key, target.breaker)
        ):
            if not can_move_on:
                raise ServiceUnavailable(
                    f"Every target this request could use is failing (circuit breaker open at "
                    f"{target.config_path}); try again later.",
                    code="circuit_open",
                )
            index, retry_number = index + 1, 0
            continue
        if (
            target.hedge_after is not None
            and can_move_on
            and retry_number == 0
            and _usable(targets[index + 1], health)
        ):
            hedged = await _hedged(context, send, target, targets[index + 1])
            if not isinstance(hedged, int):
                return hedged
            index += hedged
            continue
        left = context.deadline.left(clock())
        waiting = budget if left is None else min(budget, left)
        chances = Chances(retry_number, target.retry.attempts - retry_number, can_move_on, waiting)
        limit = attempt_limit(context.deadline, target.request_timeout, clock())
        attempt = Attempt(target, chances, limit, context.retries)
        # Without a breaker to tell, the sender is awaited directly: no wrapper coroutine per request.
        direct = target.health_key is None
        outcome = await (send(context, attempt) if direct else _attempt(context, send, attempt))
        if isinstance(outcome, RetryIn):
            await asyncio.sleep(outcome.seconds)
            budget -= outcome.seconds
            retry_number += 1
        elif isinstance(outcome, MoveOn):
            index, retry_number = index + 1, 0
        else:
            return outcome


async def _attempt(
    context: RequestContext, send: Sender[Answer], attempt: Attempt
) -> Answer | RetryIn | MoveOn:
    """``send`` one attempt, with the target's breaker (if it has one) told how it went."""
    key = attempt.target.health_key
    if key is None:
        return await send(context, attempt)
    context.health.started(key)
    try:
        return await send(context, attempt)
    finally:
        _report_health(context.health, attempt)


def _usable(target: Target, health: TargetHealth) -> bool:
    """Whether a hedge may start ``target`` (asked without claiming a half-open breaker's probe)."""
    return target.health_key is None or health.state(target.health_key, target.breaker) != BreakerState.OPEN


async def _hedged(
    context: RequestContext, send: Sender[Answer], primary: Target, backup: Target
) -> Answer | int:
    """Try ``primary``; if it has no answer ready after ``hedge_after`` s, race ``backup`` too.

    The first attempt ready to answer (its first chunk, or its whole small body) wins and the
    other is cancelled. Returns the answer, or how many targets were used up without one (1 when
    the primary moved on before the backup started, 2 when both did).
    """
    gate = CommitGate()
    attempts = [_start(context, send, primary, True, gate, hedge=False)]
    try:
        done, _ = await asyncio.wait(attempts, timeout=primary.hedge_after)
        if done:
            outcome = attempts[0].result()
            return 1 if isinstance(outcome, RetryIn | MoveOn) else outcome
        attempts.append(_start(context, send, backup, backup.move_on != frozenset(), gate, hedge=True))
        return await _first_answer(attempts)
    finally:
        for task in attempts:
            task.cancel()  # the loser, or both when the client went away


def _start(
    context: RequestContext,
    send: Sender[Answer],
    target: Target,
    can_move_on: bool,
    gate: CommitGate,
    *,
    hedge: bool,
) -> asyncio.Task[Answer | RetryIn | MoveOn]:
    """One hedged attempt, started as a task: no retries of its own."""
    limit = attempt_limit(context.deadline, target.request_timeout, asyncio.get_running_loop().time())
    attempt = Attempt(target, Chances(0, 0, can_move_on, 0.0), limit, context.retries, gate, hedge=hedge)
    task = asyncio.ensure_future(_attempt(context, send, attempt))
    gate.enter(task)
    return task


async def _first_answer(attempts: list[asyncio.Task[Answer | RetryIn | MoveOn]]) -> Answer | int:
    """The first answer among racing attempts; 2 when both moved on; a failure if both failed."""
    failure: BaseException | None = None
    pending = set(attempts)
    while pending:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task.cancelled():
                continue
            if task.exception() is not None:
                failure = task.exception()
            elif not isinstance(outcome := task.result(), RetryIn | MoveOn):
                return outcome
    if failure is not None:
        raise failure
    return 2


def _report_health(health: TargetHealth, attempt: Attempt) -> None:
    key = attempt.target.health_key
    assert key is not None
    health.finished(key)
    if _counts_against(attempt):
        health.failed(key, attempt.target.breaker)
    elif attempt.outcome in ("ok", "fell_back", "retried"):
        health.succeeded(key, attempt.first_token_ms / 1000 if attempt.first_token_ms else None)


def _counts_against(attempt: Attempt) -> bool:
    """A target's breaker counts what the provider did wrong: the statuses ``counts`` names
    (429 and 5xx, or its ``cb_config``'s), broken or silent connections (502/504) and attempts
    past the config's request_timeout. The gateway's own 4xx (a bad key file, the caller's own
    deadline) are the caller's business, and a client leaving says nothing."""
    if attempt.status:
        return counts(attempt.status, attempt.target.breaker)
    failure = attempt.failure
    return failure is not None and (failure.status >= 500 or isinstance(failure, AttemptTimedOut))


def instead(
    status: int, headers: Mapping[str, str], target: Target, chances: Chances, settings: RetrySettings
) -> RetryIn | MoveOn | None:
    """Retry or move on rather than relay an answer with ``status``; ``None``: relay it."""
    if chances.retries_left and status in target.retry.on_status_codes and status not in NEVER_RETRIED:
        delay = retry_delay(headers, chances.retry_number, settings, use_hint=target.retry.use_retry_after)
        if delay is not None and delay <= chances.budget_left:
            return RetryIn(delay)
    if chances.can_move_on and status in target.move_on:
        return MOVE_ON
    return None


def after_failure(failure: GatewayError, attempt: Attempt) -> RetryIn | MoveOn | None:
    """A connection failure before any answer is retried; an attempt past the config's
    request_timeout is a 408 its codes decide on; another timeout is moved on from."""
    chances = attempt.chances
    if isinstance(failure, AttemptTimedOut):
        return attempt.instead(failure.status, {})
    if isinstance(failure, PayloadTooLarge | InvalidRequest):
        return None
    if chances.retries_left and isinstance(failure, UpstreamUnreachable | UpstreamBroken):
        delay = retry_delay({}, chances.retry_number, attempt.retries)
        if delay is not None and delay <= chances.budget_left:
            return RetryIn(delay)
    return MOVE_ON if chances.can_move_on else None
