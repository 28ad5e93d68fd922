"""Gateway keys' rate limits as pipeline stages (docs/rate_limits.md).

In the stage list only when gateway keys are on (``create_app``); a request whose key sets no
limit costs a few attribute reads. Before any other stage (a limited request costs nothing
more: no guardrail call, no cache lookup), a request is admitted against every limit that
applies — its key's, and its key's for its model — or refused with a 429 before any upstream
byte, naming the limit, with ``Retry-After`` and the ``x-ratelimit-*`` headers. An admitted
request holds a :class:`Ticket`: its answer carries the ``x-gateway-ratelimit-*`` headers (the
provider's own ``x-ratelimit-*`` pass through untouched), its concurrency slots are given back
when its handler ends — answered, failed, or cancelled by a client that went away — and its
token estimate is replaced by the tokens the provider reported, once the recorder decoded them
off the request path (this stage is also the recorder's sink for that).
"""

from __future__ import annotations

import asyncio
import itertools
import math
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gateway.appkeys import LIMIT_TICKET
from gateway.errors import RateLimited, ServiceUnavailable
from gateway.limits.gcra import Decision
from gateway.limits.limiter import Check, Limiter
from gateway.limits.tokens import estimate_tokens

if TYPE_CHECKING:
    from aiohttp import web

    from gateway.limits.caller import GatewayKey, RateLimits
    from gateway.observability.record import RequestRecord
    from gateway.routing.attempts import RequestContext

__all__ = [
    "LimitStage",
    "Ticket",
    "limit_headers",
]

#: The headers' names for the per-minute kinds (OpenAI's suffixes).
_HEADER_KINDS = (("requests", "requests_per_minute"), ("tokens", "tokens_per_minute"))
_WORDS = {
    "requests_per_minute": "requests per minute",
    "tokens_per_minute": "tokens per minute",
    "concurrent_requests": "concurrent requests",
    "concurrent_streams": "concurrent streams",
}


class Ticket:
    """An admitted request's hold on its limits: :meth:`release` gives its slots back (once),
    :meth:`settle` corrects its token estimate (once)."""

    __slots__ = ("_lease", "_limiter", "_rates", "_slots", "estimate", "headers")

    def __init__(
        self, limiter: Limiter, checks: Sequence[Check], lease: str, estimate: int, headers: dict[str, str]
    ) -> None:
        self._limiter = limiter
        self._slots = [check for check in checks if not check.is_rate]
        self._lease = lease
        self._rates = [check for check in checks if check.kind == "tokens_per_minute"]
        self.estimate = estimate
        self.headers = headers

    @property
    def counts_tokens(self) -> bool:
        return bool(self._rates)

    def release(self, _: object = None) -> None:
        """Give the slots back (a done callback of the request's handler task)."""
        if self._slots:
            self._limiter.release(self._slots, self._lease)
            self._slots = []

    def settle(self, tokens: int) -> None:
        """The answer used ``tokens``: charge (or refund) the difference from the estimate."""
        if self._rates and tokens != self.estimate:
            self._limiter.charge(self._rates, tokens - self.estimate)
        self._rates = []


class LimitStage:
    """Before stage (admit or 429), after stage (hand the ticket to the answer's record) and
    recorder sink (settle the tokens). ``fail_open``: what a backend failure means."""

    def __init__(self, limiter: Limiter, *, fail_open: bool) -> None:
        self.limiter = limiter
        self._fail_open = fail_open
        # Lease ids unique across processes: Redis holds every process's slots in one set.
        self._process = os.urandom(6).hex()
        self._leases = itertools.count()

    async def before(self, context: RequestContext) -> web.StreamResponse | None:
        if context.caller is None:
            return None
        checks = _checks(context.caller.key, context)
        if not checks:
            return None
        lease = f"{self._process}:{next(self._leases)}"
        decisions = await self.limiter.admit(checks, lease)
        if decisions is None:
            if self._fail_open:
                return None
            raise ServiceUnavailable(
                "The gateway cannot check this key's rate limits right now; try again later.",
                code="rate_limits_unavailable",
                headers={"Retry-After": "1"},
            )
        headers = _headers(checks, decisions)
        for check, decision in zip(checks, decisions, strict=True):
            if not decision.allowed:
                raise _refusal(check, decision, headers)
        estimate = next((check.cost for check in checks if check.kind == "tokens_per_minute"), 0)
        ticket = context.request[LIMIT_TICKET] = Ticket(self.limiter, checks, lease, estimate, headers)
        task = asyncio.current_task()
        assert task is not None
        task.add_done_callback(ticket.release)
        return None

    def finished(self, context: RequestContext, record: RequestRecord) -> None:
        """The answer the client got (not a retried attempt's) settles the estimate."""
        ticket = context.request.get(LIMIT_TICKET)
        if ticket is not None and ticket.counts_tokens and not record.next_step:
            record.tokens_reserved = ticket

    def write(self, record: RequestRecord) -> None:
        """The recorder's sink: the provider's reported usage replaces the estimate (an answer
        that reported none keeps it)."""
        if record.tokens_reserved is not None and record.input_tokens is not None:
            record.tokens_reserved.settle(record.input_tokens + (record.output_tokens or 0))

    async def close(self) -> None:
        await self.limiter.close()


