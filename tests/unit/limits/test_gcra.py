"""GCRA with a fake clock: the whole quota at once, then one unit per interval."""

from __future__ import annotations

import math

from gateway.limits.gcra import Rate, charge, decide

PER_MINUTE_3 = Rate(3, 60.0)


def run(rate: Rate, times_costs: list[tuple[float, float]]) -> list[bool]:
    tat = 0.0
    allowed = []
    for now, cost in times_costs:
        tat, decision = decide(tat, now, rate, cost)
        allowed.append(decision.allowed)
    return allowed


def test_the_whole_quota_may_be_used_at_once_then_the_next_is_refused() -> None:
    assert run(PER_MINUTE_3, [(100.0, 1)] * 4) == [True, True, True, False]


def test_one_unit_comes_back_each_interval() -> None:
    steps = [(100.0, 1)] * 3 + [(119.0, 1), (120.0, 1), (121.0, 1)]
    assert run(PER_MINUTE_3, steps) == [True, True, True, False, True, False]


def test_remaining_and_retry_after_and_reset_say_when() -> None:
    tat = 0.0
    tat, first = decide(tat, 100.0, PER_MINUTE_3, 1)
    assert (first.remaining, first.retry_after, first.reset_after) == (2, 0.0, 20.0)
    tat, _ = decide(tat, 100.0, PER_MINUTE_3, 1)
    tat, _ = decide(tat, 100.0, PER_MINUTE_3, 1)
    _, refused = decide(tat, 105.0, PER_MINUTE_3, 1)
    assert not refused.allowed
    assert refused.remaining == 0
    assert refused.retry_after == 15.0  # the first unit is back at 120
    assert refused.reset_after == 55.0  # all three at 160


def test_a_refused_request_costs_nothing() -> None:
    tat, _ = decide(0.0, 100.0, PER_MINUTE_3, 3)
    after, refused = decide(tat, 100.0, PER_MINUTE_3, 1)
    assert not refused.allowed
    assert after == tat


def test_a_cost_above_the_whole_limit_is_never_allowed() -> None:
    tokens = Rate(1000)
    _, decision = decide(0.0, 100.0, tokens, 1001)
    assert not decision.allowed
    assert math.isinf(decision.retry_after)


def test_token_costs_add_up_within_the_minute() -> None:
    tokens = Rate(1000)
    assert run(tokens, [(100.0, 600), (100.0, 400), (100.0, 1), (106.0, 100), (106.0, 1)]) == [
        True,
        True,
        False,
        True,
        False,
    ]


def test_charge_corrects_an_estimate_both_ways() -> None:
    tokens = Rate(1000)
    tat, _ = decide(0.0, 100.0, tokens, 800)  # estimated 800, the answer used 200
    tat = charge(tat, 100.0, tokens, -600)
    tat, decision = decide(tat, 100.0, tokens, 800)
    assert decision.allowed
    tat = charge(tat, 100.0, tokens, 500)  # used more than estimated: charged, never refused
    _, decision = decide(tat, 100.0, tokens, 100)
    assert not decision.allowed


def test_a_refund_never_gives_more_than_a_full_quota() -> None:
    tokens = Rate(1000)
    tat = charge(0.0, 100.0, tokens, -5000)
    assert run(tokens, [(100.0, 1000), (100.0, 1)]) == [True, False]
    assert tat == 100.0
