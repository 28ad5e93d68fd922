"""From a routing config to the ordered targets one request tries.

The tree is walked once per request: ``loadbalance`` picks a target by its ``balance`` (weights,
requests in flight, or latency; a second pick too when it hedges), ``conditional`` evaluates its
conditions against the request's metadata and params, ``single`` takes its one target, and
``fallback`` lists all of its targets in order. The result is a flat list of :class:`Leg` s; each
leg says on which upstream statuses the request may move on to the next one, and after how long
the next one starts in parallel (the ``fallback`` or hedged ``loadbalance`` that owns that step).

A fallback moves on from a child on the statuses of the child's own ``on_status_codes``, else
its ``strategy.on_status_codes``, else its own node-level ``on_status_codes``, else on any
failure (Portkey: any non-2xx). ``retry``, ``request_timeout`` and ``cb_config`` are inherited:
the nearest node that sets one wins.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.config.conditions import Combined, FieldTest, Query
from gateway.config.resilience import CircuitBreaker, Retry
from gateway.config.routing import Node
from gateway.errors import InvalidRequest
from gateway.routing.sticky import sticky_choice, sticky_key

__all__ = [
    "ANY_FAILURE",
    "Leg",
    "plan",
]

#: Statuses after which a fallback moves on when it names none (Portkey: any failure).
ANY_FAILURE = frozenset(range(400, 600))


class Load(Protocol):
    """What this process knows of a target node's current load (``None``/0 when nothing yet)."""

    def in_flight(self, node: Node) -> int: ...

    def latency(self, node: Node) -> float | None: ...


@dataclass(frozen=True, slots=True)
class Leg:
    node: Node
    override_params: Mapping[str, Any]
    retry: Retry | None
    request_timeout: int | None
    #: Upstream statuses that move on to the next leg; empty for the last one.
    move_on: frozenset[int]
    #: Seconds without a first chunk after which the next leg starts in parallel (hedging).
    hedge_after: float | None = None
    #: Whether the config named ``move_on`` (a refusal moves on only from a status it names).
    move_on_named: bool = False
    cb_config: CircuitBreaker | None = None


@dataclass(frozen=True, slots=True)
class _Step:
    """Between two consecutive leaves: when to move on, and when to hedge."""

    move_on: frozenset[int]
    hedge_after: float | None = None
    named: bool = False


_LAST = _Step(frozenset())


@dataclass(frozen=True, slots=True)
class _Request:
    #: What conditions and sticky hash fields read: ``metadata``, ``params`` and ``url``.
    sources: Mapping[str, Mapping[str, Any]]
    load: Load


@dataclass(frozen=True, slots=True)
class _Inherited:
    override_params: Mapping[str, Any]
    retry: Retry | None
    request_timeout: int | None
    cb_config: CircuitBreaker | None = None

    def under(self, node: Node) -> _Inherited:
        return _Inherited(
            {**self.override_params, **node.override_params},
            node.retry or self.retry,
            node.request_timeout or self.request_timeout,
            node.cb_config or self.cb_config,
        )


def plan(
    config: Node, metadata: Mapping[str, str], params: Mapping[str, Any], load: Load, pathname: str
) -> list[Leg]:
    sources = {"metadata": metadata, "params": params, "url": {"pathname": pathname}}
    nodes, steps = _walk(config, _Inherited({}, None, None), _Request(sources, load))
    return [
        Leg(
            node,
            inherited.override_params,
            inherited.retry,
            inherited.request_timeout,
            step.move_on,
            step.hedge_after,
            step.named,
            inherited.cb_config,
        )
        for (node, inherited), step in zip(nodes, [*steps, _LAST], strict=True)
    ]


def _walk(
    node: Node, inherited: _Inherited, request: _Request
) -> tuple[list[tuple[Node, _Inherited]], list[_Step]]:
    """The leaves under ``node`` in order, and the steps between consecutive leaves."""
    inherited = inherited.under(node)
    if node.is_target:
        return [(node, inherited)], []
    strategy = node.strategy
    hedge = strategy.hedge_after_ms / 1000 if strategy.hedge_after_ms else None
    if strategy.mode == "fallback":
        named = strategy.on_status_codes if strategy.on_status_codes is not None else node.on_status_codes

        def after(child: Node) -> _Step:
            codes = child.on_status_codes if child.on_status_codes is not None else named
            return _Step(ANY_FAILURE, hedge) if codes is None else _Step(codes, hedge, named=True)

        return _sequence(node.targets, after, inherited, request)
    chosen = _choose(node, request)
    if hedge is not None and strategy.mode == "loadbalance":
        # A hedged loadbalance keeps a second pick in reserve, started if the first is slow.
        others = [target for target in node.targets if target is not chosen and target.weight > 0]
        if others:
            step = _Step(ANY_FAILURE, hedge)
            return _sequence((chosen, random.choice(others)), lambda _: step, inherited, request)
    return _walk(chosen, inherited, request)


