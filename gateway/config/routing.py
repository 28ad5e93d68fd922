"""Routing configs (Portkey's JSON): parsed once into an immutable tree, validated with dotted paths.

A config is a node: either a *target* (``provider`` and its credentials) or a *strategy* over
``targets`` (each a node again, to any depth). Every node may carry ``override_params``,
``retry`` and ``request_timeout``; children inherit what they do not set. A bad field is a 400
whose message names it (``config.targets[1].weight: expected a number``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from gateway.errors import InvalidRequest

MODES = ("single", "fallback", "loadbalance", "conditional")
#: How ``loadbalance`` picks: at random by weight, the target with the fewest requests in flight,
#: or the one with the lowest recent time to first byte.
BALANCES = ("weighted", "least-inflight", "latency")
OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$regex", "$and", "$or")
DEFAULT_RETRY_CODES = frozenset({429, 500, 502, 503, 504})

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
    | {"provider", "api_key", "custom_host"}
    | set(OPTION_KEYS)
)


class ConfigError(InvalidRequest):
    code = "invalid_config"


@dataclass(frozen=True, slots=True)
class Retry:
    attempts: int = 0
    on_status_codes: frozenset[int] = DEFAULT_RETRY_CODES


@dataclass(frozen=True, slots=True)
class Condition:
    query: Mapping[str, Any]
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

    @property
    def is_target(self) -> bool:
        return not self.targets

    def walk(self) -> Iterator[Node]:
        """This node and every node under it."""
        yield self
        for target in self.targets:
            yield from target.walk()


def parse_config(text: str) -> Node:
    """An inline ``x-portkey-config`` (JSON text)."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ConfigError("x-portkey-config is not valid JSON.", param="x-portkey-config") from None
    return parse_node(value, "config")


def parse_node(raw: Any, path: str) -> Node:
    table = _object(raw, path)
    unknown = sorted(set(table) - _NODE_KEYS)
    if unknown:
        raise _bad(f"{path}.{unknown[0]}", "unknown field")
    targets = tuple(
        parse_node(item, f"{path}.targets[{i}]") for i, item in enumerate(_list(table, "targets", path))
    )
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
        weight=_number(table.get("weight", 1.0), f"{path}.weight"),
        provider=_optional_text(table, "provider", path),
        api_key=_optional_text(table, "api_key", path),
        custom_host=_optional_text(table, "custom_host", path),
        options={OPTION_KEYS[k]: _option(v, f"{path}.{k}") for k, v in table.items() if k in OPTION_KEYS},
        override_params=_object(table.get("override_params", {}), f"{path}.override_params"),
        retry=_retry(table.get("retry"), f"{path}.retry"),
        request_timeout=_timeout(table.get("request_timeout"), f"{path}.request_timeout"),
    )


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
    _check_query(_object(table.get("query"), f"{path}.query"), f"{path}.query")
    return Condition(query=table["query"], then=_text(table.get("then"), f"{path}.then"))


def _check_query(query: Mapping[str, Any], path: str) -> None:
    for key, value in query.items():
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                raise _bad(f"{path}.{key}", "expected a non-empty list of queries")
            for i, item in enumerate(value):
                _check_query(_object(item, f"{path}.{key}[{i}]"), f"{path}.{key}[{i}]")
        elif key.startswith("$"):
            raise _bad(f"{path}.{key}", f"unknown operator; expected one of {', '.join(OPERATORS)}")
        elif not key.startswith(("metadata.", "params.")):
            raise _bad(f"{path}.{key}", "conditions look at 'metadata.<key>' or 'params.<field>'")
        elif isinstance(value, dict):
            _check_comparison(value, f"{path}.{key}")


def _check_comparison(comparison: Mapping[str, Any], path: str) -> None:
    for operator, operand in comparison.items():
        if operator not in OPERATORS or operator in ("$and", "$or"):
            raise _bad(f"{path}.{operator}", f"unknown operator; expected one of {', '.join(OPERATORS[:-2])}")
        if operator in ("$in", "$nin") and not isinstance(operand, list):
            raise _bad(f"{path}.{operator}", "expected a list")
        if operator == "$regex":
            try:
                re.compile(_text(operand, f"{path}.{operator}"))
            except re.error as exc:
                raise _bad(f"{path}.{operator}", f"invalid regular expression: {exc}") from None


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
    if not isinstance(raw, int) or isinstance(raw, bool) or raw <= 0:
        raise _bad(path, "expected a positive number of milliseconds")
    return raw


def _number(raw: Any, path: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or raw < 0:
        raise _bad(path, "expected a non-negative number")
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


def _optional_text(table: Mapping[str, Any], key: str, path: str) -> str | None:
    return None if key not in table else _text(table[key], f"{path}.{key}")


def _bad(path: str, problem: str) -> ConfigError:
    return ConfigError(f"Invalid routing config: {path}: {problem}.", param="x-portkey-config")
