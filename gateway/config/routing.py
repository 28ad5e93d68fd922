"""Routing configs (Portkey's JSON): parsed once into an immutable tree, validated with dotted paths.

A config is a node: either a *target* (``provider`` and its credentials) or a *strategy* over
``targets`` (each a node again, to any depth). Every node may carry ``override_params``,
``retry`` and ``request_timeout``; children inherit what they do not set. A bad field is a 400
whose message names it (``config.targets[1].weight: expected a number``).

Evaluating a config is bounded whatever the caller sends: its size, the number of targets (so of
upstream calls), the nesting depth and the number of comparisons have limits (a 400 naming the
limit), and ``$regex`` patterns are compiled once, here, by a linear-time engine (``regex.py``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from gateway.config.regex import Regex, RegexRefused, compile_regex
from gateway.errors import InvalidRequest

MODES = ("single", "fallback", "loadbalance", "conditional")
#: How ``loadbalance`` picks: at random by weight, the target with the fewest requests in flight,
#: or the one with the lowest recent time to first byte.
BALANCES = ("weighted", "least-inflight", "latency")
OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$regex", "$and", "$or")
DEFAULT_RETRY_CODES = frozenset({429, 500, 502, 503, 504})

# Limits on what one config may ask of the gateway. A demanding fallback chain has < 20 targets.
#: Bytes of a config's JSON (the HTTP server caps header values a little above this).
MAX_CONFIG_BYTES = 64 * 1024
#: Nodes under ``targets``, nested ones included: each target may cost an upstream call.
MAX_TARGETS = 50
#: Levels of ``targets`` within ``targets``, and of ``$and``/``$or`` within a condition.
MAX_DEPTH = 8
#: Comparisons in all the conditions of a config (each runs on every request it routes).
MAX_CONDITIONS = 64
#: Largest ``weight``: bigger ones add up to infinity when a loadbalance draws.
MAX_WEIGHT = 1_000_000
#: Longest ``request_timeout`` or ``hedge_after_ms``, in milliseconds (24 hours).
MAX_TIMEOUT_MS = 24 * 3600 * 1000

#: Config keys of a target that become ``x-portkey-<name>`` provider options (Portkey's short
#: Azure names included).
OPTION_KEYS = {
    "azure_resource_name": "azure-resource-name",
    "resource_name": "azure-resource-name",
    "azure_deployment_id": "azure-deployment-id",
    "deployment_id": "azure-deployment-id",
    "azure_api_version": "azure-api-version",
    "api_version": "azure-api-version",
    "openai_organization": "openai-organization",
    "openai_project": "openai-project",
    "anthropic_beta": "anthropic-beta",
    "anthropic_version": "anthropic-version",
    "aws_access_key_id": "aws-access-key-id",
    "aws_secret_access_key": "aws-secret-access-key",
    "aws_session_token": "aws-session-token",
    "aws_region": "aws-region",
    "vertex_project_id": "vertex-project-id",
    "vertex_region": "vertex-region",
    "vertex_service_account_json": "vertex-service-account-json",
}
_NODE_KEYS = frozenset(
    {"strategy", "targets", "name", "weight", "override_params", "retry", "request_timeout"}
    | {"provider", "api_key", "custom_host", "strict_open_ai_compliance"}
    | set(OPTION_KEYS)
)


class ConfigError(InvalidRequest):
    code = "invalid_config"


@dataclass(frozen=True, slots=True)
class Retry:
    attempts: int = 0
    on_status_codes: frozenset[int] = DEFAULT_RETRY_CODES


@dataclass(frozen=True, slots=True)
class Comparison:
    operator: str
    #: The operand as the config gives it; for ``$regex``, the compiled :class:`Regex`.
    operand: Any


@dataclass(frozen=True, slots=True)
class FieldTest:
    """``metadata.<name>`` or ``params.<name>`` against every one of its comparisons."""

    source: str
    name: str
    comparisons: tuple[Comparison, ...]


@dataclass(frozen=True, slots=True)
class Combined:
    """``$or`` (``any_of``) or ``$and`` over queries."""

    any_of: bool
    queries: tuple[Query, ...]


@dataclass(frozen=True, slots=True)
class Query:
    """Holds when every one of its clauses holds."""

    clauses: tuple[FieldTest | Combined, ...]

    def comparisons(self) -> int:
        return sum(
            len(clause.comparisons)
            if isinstance(clause, FieldTest)
            else sum(query.comparisons() for query in clause.queries)
            for clause in self.clauses
        )


@dataclass(frozen=True, slots=True)
class Condition:
    query: Query
    then: str


@dataclass(frozen=True, slots=True)
class Strategy:
    mode: str = "single"
    #: fallback: statuses that move on to the next target (``None``: any failure, as in Portkey).
    on_status_codes: frozenset[int] | None = None
    conditions: tuple[Condition, ...] = ()
    default: str | None = None
    balance: str = "weighted"
    #: fallback/loadbalance: start the next target too when no first chunk came within this.
    hedge_after_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Node:
    """One config node; ``path`` is where it sits (``config.targets[1]``), for headers and errors."""

    path: str
    strategy: Strategy = field(default_factory=Strategy)
    targets: tuple[Node, ...] = ()
    name: str | None = None
    weight: float = 1.0
    provider: str | None = None
    api_key: str | None = None
    custom_host: str | None = None
    options: Mapping[str, str] = field(default_factory=dict)
    override_params: Mapping[str, Any] = field(default_factory=dict)
    retry: Retry | None = None
    #: Milliseconds for the whole request through this node.
    request_timeout: int | None = None
    #: ``False``: answers keep the provider's extras (Portkey's ``strict_open_ai_compliance``);
    #: already inherited from the parents at parse time, ``None`` when no node on the way set it.
    strict_open_ai_compliance: bool | None = None

    @property
    def is_target(self) -> bool:
        return not self.targets

    def walk(self) -> Iterator[Node]:
        """This node and every node under it."""
        yield self
        for target in self.targets:
            yield from target.walk()


def parse_config(text: str) -> Node:
    """An inline ``x-portkey-config`` (JSON text), within the limits."""
    # Header values are decoded with surrogateescape: count the bytes as they came.
    _check_size(len(text.encode(errors="surrogateescape")))
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ConfigError("x-portkey-config is not valid JSON.", param="x-portkey-config") from None
    return parse_root(value)


def parse_config_value(raw: Any) -> Node:
    """A config already decoded (a ``[configs.<id>]`` table of the settings), within the same
    limits as an inline one: its size is that of its JSON."""
    try:
        size = len(orjson.dumps(raw))
    except orjson.JSONEncodeError:
        raise _limit(f"config is nested deeper than JSON allows; the limit is {MAX_DEPTH} levels") from None
    _check_size(size)
    return parse_root(raw)


def parse_root(raw: Any) -> Node:
    """A whole config: the tree of nodes, then the limits on its targets and conditions."""
    root = _inherit_compliance(_node(raw, "config", 0), None)
    targets = sum(1 for _ in root.walk()) - 1
    if targets > MAX_TARGETS:
        raise _limit(f"config has {targets} targets; the limit is {MAX_TARGETS}")
    conditions = sum(c.query.comparisons() for node in root.walk() for c in node.strategy.conditions)
    if conditions > MAX_CONDITIONS:
        raise _limit(f"config has {conditions} comparisons in its conditions; the limit is {MAX_CONDITIONS}")
    return root


def _check_size(size: int) -> None:
    if size > MAX_CONFIG_BYTES:
        raise _limit(f"config is {size} bytes; the limit is {MAX_CONFIG_BYTES}")


def _node(raw: Any, path: str, depth: int) -> Node:
    """One node at ``depth`` levels of ``targets`` under the root, and the nodes below it."""
    table = _object(raw, path)
    unknown = sorted(set(table) - _NODE_KEYS)
    if unknown:
        raise _bad(f"{path}.{unknown[0]}", "unknown field")
    items = _list(table, "targets", path)
    if items and depth >= MAX_DEPTH:
        raise _limit(f"{path}: targets nest more than {MAX_DEPTH} levels deep; the limit is {MAX_DEPTH}")
    targets = tuple(_node(item, f"{path}.targets[{i}]", depth + 1) for i, item in enumerate(items))
    strategy = _strategy(table.get("strategy"), f"{path}.strategy", targets)
    if not targets and "provider" not in table:
        raise _bad(path, "needs either 'provider' (a target) or 'targets' (a strategy over targets)")
    if targets and "provider" in table:
        raise _bad(f"{path}.provider", "a node with 'targets' routes to them and cannot name a provider too")
    return Node(
        path=path,
        strategy=strategy,
        targets=targets,
        name=_optional_text(table, "name", path),
        weight=_weight(table.get("weight", 1.0), f"{path}.weight"),
        provider=_optional_text(table, "provider", path),
        api_key=_optional_text(table, "api_key", path),
        custom_host=_optional_text(table, "custom_host", path),
        options={OPTION_KEYS[k]: _option(v, f"{path}.{k}") for k, v in table.items() if k in OPTION_KEYS},
        override_params=_object(table.get("override_params", {}), f"{path}.override_params"),
        retry=_retry(table.get("retry"), f"{path}.retry"),
        request_timeout=_timeout(table.get("request_timeout"), f"{path}.request_timeout"),
        strict_open_ai_compliance=_optional_flag(table, "strict_open_ai_compliance", path),
    )


def _inherit_compliance(node: Node, inherited: bool | None) -> Node:
    """``node`` and its children with ``strict_open_ai_compliance`` resolved down the tree once,
    here, so a request only reads it (a node's own value wins over its parent's)."""
    own = inherited if node.strict_open_ai_compliance is None else node.strict_open_ai_compliance
    targets = tuple(_inherit_compliance(target, own) for target in node.targets)
    if own is node.strict_open_ai_compliance and all(
        a is b for a, b in zip(targets, node.targets, strict=True)
    ):
        return node
    return dataclasses.replace(node, targets=targets, strict_open_ai_compliance=own)


def _strategy(raw: Any, path: str, targets: tuple[Node, ...]) -> Strategy:
    if raw is None:
        if len(targets) > 1:
            raise _bad(path, "several targets need a strategy with a mode")
        return Strategy()
    table = _object(raw, path)
    unknown = sorted(
        set(table) - {"mode", "on_status_codes", "conditions", "default", "balance", "hedge_after_ms"}
    )
    if unknown:
        raise _bad(f"{path}.{unknown[0]}", "unknown field")
    mode = table.get("mode")
    if mode not in MODES:
        raise _bad(f"{path}.mode", f"expected one of {', '.join(MODES)}, got {mode!r}")
    if not targets:
        raise _bad(path.rsplit(".", 1)[0] + ".targets", f"mode {mode!r} needs at least one target")
    codes = table.get("on_status_codes")
    strategy = Strategy(
        mode=mode,
        on_status_codes=None if codes is None else _status_codes(codes, f"{path}.on_status_codes"),
        conditions=tuple(
            _condition(item, f"{path}.conditions[{i}]")
            for i, item in enumerate(_list(table, "conditions", path))
        ),
        default=_optional_text(table, "default", path),
        balance=_balance(table, mode, path),
        hedge_after_ms=_hedge(table, mode, path),
    )
    _check_names(strategy, targets, path)
    return strategy


def _balance(table: Mapping[str, Any], mode: str, path: str) -> str:
    balance = table.get("balance", "weighted")
    if balance not in BALANCES:
        raise _bad(f"{path}.balance", f"expected one of {', '.join(BALANCES)}, got {balance!r}")
    if balance != "weighted" and mode != "loadbalance":
        raise _bad(f"{path}.balance", "only a loadbalance strategy balances")
    return str(balance)


def _hedge(table: Mapping[str, Any], mode: str, path: str) -> int | None:
    if "hedge_after_ms" not in table:
        return None
    if mode not in ("fallback", "loadbalance"):
        raise _bad(f"{path}.hedge_after_ms", "only fallback and loadbalance strategies hedge")
    return _timeout(table["hedge_after_ms"], f"{path}.hedge_after_ms")


def _check_names(strategy: Strategy, targets: tuple[Node, ...], path: str) -> None:
    if strategy.mode != "conditional":
        return
    names = {target.name for target in targets if target.name}
    if not strategy.conditions:
        raise _bad(f"{path}.conditions", "conditional mode needs at least one condition")
    for i, condition in enumerate(strategy.conditions):
        if condition.then not in names:
            raise _bad(f"{path}.conditions[{i}].then", f"no target named {condition.then!r}")
    if strategy.default is not None and strategy.default not in names:
        raise _bad(f"{path}.default", f"no target named {strategy.default!r}")


def _condition(raw: Any, path: str) -> Condition:
    table = _object(raw, path)
    query = _query(table.get("query"), f"{path}.query", 0)
    return Condition(query=query, then=_text(table.get("then"), f"{path}.then"))


def _query(raw: Any, path: str, depth: int) -> Query:
    if depth > MAX_DEPTH:
        raise _limit(f"{path}: $and/$or nest more than {MAX_DEPTH} levels deep; the limit is {MAX_DEPTH}")
    clauses: list[FieldTest | Combined] = []
    for key, value in _object(raw, path).items():
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                raise _bad(f"{path}.{key}", "expected a non-empty list of queries")
            queries = tuple(_query(item, f"{path}.{key}[{i}]", depth + 1) for i, item in enumerate(value))
            clauses.append(Combined(key == "$or", queries))
        elif key.startswith("$"):
            raise _bad(f"{path}.{key}", f"unknown operator; expected one of {', '.join(OPERATORS)}")
        elif not key.startswith(("metadata.", "params.")):
            raise _bad(f"{path}.{key}", "conditions look at 'metadata.<key>' or 'params.<field>'")
        else:
            source, _, name = key.partition(".")
            clauses.append(FieldTest(source, name, _comparisons(value, f"{path}.{key}")))
    return Query(tuple(clauses))


def _comparisons(expected: Any, path: str) -> tuple[Comparison, ...]:
    """``{"$gt": 3}`` as its comparisons; a bare value means ``$eq``."""
    if not isinstance(expected, dict):
        return (Comparison("$eq", expected),)
    comparisons = []
    for operator, operand in expected.items():
        if operator not in OPERATORS or operator in ("$and", "$or"):
            raise _bad(f"{path}.{operator}", f"unknown operator; expected one of {', '.join(OPERATORS[:-2])}")
        if operator in ("$in", "$nin") and not isinstance(operand, list):
            raise _bad(f"{path}.{operator}", "expected a list")
        if operator == "$regex":
            operand = _regex(operand, f"{path}.{operator}")
        comparisons.append(Comparison(operator, operand))
    return tuple(comparisons)


def _regex(raw: Any, path: str) -> Regex:
    try:
        return compile_regex(_text(raw, path))
    except RegexRefused as exc:
        raise _bad(path, f"invalid regular expression: {exc}") from None


def _retry(raw: Any, path: str) -> Retry | None:
    if raw is None:
        return None
    table = _object(raw, path)
    unknown = sorted(set(table) - {"attempts", "on_status_codes"})
    if unknown:
        raise _bad(f"{path}.{unknown[0]}", "unknown field")
    attempts = table.get("attempts", 0)
    if not isinstance(attempts, int) or isinstance(attempts, bool) or not 0 <= attempts <= 10:
        raise _bad(f"{path}.attempts", "expected a whole number from 0 to 10")
    codes = table.get("on_status_codes")
    return Retry(
        attempts, DEFAULT_RETRY_CODES if codes is None else _status_codes(codes, f"{path}.on_status_codes")
    )


def _status_codes(raw: Any, path: str) -> frozenset[int]:
    if not isinstance(raw, list) or not all(isinstance(c, int) and 100 <= c <= 599 for c in raw):
        raise _bad(path, "expected a list of HTTP status codes")
    return frozenset(raw)


def _timeout(raw: Any, path: str) -> int | None:
    if raw is None:
        return None
    if not isinstance(raw, int) or isinstance(raw, bool) or not 0 < raw <= MAX_TIMEOUT_MS:
        raise _bad(path, f"expected a positive number of milliseconds, at most {MAX_TIMEOUT_MS} (24 hours)")
    return raw


def _weight(raw: Any, path: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0 <= raw <= MAX_WEIGHT:
        raise _bad(path, f"expected a number from 0 to {MAX_WEIGHT}")
    return float(raw)


def _object(raw: Any, path: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise _bad(path, "expected a JSON object")
    return raw


def _list(table: Mapping[str, Any], key: str, path: str) -> list[Any]:
    raw = table.get(key, [])
    if not isinstance(raw, list):
        raise _bad(f"{path}.{key}", "expected a list")
    return raw


def _text(raw: Any, path: str) -> str:
    if not isinstance(raw, str) or not raw:
        raise _bad(path, "expected a non-empty string")
    return raw


def _option(raw: Any, path: str) -> str:
    """A provider option: text, or an object given inline (Portkey's ``vertex_service_account_json``)."""
    return orjson.dumps(raw).decode() if isinstance(raw, dict) else _text(raw, path)


def _optional_flag(table: Mapping[str, Any], key: str, path: str) -> bool | None:
    raw = table.get(key)
    if raw is not None and not isinstance(raw, bool):
        raise _bad(f"{path}.{key}", "expected true or false")
    return raw


def _optional_text(table: Mapping[str, Any], key: str, path: str) -> str | None:
    return None if key not in table else _text(table[key], f"{path}.{key}")


def _bad(path: str, problem: str) -> ConfigError:
    return ConfigError(f"Invalid routing config: {path}: {problem}.", param="x-portkey-config")


def _limit(problem: str) -> ConfigError:
    return ConfigError(f"Invalid routing config: {problem}.", param="x-portkey-config")