def _sequence(
    targets: tuple[Node, ...], after: Callable[[Node], _Step], inherited: _Inherited, request: _Request
) -> tuple[list[tuple[Node, _Inherited]], list[_Step]]:
    """The leaves of ``targets`` in order; ``after(target)`` is the step from its last leaf on."""
    leaves: list[tuple[Node, _Inherited]] = []
    steps: list[_Step] = []
    previous: Node | None = None
    for target in targets:
        sub_leaves, sub_steps = _walk(target, inherited, request)
        if previous is not None:
            steps.append(after(previous))
        leaves += sub_leaves
        steps += sub_steps
        previous = target
    return leaves, steps


def _choose(node: Node, request: _Request) -> Node:
    mode = node.strategy.mode
    if mode == "single":
        return node.targets[0]
    if mode == "loadbalance":
        return _balanced(node, request)
    for condition in node.strategy.conditions:
        if _holds(condition.query, request.sources):
            return _named(node, condition.then)
    if node.strategy.default is None:
        raise InvalidRequest(
            f"No condition of {node.path} matched this request and it has no default target.",
            param="x-portkey-config",
            code="no_matching_condition",
        )
    return _named(node, node.strategy.default)


def _balanced(node: Node, request: _Request) -> Node:
    candidates = [target for target in node.targets if target.weight > 0]
    if not candidates:
        raise InvalidRequest(
            f"Every target of {node.path} has weight 0.", param="x-portkey-config", code="invalid_config"
        )
    sticky = node.strategy.sticky
    if sticky is not None:
        key = sticky_key(sticky, request.sources, f"{node.path}.strategy")
        if key is not None:
            return sticky_choice(candidates, key, sticky.ttl, time.time())
    load = request.load
    balance = node.strategy.balance
    if balance == "least-inflight":
        # Random tie-breaks, so idle targets share the traffic instead of the first taking it all.
        return min(candidates, key=lambda target: (load.in_flight(target), random.random()))
    if balance == "latency":
        # A target not measured yet goes first: it needs traffic to get a figure at all.
        unmeasured = [target for target in candidates if load.latency(target) is None]
        if unmeasured:
            return random.choice(unmeasured)
        return min(candidates, key=lambda target: load.latency(target) or 0.0)
    return random.choices(candidates, weights=[target.weight for target in candidates])[0]


def _named(node: Node, name: str) -> Node:
    return next(target for target in node.targets if target.name == name)


def _holds(query: Query, sources: Mapping[str, Mapping[str, Any]]) -> bool:
    return all(_clause_holds(clause, sources) for clause in query.clauses)


def _clause_holds(clause: FieldTest | Combined, sources: Mapping[str, Mapping[str, Any]]) -> bool:
    if isinstance(clause, Combined):
        results = (_holds(query, sources) for query in clause.queries)
        return any(results) if clause.any_of else all(results)
    actual = sources[clause.source].get(clause.name)
    return all(_compare(c.operator, actual, c.operand) for c in clause.comparisons)


def _compare(operator: str, actual: Any, operand: Any) -> bool:
    if operator == "$eq":
        return bool(actual == operand)
    if operator == "$ne":
        return bool(actual != operand)
    if operator == "$in":
        return actual in operand
    if operator == "$nin":
        return actual not in operand
    if operator == "$regex":
        # Compiled by RE2 when the config was parsed: linear in the length of ``actual``.
        return isinstance(actual, str) and operand.search(actual) is not None
    return _ordered(operator, actual, operand)


def _ordered(operator: str, actual: Any, operand: Any) -> bool:
    """$gt/$gte/$lt/$lte; values that cannot be ordered (a missing field) never match."""
    try:
        if operator == "$gt":
            return bool(actual > operand)
        if operator == "$gte":
            return bool(actual >= operand)
        if operator == "$lt":
            return bool(actual < operand)
        return bool(actual <= operand)
    except TypeError:
        return False
