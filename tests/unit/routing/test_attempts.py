"""The attempt runner's decisions: retry, move on, or answer, given a status or a failure and the
chances an attempt has left (``routing/attempts.py``)."""

from __future__ import annotations

import pytest

from gateway.config.resilience import Retry
from gateway.config.settings import RetrySettings
from gateway.errors import (
    AttemptTimedOut,
    InvalidRequest,
    PayloadTooLarge,
    UpstreamBroken,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from gateway.providers.registry import ProviderRegistry
from gateway.routing.attempts import MOVE_ON, Attempt, Chances, RetryIn, instead
from gateway.routing.deadlines import NO_DEADLINE, AttemptLimit
from gateway.routing.target import Target

#: No random wait: a retry's delay is exactly 0 unless the provider asks for one.
SETTINGS = RetrySettings(base_delay=0.0)


def _target(attempts: int = 2, move_on: frozenset[int] = frozenset({429, 503})) -> Target:
    adapter = ProviderRegistry.default().get("openai")
    return Target(adapter, "sk-test", "", {}, retry=Retry(attempts=attempts), move_on=move_on)


def _chances(retries_left: int = 2, can_move_on: bool = True, budget_left: float = 10.0) -> Chances:
    return Chances(
        retry_number=0, retries_left=retries_left, can_move_on=can_move_on, budget_left=budget_left
    )


def _attempt(target: Target, chances: Chances) -> Attempt:
    return Attempt(target, chances, AttemptLimit(None, NO_DEADLINE), SETTINGS)


def test_a_retryable_status_is_retried_while_retries_are_left() -> None:
    assert instead(503, {}, _target(), _chances(), SETTINGS) == RetryIn(0.0)


def test_the_providers_retry_after_sets_the_wait() -> None:
    assert instead(429, {"retry-after": "2"}, _target(), _chances(), SETTINGS) == RetryIn(2.0)


def test_a_wait_past_the_retry_budget_moves_on_instead() -> None:
    decided = instead(429, {"retry-after": "5"}, _target(), _chances(budget_left=1.0), SETTINGS)
    assert decided is MOVE_ON


def test_with_no_retries_left_a_fallback_status_moves_on() -> None:
    assert instead(503, {}, _target(), _chances(retries_left=0), SETTINGS) is MOVE_ON


def test_the_last_target_relays_the_status_it_cannot_retry() -> None:
    assert instead(503, {}, _target(), _chances(retries_left=0, can_move_on=False), SETTINGS) is None


def test_a_status_neither_retry_nor_fallback_names_is_relayed() -> None:
    assert instead(400, {}, _target(), _chances(), SETTINGS) is None
    assert instead(200, {}, _target(), _chances(), SETTINGS) is None


def test_an_unreachable_provider_is_retried_then_moved_on_from() -> None:
    failure = UpstreamUnreachable("down")
    assert _attempt(_target(), _chances()).after(failure) == RetryIn(0.0)
    assert _attempt(_target(), _chances(retries_left=0)).after(failure) is MOVE_ON
    assert _attempt(_target(), _chances(retries_left=0, can_move_on=False)).after(failure) is None


def test_a_broken_answer_is_retried_like_a_lost_connection() -> None:
    assert _attempt(_target(), _chances()).after(UpstreamBroken("cut")) == RetryIn(0.0)


def test_a_gateway_timeout_is_moved_on_from_never_retried() -> None:
    assert _attempt(_target(), _chances()).after(UpstreamTimeout("slow")) is MOVE_ON


@pytest.mark.parametrize("failure", [InvalidRequest("bad host"), PayloadTooLarge("too big")])
def test_the_callers_own_errors_are_answered_at_once(failure: InvalidRequest) -> None:
    assert _attempt(_target(), _chances()).after(failure) is None


def test_a_timed_out_attempt_is_a_408_that_only_named_codes_retry() -> None:
    timed_out = AttemptTimedOut("too slow")
    assert _attempt(_target(), _chances()).after(timed_out) is None
    named = Target(
        _target().adapter, "sk-test", "", {}, retry=Retry(attempts=1, on_status_codes=frozenset({408}))
    )
    assert _attempt(named, _chances()).after(timed_out) == RetryIn(0.0)
