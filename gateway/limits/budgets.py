"""Budgets per gateway key: the check before each request, and the usage the admin API shows.

A key's budgets (``GatewayKey.budgets``: dollars per ``day``, ``month`` or ``total``) are checked
as a before stage, right after identify: a key that has spent a budget's amount in the current
window is refused with a 429 ``budget_exceeded`` naming the period and the amount (the key's own
figures only), with ``Retry-After`` until the window ends (none for ``total``: it never does).
Spend is charged after each attempt by ``limits/charges.py``, off the request path; so every
request already admitted when the budget is reached still completes, and the overshoot is at most
what those requests cost (docs/budgets.md says how much that is).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from gateway.errors import BudgetExceeded, ServiceUnavailable
from gateway.limits.caller import PERIODS, Budget, GatewayKey
from gateway.limits.periods import Window, window
from gateway.limits.spend import SpendStore, Usage

if TYPE_CHECKING:
    from aiohttp import web

    from gateway.routing.attempts import RequestContext

__all__ = [
    "Budgets",
]


class Budgets:
    """The budget check (a before stage) and the usage reader over one :class:`SpendStore`.

    ``fail_open``: when the store cannot answer a check, let the request through (the store logs
    and counts it) rather than refuse it with a 503. ``clock`` is Unix time (tests move it)."""

    def __init__(self, store: SpendStore, *, fail_open: bool = True, clock: Callable[[], float] = time.time):
        self.store = store
        self.fail_open = fail_open
        self.clock = clock

    async def before(self, context: RequestContext) -> web.StreamResponse | None:
        caller = context.caller
        if caller is not None and caller.key.budgets:
            await self.check(caller.key)
        return None

    async def check(self, key: GatewayKey) -> None:
        """Raise :class:`BudgetExceeded` when ``key`` has spent any of its budgets."""
        now = self.clock()
        windows = [window(budget.period, now) for budget in key.budgets]
        used = await self.store.usage(key.id, windows)
        if used is None:
            if self.fail_open:
                return
            raise ServiceUnavailable(
                f"The budget of gateway key {key.id} cannot be checked now; try again shortly.",
                code="budget_unavailable",
                headers={"Retry-After": "1"},
            )
        for budget, current, usage in zip(key.budgets, windows, used, strict=True):
            if usage.cost >= budget.amount:
                raise _exceeded(key.id, budget, current, usage, now)

    async def usage(self, key_id: str, budgets: Sequence[Budget] = ()) -> dict[str, Any]:
        """The key's usage as JSON-able data (``GET /admin/keys/{id}/usage``): per period
        (``day``, ``month``, ``total``) its window, requests, tokens and cost, and per budget
        (``budgets``: the key's) the amount, the spend and what remains. ``usage: null`` when
        the store cannot answer now."""
        now = self.clock()
        windows = [window(period, now) for period in PERIODS]
        used = await self.store.usage(key_id, windows)
        if used is None:
            return {"key": key_id, "usage": None, "budgets": None}
        by_period = dict(zip(PERIODS, used, strict=True))
        return {
            "key": key_id,
            "usage": {
                current.period: _usage_fields(current, usage)
                for current, usage in zip(windows, used, strict=True)
            },
            "budgets": [
                {
                    "period": budget.period,
                    "amount_usd": budget.amount,
                    "spent_usd": by_period[budget.period].cost,
                    "remaining_usd": max(budget.amount - by_period[budget.period].cost, 0.0),
                }
                for budget in budgets
            ],
        }


def _usage_fields(current: Window, usage: Usage) -> dict[str, Any]:
    return {
        "window": current.name,
        "resets_at": _iso(current.ends_at),
        "requests": usage.requests,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cost_usd": usage.cost,
    }


def _exceeded(key_id: str, budget: Budget, current: Window, usage: Usage, now: float) -> BudgetExceeded:
    where = "its total budget" if current.ends_at is None else f"its {budget.period} budget"
    message = f"Gateway key {key_id} has spent {where} of ${budget.amount:.2f} (${usage.cost:.4f} spent)"
    headers = {}
    if current.ends_at is not None:
        message += f"; the budget resets at {_iso(current.ends_at)}."
        headers["Retry-After"] = str(max(1, math.ceil(current.ends_at - now)))
    else:
        message += "."
    return BudgetExceeded(message, headers=headers)


def _iso(moment: float | None) -> str | None:
    return None if moment is None else datetime.fromtimestamp(moment, UTC).isoformat().replace("+00:00", "Z")