async def limit_headers(request: web.BaseRequest, response: web.StreamResponse) -> None:
    """``on_response_prepare``: an admitted request's answer says what its key has left."""
    ticket = request.get(LIMIT_TICKET)
    if ticket is not None:
        response.headers.update(ticket.headers)


def _checks(key: GatewayKey, context: RequestContext) -> list[Check]:
    """Every limit that applies to the request: its key's, its key's for its model, and its
    first target's virtual key's (shared by every caller that uses it)."""
    parsed = context.body.parsed or {}
    model = context.targets[0].override_params.get("model", parsed.get("model"))
    stream = parsed.get("stream") is True
    checks: list[Check] = []
    tokens: list[int] = []  # estimated once, and only when a token limit applies
    _add(
        checks,
        key.limits,
        f"key:{key.id}",
        f"gateway key {key.id}",
        f"gateway_keys.{key.id}.limits",
        stream,
        parsed,
        tokens,
    )
    per_model = key.model_limits.get(model) if isinstance(model, str) else None
    if per_model is not None:
        _add(
            checks,
            per_model,
            f"key:{key.id}:model:{model}",
            f"gateway key {key.id}, model {model}",
            f"gateway_keys.{key.id}.model_limits.{model}",
            stream,
            parsed,
            tokens,
        )
    target = context.targets[0]
    if target.virtual_key:
        _add(
            checks,
            target.virtual_limits,
            f"virtual:{target.virtual_key}",
            f"virtual key {target.virtual_key}",
            f"virtual_keys.{target.virtual_key}.limits",
            stream,
            parsed,
            tokens,
        )
    return checks


def _add(
    checks: list[Check],
    limits: RateLimits,
    name: str,
    owner: str,
    path: str,
    stream: bool,
    parsed: dict[str, Any],
    tokens: list[int],
) -> None:
    for kind, limit in (
        ("requests_per_minute", limits.requests_per_minute),
        ("tokens_per_minute", limits.tokens_per_minute),
        ("concurrent_requests", limits.concurrent_requests),
        ("concurrent_streams", limits.concurrent_streams if stream else None),
    ):
        if limit is None:
            continue
        cost = 1
        if kind == "tokens_per_minute":
            if not tokens:
                tokens.append(estimate_tokens(parsed))
            cost = tokens[0]
        checks.append(Check(f"{name}:{kind}", kind, limit, cost, owner, f"{path}.{kind}"))


def _headers(checks: Sequence[Check], decisions: Sequence[Decision]) -> dict[str, str]:
    """``x-gateway-ratelimit-{limit,remaining,reset}-{requests,tokens}``: of each kind, the limit
    with the least left."""
    headers = {}
    for suffix, kind in _HEADER_KINDS:
        pairs = [
            (check, decision) for check, decision in zip(checks, decisions, strict=True) if check.kind == kind
        ]
        if not pairs:
            continue
        check, decision = min(pairs, key=lambda pair: pair[1].remaining)
        headers[f"x-gateway-ratelimit-limit-{suffix}"] = str(check.limit)
        headers[f"x-gateway-ratelimit-remaining-{suffix}"] = str(decision.remaining)
        headers[f"x-gateway-ratelimit-reset-{suffix}"] = _duration(decision.reset_after)
    return headers


def _refusal(check: Check, decision: Decision, headers: dict[str, str]) -> RateLimited:
    """The 429: the gateway answers, not a provider, so the ``x-ratelimit-*`` names SDKs read
    carry the gateway's figures too."""
    headers = {**headers, **{name.replace("x-gateway-", "x-"): value for name, value in headers.items()}}
    words = _WORDS[check.kind]
    if math.isinf(decision.retry_after):
        message = (
            f"Request too large for {check.owner} on {words}: limit {check.limit}, "
            f"requested {check.cost} (estimated)."
        )
    else:
        headers["Retry-After"] = str(max(1, math.ceil(decision.retry_after)))
        message = f"Rate limit reached for {check.owner} on {words}: limit {check.limit}."
        if check.is_rate:
            message += f" Try again in {_duration(decision.retry_after)}."
    error = RateLimited(message, param=check.path, headers=headers)
    if check.kind == "tokens_per_minute":
        error.type = "tokens"
    elif not check.is_rate:
        error.code = "concurrency_limit_exceeded"
    return error


def _duration(seconds: float) -> str:
    """OpenAI's form: ``120ms``, ``1.5s``, ``6m0s``."""
    if seconds < 1:
        return f"{math.ceil(seconds * 1000)}ms"
    minutes, rest = divmod(seconds, 60)
    text = f"{rest:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{int(minutes)}m{text}" if minutes else text
