"""From a config to the ordered legs one request tries: fallback order, conditions, balance, inheritance."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from gateway.config.routing import Node, parse_config
from gateway.errors import InvalidRequest
from gateway.routing.plan import ANY_FAILURE, plan


class Load:
    """In-flight counts and latencies by target path."""

    def __init__(
        self, in_flight: dict[str, int] | None = None, latency: dict[str, float] | None = None
    ) -> None:
        self._in_flight = in_flight or {}
        self._latency = latency or {}

    def in_flight(self, node: Node) -> int:
        return self._in_flight.get(node.path, 0)

    def latency(self, node: Node) -> float | None:
        return self._latency.get(node.path)


def legs(
    config: dict[str, Any], metadata: dict[str, str] | None = None, load: Load | None = None, **params: Any
) -> list[Any]:
    return plan(
        parse_config(json.dumps(config)), metadata or {}, params, load or Load(), "/v1/chat/completions"
    )


def paths(config: dict[str, Any], **kwargs: Any) -> list[str]:
    return [leg.node.path for leg in legs(config, **kwargs)]


OPENAI = {"provider": "openai"}


def test_fallback_lists_every_target_in_order_moving_on_from_any_failure() -> None:
    plan_ = legs({"strategy": {"mode": "fallback"}, "targets": [OPENAI, OPENAI, OPENAI]})
    assert [leg.node.path for leg in plan_] == [f"config.targets[{i}]" for i in range(3)]
    assert [leg.move_on for leg in plan_] == [ANY_FAILURE, ANY_FAILURE, frozenset()]
    assert not any(leg.move_on_named for leg in plan_)


def test_a_childs_own_status_codes_beat_the_strategys() -> None:
    config = {
        "strategy": {"mode": "fallback", "on_status_codes": [429]},
        "targets": [{**OPENAI, "on_status_codes": [503]}, OPENAI, OPENAI],
    }
    plan_ = legs(config)
    assert [leg.move_on for leg in plan_] == [{503}, {429}, frozenset()]
    assert plan_[0].move_on_named


def test_nested_fallbacks_flatten_and_the_nearest_retry_and_timeout_win() -> None:
    config = {
        "strategy": {"mode": "fallback"},
        "retry": {"attempts": 2},
        "request_timeout": 1000,
        "override_params": {"model": "a", "temperature": 0},
        "targets": [
            {
                "strategy": {"mode": "fallback"},
                "retry": {"attempts": 5},
                "targets": [{**OPENAI, "override_params": {"model": "b"}}, OPENAI],
            },
            {**OPENAI, "request_timeout": 200},
        ],
    }
    plan_ = legs(config)
    assert [leg.node.path for leg in plan_] == [
        "config.targets[0].targets[0]",
        "config.targets[0].targets[1]",
        "config.targets[1]",
    ]
    assert [leg.retry.attempts for leg in plan_] == [5, 5, 2]
    assert [leg.request_timeout for leg in plan_] == [1000, 1000, 200]
    assert dict(plan_[0].override_params) == {"model": "b", "temperature": 0}


def conditional(default: str | None = "cheap") -> dict[str, Any]:
    strategy: dict[str, Any] = {
        "mode": "conditional",
        "conditions": [
            {"query": {"metadata.tier": "gold"}, "then": "best"},
            {"query": {"params.max_tokens": {"$gt": 1000}}, "then": "long"},
        ],
    }
    if default:
        strategy["default"] = default
    names = ("best", "long", "cheap")
    return {"strategy": strategy, "targets": [{**OPENAI, "name": name} for name in names]}


def test_conditional_takes_the_first_matching_condition_else_the_default() -> None:
    assert paths(conditional(), metadata={"tier": "gold"}, max_tokens=5000) == ["config.targets[0]"]
    assert paths(conditional(), metadata={"tier": "silver"}, max_tokens=5000) == ["config.targets[1]"]
    assert paths(conditional(), metadata={}) == ["config.targets[2]"]  # a missing field never orders


def test_conditional_without_a_match_or_default_is_a_400() -> None:
    with pytest.raises(InvalidRequest) as caught:
        legs(conditional(default=None))
    assert caught.value.code == "no_matching_condition"
    assert "config" in caught.value.message


def test_weighted_loadbalance_follows_weights_and_skips_weight_zero() -> None:
    config = {
        "strategy": {"mode": "loadbalance"},
        "targets": [{**OPENAI, "weight": 3}, {**OPENAI, "weight": 1}, {**OPENAI, "weight": 0}],
    }
    picks = Counter(paths(config)[0] for _ in range(4000))
    assert "config.targets[2]" not in picks
    assert 0.70 < picks["config.targets[0]"] / 4000 < 0.80


def test_least_inflight_and_latency_pick_the_least_loaded_target() -> None:
    targets = [OPENAI, OPENAI]
    busy = Load(in_flight={"config.targets[0]": 3})
    config = {"strategy": {"mode": "loadbalance", "balance": "least-inflight"}, "targets": targets}
    assert {paths(config, load=busy)[0] for _ in range(50)} == {"config.targets[1]"}
    config = {"strategy": {"mode": "loadbalance", "balance": "latency"}, "targets": targets}
    slow_first = Load(latency={"config.targets[0]": 2.0, "config.targets[1]": 0.1})
    assert {paths(config, load=slow_first)[0] for _ in range(50)} == {"config.targets[1]"}
    unmeasured = Load(latency={"config.targets[0]": 0.01})
    assert {paths(config, load=unmeasured)[0] for _ in range(50)} == {"config.targets[1]"}


def test_a_hedged_loadbalance_keeps_a_second_pick_in_reserve() -> None:
    config = {"strategy": {"mode": "loadbalance", "hedge_after_ms": 250}, "targets": [OPENAI, OPENAI]}
    plan_ = legs(config)
    assert sorted(leg.node.path for leg in plan_) == ["config.targets[0]", "config.targets[1]"]
    assert plan_[0].hedge_after == 0.25
