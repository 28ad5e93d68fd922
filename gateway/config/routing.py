"""Routing configs (Portkey's JSON): parsed once into an immutable tree, validated with dotted paths.

A config is a node: either a *target* (``provider`` and its credentials) or a *strategy* over
``targets`` (each a node again, to any depth). Every node may carry ``override_params``,
``retry``, ``request_timeout`` and guardrail hooks (``config/hooks.py``); children inherit what they
do not set. A bad field is a 400
whose message names it (``config.targets[1].weight: expected a number``).

Evaluating a config is bounded whatever the caller sends: its size, the number of targets (so of
upstream calls), the nesting depth and the number of comparisons have limits (a 400 naming the
limit), and ``$regex`` patterns are compiled once, at parse, by a linear-time engine (``conditions.py``).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from gateway.config import extras
from gateway.config.conditions import Condition, parse_condition
from gateway.config.extras import Cache, Sticky
from gateway.config.fields import MAX_DEPTH, ConfigError, header_value_problem
from gateway.config.fields import as_object as _object
from gateway.config.fields import as_text as _text
from gateway.config.fields import bad as _bad
from gateway.config.fields import limit as _limit
from gateway.config.hooks import MAX_CHECKS, Hook, parse_hooks
from gateway.config.resilience import (
    CircuitBreaker,
    Retry,
    parse_cb_config,
    parse_retry,
    parse_status_codes,
)
from gateway.observability.logging import escaped

__all__ = [
    "MAX_CONDITIONS",
    "MAX_CONFIG_BYTES",
    "MAX_DEPTH",
    "MAX_TARGETS",
    "MAX_TIMEOUT_MS",
    "MAX_WEIGHT",
    "Node",
    "parse_config",
    "parse_config_value",
]

logger = logging.getLogger("gateway.config")

MODES = ("single", "fallback", "loadbalance", "conditional")
#: How ``loadbalance`` picks: at random by weight, the target with the fewest requests in flight,
#: or the one with the lowest recent time to first byte.
BALANCES = ("weighted", "least-inflight", "latency")

# Limits on what one config may ask of the gateway. A demanding fallback chain has < 20 targets.
#: Bytes of a config's JSON (the HTTP server caps header values a little above this).
MAX_CONFIG_BYTES = 64 * 1024
#: Nodes under ``targets``, nested ones included: each target may cost an upstream call.
MAX_TARGETS = 50
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
    "azure_ad_token": "azure-ad-token",
    "azure_auth_mode": "azure-auth-mode",
    "azure_entra_tenant_id": "azure-entra-tenant-id",
    "azure_entra_client_id": "azure-entra-client-id",
    "azure_entra_client_secret": "azure-entra-client-secret",
    "azure_entra_scope": "azure-entra-scope",
    "azure_managed_client_id": "azure-managed-client-id",
    "azure_workload_client_id": "azure-workload-client-id",
    "openai_organization": "openai-organization",
    "openai_project": "openai-project",
    "anthropic_beta": "anthropic-beta",
    "anthropic_version": "anthropic-version",
    "aws_access_key_id": "aws-access-key-id",
    "aws_secret_access_key": "aws-secret-access-key",
    "aws_session_token": "aws-session-token",
    "aws_region": "aws-region",
    "aws_auth_type": "aws-auth-type",
    "aws_role_arn": "aws-role-arn",
    "aws_external_id": "aws-external-id",
    "amzn_sagemaker_custom_attributes": "amzn-sagemaker-custom-attributes",
    "amzn_sagemaker_target_model": "amzn-sagemaker-target-model",
    "amzn_sagemaker_target_variant": "amzn-sagemaker-target-variant",
    "amzn_sagemaker_target_container_hostname": "amzn-sagemaker-target-container-hostname",
    "amzn_sagemaker_inference_id": "amzn-sagemaker-inference-id",
    "amzn_sagemaker_enable_explanations": "amzn-sagemaker-enable-explanations",
    "amzn_sagemaker_inference_component": "amzn-sagemaker-inference-component",
    "amzn_sagemaker_session_id": "amzn-sagemaker-session-id",
    "aws_s3_bucket": "aws-s3-bucket",
    "aws_s3_object_key": "aws-s3-object-key",
    "aws_bedrock_model": "aws-bedrock-model",
    "vertex_project_id": "vertex-project-id",
    "vertex_region": "vertex-region",
    "vertex_service_account_json": "vertex-service-account-json",
    "oracle_region": "oracle-region",
    "oracle_compartment_id": "oracle-compartment-id",
    "oracle_serving_mode": "oracle-serving-mode",
    "oracle_api_version": "oracle-api-version",
    "oracle_tenancy": "oracle-tenancy",
    "oracle_user": "oracle-user",
    "oracle_fingerprint": "oracle-fingerprint",
    "oracle_private_key": "oracle-private-key",
    "oracle_key_passphrase": "oracle-key-passphrase",
    "vertex_storage_bucket_name": "vertex-storage-bucket-name",
    "snowflake_account": "snowflake-account",
    "workers_ai_account_id": "workers-ai-account-id",
    "azure_foundry_url": "azure-foundry-url",
    "azure_extra_parameters": "azure-extra-params",
    "azure_deployment_name": "azure-deployment-name",
    "databricks_workspace": "databricks-workspace",
    "fireworks_account_id": "fireworks-account-id",
}
_NODE_KEYS = frozenset(
    {"strategy", "targets", "name", "weight", "override_params", "retry", "request_timeout"}
    | {"on_status_codes", "cb_config"}
    | {"provider", "api_key", "custom_host", "strict_open_ai_compliance"}
    # Accepted without effect: Portkey's gateway reads azure_model_name and never uses it.
    | {"azure_model_name"}
    | {
        "id",
        "cache",
        "forward_headers",
        "default_params",
        "drop_params",
        "virtual_key",
        *extras.HOOK_KEYS,
        *extras.UNSUPPORTED_HOOK_KEYS,
    }
    | set(OPTION_KEYS)
)
_STRATEGY_KEYS = frozenset(
    {"mode", "on_status_codes", "conditions", "default", "balance", "hedge_after_ms", "cb_config"}
    | {"sticky", "sticky_session"}
)
#: Ignored keys one warning line names at most (the rest are counted).
_MAX_LOGGED_KEYS = 10


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
    #: loadbalance: requests whose named fields are equal go to the same target.
    sticky: Sticky | None = None
    cb_config: CircuitBreaker | None = None


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
    #: Portkey's ``virtual_key``: the name of a credential the gateway keeps (``limits/key_store.py``).
    virtual_key: str | None = None
    custom_host: str | None = None
    options: Mapping[str, str] = field(default_factory=dict)
    override_params: Mapping[str, Any] = field(default_factory=dict)
    retry: Retry | None = None
    #: Milliseconds each attempt at a target under this node may take.
    request_timeout: int | None = None
    #: Statuses on which a fallback moves on from this node (see ``routing/plan.py``).
    on_status_codes: frozenset[int] | None = None
    #: Its own ``cb_config``, else its strategy's; inherited by the nodes under it.
    cb_config: CircuitBreaker | None = None
    # Resolved down the tree at parse (a child's own value wins; default_params merge, drop_params add up).
    cache: Cache | None = None
    forward_headers: frozenset[str] | None = None
    default_params: Mapping[str, Any] = field(default_factory=dict)
    drop_params: frozenset[str] = frozenset()
    #: On the root: dotted paths of keys in no schema, which were ignored.
    ignored: tuple[str, ...] = ()
    #: ``False``: answers keep the provider's extras (Portkey's ``strict_open_ai_compliance``);
    #: already inherited from the parents at parse time, ``None`` when no node on the way set it.
    strict_open_ai_compliance: bool | None = None
    #: Guardrail hooks before and after the model: a node's own replace its parent's (as in
    #: Portkey); ``None`` until a node on the way sets them.
    before_hooks: tuple[Hook, ...] | None = None
    after_hooks: tuple[Hook, ...] | None = None

    @property
    def is_target(self) -> bool:
        return not self.targets

    def walk(self) -> Iterator[Node]:
        """This node and every node under it."""
        yield self
        for target in self.targets:
            yield from target.walk()


def parse_config(text: str, strict: bool = False) -> Node:
    """An inline ``x-portkey-config`` (JSON text), within the limits (``strict``: see parse_root)."""
    # Header values are decoded with surrogateescape: count the bytes as they came.
    _check_size(len(text.encode(errors="surrogateescape")))
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ConfigError("x-portkey-config is not valid JSON.", param="x-portkey-config") from None
    return parse_root(value, strict)


def parse_config_value(raw: Any, strict: bool = False, where: str = "x-portkey-config") -> Node:
    """A config already decoded (a ``[configs.<id>]`` table of the settings), within the same
    limits as an inline one: its size is that of its JSON."""
    try:
        size = len(orjson.dumps(raw))
    except orjson.JSONEncodeError:
        raise _limit(f"config is nested deeper than JSON allows; the limit is {MAX_DEPTH} levels") from None
    _check_size(size)
    return parse_root(raw, strict, where)


def parse_root(raw: Any, strict: bool = False, where: str = "x-portkey-config") -> Node:
    """A whole config: the tree of nodes, then the limits on its targets and conditions.

    Keys in no schema are ignored, as Portkey does, with one warning naming their paths (``where``
    says which config); with ``strict`` the first one is a 400 instead.
    """
    root = _inherit(_node(raw, "config", 0), None)
    targets = sum(1 for _ in root.walk()) - 1
    if targets > MAX_TARGETS:
        raise _limit(f"config has {targets} targets; the limit is {MAX_TARGETS}")
    _check_hook_count(root)
    conditions = sum(c.query.comparisons() for node in root.walk() for c in node.strategy.conditions)
    if conditions > MAX_CONDITIONS:
        raise _limit(f"config has {conditions} comparisons in its conditions; the limit is {MAX_CONDITIONS}")
    ignored = tuple(extras.unknown_paths(raw, "config", _NODE_KEYS, _STRATEGY_KEYS))
    if not ignored:
        return root
    if strict:
        raise _bad(ignored[0], "not a key of Portkey's config schema (strict_configs refuses it)")
    _warn_ignored(ignored, where)
    return dataclasses.replace(root, ignored=ignored)


def _warn_ignored(paths: tuple[str, ...], where: str) -> None:
    named = ", ".join(escaped(path[:200]) for path in paths[:_MAX_LOGGED_KEYS])
    more = f" and {len(paths) - _MAX_LOGGED_KEYS} more" if len(paths) > _MAX_LOGGED_KEYS else ""
    logger.warning("%s: keys outside Portkey's config schema are ignored: %s%s", where, named, more)


def _check_hook_count(root: Node) -> None:
    """Checks over every distinct hook of the config (an inherited hook counts once)."""
    hooks = {
        id(hook): hook
        for node in root.walk()
        for hook in (*(node.before_hooks or ()), *(node.after_hooks or ()))
    }
    checks = sum(len(hook.checks) for hook in hooks.values())
    if checks > MAX_CHECKS:
        raise _limit(f"config has {checks} guardrail checks; the limit is {MAX_CHECKS}")


def _inherit(node: Node, parent: Node | None) -> Node:
    """``node`` with what it inherits from ``parent`` (custom_host, cache, forward_headers,
    default_params, drop_params, strict_open_ai_compliance), and its targets likewise; done once,
    at parse, so a request only reads them."""
    if parent is not None:
        node = dataclasses.replace(
            node,
            custom_host=node.custom_host or parent.custom_host,
            cache=node.cache or parent.cache,
            forward_headers=parent.forward_headers if node.forward_headers is None else node.forward_headers,
            default_params={**parent.default_params, **node.default_params},
            drop_params=parent.drop_params | node.drop_params,
            strict_open_ai_compliance=parent.strict_open_ai_compliance
            if node.strict_open_ai_compliance is None
            else node.strict_open_ai_compliance,
            before_hooks=parent.before_hooks if node.before_hooks is None else node.before_hooks,
            after_hooks=parent.after_hooks if node.after_hooks is None else node.after_hooks,
        )
    if not node.targets:
        return node
    return dataclasses.replace(node, targets=tuple(_inherit(target, node) for target in node.targets))


def _check_size(size: int) -> None:
    if size > MAX_CONFIG_BYTES:
        raise _limit(f"config is {size} bytes; the limit is {MAX_CONFIG_BYTES}")


def _node(raw: Any, path: str, depth: int) -> Node:
    """One node at ``depth`` levels of ``targets`` under the root, and the nodes below it."""
    table = _object(raw, path)
    extras.refuse_unsupported(table, path)
    items = _list(table, "targets", path)
    if not items and "targets" in table:
        raise _bad(f"{path}.targets", "is empty: list at least one target, or leave 'targets' out")
    if items and depth >= MAX_DEPTH:
        raise _limit(f"{path}: targets nest more than {MAX_DEPTH} levels deep; the limit is {MAX_DEPTH}")
    targets = tuple(_node(item, f"{path}.targets[{i}]", depth + 1) for i, item in enumerate(items))
    strategy = _strategy(table.get("strategy"), f"{path}.strategy", targets)
    if targets and "provider" in table:
        raise _bad(f"{path}.provider", "a node with 'targets' routes to them and cannot name a provider too")
    hooks = parse_hooks(table, path)
    return Node(
        path=path,
        strategy=strategy,
        targets=targets,
        name=_optional_text(table, "name", path),
        weight=_weight(table.get("weight", 1.0), f"{path}.weight"),
        provider=_optional_text(table, "provider", path),
        api_key=_optional_header_text(table, "api_key", path),
        virtual_key=_optional_text(table, "virtual_key", path),
        custom_host=_optional_text(table, "custom_host", path),
        options={OPTION_KEYS[k]: _option(v, f"{path}.{k}") for k, v in table.items() if k in OPTION_KEYS},
        override_params=_object(table.get("override_params", {}), f"{path}.override_params"),
        retry=parse_retry(table.get("retry"), f"{path}.retry"),
        request_timeout=_timeout(table.get("request_timeout"), f"{path}.request_timeout"),
        on_status_codes=_optional_codes(table, path),
        cb_config=parse_cb_config(table.get("cb_config"), f"{path}.cb_config") or strategy.cb_config,
        cache=extras.parse_cache(table.get("cache"), f"{path}.cache"),
        forward_headers=extras.parse_forward_headers(table.get("forward_headers"), f"{path}.forward_headers"),
        default_params=extras.parse_default_params(table.get("default_params"), f"{path}.default_params"),
        drop_params=extras.parse_drop_params(table.get("drop_params"), f"{path}.drop_params"),
        strict_open_ai_compliance=_optional_flag(table, "strict_open_ai_compliance", path),
        before_hooks=hooks.before,
        after_hooks=hooks.after,
    )


def _strategy(raw: Any, path: str, targets: tuple[Node, ...]) -> Strategy:
    if raw is None:
        if len(targets) > 1:
            raise _bad(path, "several targets need a strategy with a mode")
        return Strategy()
    table = _object(raw, path)
    mode = table.get("mode")
    if mode not in MODES:
        raise _bad(f"{path}.mode", f"expected one of {', '.join(MODES)}, got {mode!r}")
    if not targets:
        raise _bad(path.rsplit(".", 1)[0] + ".targets", f"mode {mode!r} needs at least one target")
    strategy = Strategy(
        mode=mode,
        on_status_codes=_optional_codes(table, path),
        conditions=tuple(
            parse_condition(item, f"{path}.conditions[{i}]")
            for i, item in enumerate(_list(table, "conditions", path))
        ),
        default=_optional_text(table, "default", path),
        balance=_balance(table, mode, path),
        hedge_after_ms=_hedge(table, mode, path),
        sticky=_sticky(table, mode, path),
        cb_config=parse_cb_config(table.get("cb_config"), f"{path}.cb_config"),
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


def _sticky(table: Mapping[str, Any], mode: str, path: str) -> Sticky | None:
    """``sticky`` (or Portkey's docs' ``sticky_session``): only a weighted loadbalance sticks."""
    key = "sticky" if "sticky" in table else "sticky_session"
    sticky = extras.parse_sticky(table.get(key), f"{path}.{key}")
    if sticky is not None and (mode != "loadbalance" or table.get("balance", "weighted") != "weighted"):
        raise _bad(f"{path}.{key}", "only a loadbalance strategy with the weighted balance sticks")
    return sticky


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


def _optional_codes(table: Mapping[str, Any], path: str) -> frozenset[int] | None:
    codes = table.get("on_status_codes")
    return None if codes is None else parse_status_codes(codes, f"{path}.on_status_codes")


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


def _list(table: Mapping[str, Any], key: str, path: str) -> list[Any]:
    raw = table.get(key, [])
    if not isinstance(raw, list):
        raise _bad(f"{path}.{key}", "expected a list")
    return raw


def _option(raw: Any, path: str) -> str:
    """A provider option: text, or an object given inline (Portkey's ``vertex_service_account_json``)."""
    return orjson.dumps(raw).decode() if isinstance(raw, dict) else _header_text(raw, path)


def _header_text(raw: Any, path: str) -> str:
    """Text that may be sent upstream in a header: a key, a provider option."""
    text = _text(raw, path)
    if (problem := header_value_problem(text)) is not None:
        raise _bad(path, problem)
    return text


def _optional_header_text(table: Mapping[str, Any], key: str, path: str) -> str | None:
    return None if key not in table else _header_text(table[key], f"{path}.{key}")


def _optional_flag(table: Mapping[str, Any], key: str, path: str) -> bool | None:
    raw = table.get(key)
    if raw is not None and not isinstance(raw, bool):
        raise _bad(f"{path}.{key}", "expected true or false")
    return raw


def _optional_text(table: Mapping[str, Any], key: str, path: str) -> str | None:
    return None if key not in table else _text(table[key], f"{path}.{key}")
