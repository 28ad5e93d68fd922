"""The request pipeline's plug points: stages before the attempts, and after each one.

The handler (``api/proxy.py``) runs admit → parse → plan → the *before* stages → the attempt
runner; every attempt, as it starts, goes to the *attempt* stages, and as it ends, to the *after*
stages (``api/realtime.py`` calls the after stages for a websocket session). Which stages run is
decided once, in ``create_app``, from the settings: a stage that is off is not in the tuple, so it
costs nothing per request (an empty tuple loops zero times). docs/architecture.md says where each
coming stage plugs in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from aiohttp import web
    from multidict import CIMultiDict
    from yarl import URL

    from gateway.observability.record import RequestRecord
    from gateway.routing.attempts import Attempt, RequestContext

__all__ = [
    "AfterStage",
    "AttemptStage",
    "BeforeStage",
    "Stages",
]


class BeforeStage(Protocol):
    """Runs once the request is planned, before any byte goes upstream (cache lookup, input
    guardrails, rate limits and budgets)."""

    async def before(self, context: RequestContext) -> web.StreamResponse | None:
        """``None`` lets the request go on; a response answers it here (a cache HIT), and nothing
        is attempted (nor seen by the after stages, which see attempts: the stage accounts for its
        own answer). A refusal (a guardrail deny, a limit's 429) raises a ``GatewayError``."""
        ...


class AttemptStage(Protocol):
    """Sees each attempt as it starts, its upstream request decided but not sent (tracing)."""

    def started(
        self,
        context: RequestContext,
        attempt: Attempt,
        record: RequestRecord,
        url: URL,
        headers: CIMultiDict[str],
    ) -> None:
        """May add to the upstream request's ``headers`` and to the attempt's ``record`` (which
        the after stages and the recorder's sinks get as the attempt ends). Must not block or raise."""
        ...


class AfterStage(Protocol):
    """Sees each finished exchange with a provider: every attempt (the one that answered, and
    those retried, fallen back from or lost to a hedge) and every realtime session (cache store,
    output checks that report, accounting, metrics)."""

    def finished(self, context: RequestContext, record: RequestRecord) -> None:
        """Called as the attempt ends, the client's answer complete (or cut short: ``record.outcome``
        says which). Must not block or raise: slow work goes to a bounded background queue, as
        the access log's does."""
        ...


@dataclass(frozen=True, slots=True)
class Stages:
    """The stages every proxied request passes through, in order (lives on the app: ``STAGES``)."""

    before: tuple[BeforeStage, ...] = ()
    after: tuple[AfterStage, ...] = ()
    attempt: tuple[AttemptStage, ...] = ()
