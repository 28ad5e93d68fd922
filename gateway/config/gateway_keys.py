"""Gateway keys and virtual keys as the settings file (``[gateway_keys.<id>]``,
``[virtual_keys.<name>]``) and the admin API write them: parsed into ``limits/caller.py``'s data.

A definition gives either the plain key (``key = "${TEAM_A_KEY}"``: only its digest is kept) or
its digest (``key_sha256``), so a settings file need not hold a key at all. Errors name the field
(``gateway_keys.team-a.limits.requests_per_minute``) and never repeat a value: they may be secrets.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from gateway.config.fields import header_value_problem
from gateway.errors import InvalidRequest
from gateway.limits.caller import PERIODS, Budget, GatewayKey, RateLimits, VirtualKey, key_digest

__all__ = [
    "MAX_KEY_LIST",
    "key_definition",
    "parse_gateway_key",
    "parse_rate_limits",
    "parse_virtual_key",
    "virtual_key_definition",
]

#: Entries one allow list (providers, models, configs, virtual keys) may hold.
MAX_KEY_LIST = 1000
#: Metadata pairs a key may add to each request (as ``x-portkey-metadata`` allows).
MAX_METADATA = 32
_DIGEST = re.compile(r"[0-9a-f]{64}")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_LIMIT_FIELDS = ("requests_per_minute", "tokens_per_minute", "concurrent_requests", "concurrent_streams")
_KEY_FIELDS = frozenset(
    {
        "name",
        "key",
        "key_sha256",
        "providers",
        "models",
        "configs",
        "virtual_keys",
        "default_config",
        "metadata",
        "limits",
        "model_limits",
        "budgets",
        "expires_at",
        "revoked",
    }
)
_VIRTUAL_FIELDS = frozenset({"provider", "api_key", "options", "base_url", "limits"})


def parse_gateway_key(key_id: str, raw: Any, path: str) -> GatewayKey:
    """The key ``key_id`` defined by ``raw`` (a table / JSON object) found at ``path``."""
    table = _table(raw, path)
    if not _ID.fullmatch(key_id):
        raise _bad(path, "a key id is 1 to 128 letters, digits, '.', '_' or '-'")
    _known(table, _KEY_FIELDS, path)
    return GatewayKey(
        id=key_id,
        name=_text(table.get("name", key_id), f"{path}.name"),
        digest=_digest(table, path),
        providers=_names(table.get("providers"), f"{path}.providers"),
        models=_names(table.get("models"), f"{path}.models"),
        configs=_names(table.get("configs"), f"{path}.configs"),
        virtual_keys=_names(table.get("virtual_keys"), f"{path}.virtual_keys"),
        default_config=_text(table.get("default_config", ""), f"{path}.default_config", empty=True),
        metadata=_metadata(table.get("metadata"), f"{path}.metadata"),
        limits=parse_rate_limits(table.get("limits"), f"{path}.limits"),
        model_limits={
            model: parse_rate_limits(value, f"{path}.model_limits.{model}")
            for model, value in _table(table.get("model_limits", {}), f"{path}.model_limits").items()
        },
        budgets=_budgets(table.get("budgets"), f"{path}.budgets"),
        expires_at=_optional_number(table.get("expires_at"), f"{path}.expires_at"),
        revoked=_flag(table.get("revoked", False), f"{path}.revoked"),
    )


def parse_virtual_key(name: str, raw: Any, path: str) -> VirtualKey:
    table = _table(raw, path)
    if not _ID.fullmatch(name):
        raise _bad(path, "a virtual key name is 1 to 128 letters, digits, '.', '_' or '-'")
    _known(table, _VIRTUAL_FIELDS, path)
    options = _table(table.get("options", {}), f"{path}.options")
    if not all(isinstance(value, str) for value in options.values()):
        raise _bad(f"{path}.options", "expected a table of strings")
    for option, value in options.items():
        _check_header_value(value, f"{path}.options.{option}")
    api_key = _text(table.get("api_key", ""), f"{path}.api_key", empty=True)
    _check_header_value(api_key, f"{path}.api_key")
    return VirtualKey(
        name=name,
        provider=_text(table.get("provider"), f"{path}.provider"),
        api_key=api_key,
        options=dict(options),
        base_url=_text(table.get("base_url", ""), f"{path}.base_url", empty=True),
        limits=parse_rate_limits(table.get("limits"), f"{path}.limits"),
    )


def parse_rate_limits(raw: Any, path: str) -> RateLimits:
    if raw is None:
        return RateLimits()
    table = _table(raw, path)
    _known(table, frozenset(_LIMIT_FIELDS), path)
    values = {}
    for name in _LIMIT_FIELDS:
        value = table.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise _bad(f"{path}.{name}", "expected a whole number of at least 1")
        values[name] = value
    return RateLimits(**values)


def key_definition(key: GatewayKey) -> dict[str, Any]:
    """``key`` as :func:`parse_gateway_key` reads it (with ``key_sha256``, never a plain key);
    defaults are left out."""
    definition: dict[str, Any] = {"name": key.name, "key_sha256": key.digest}
    for name in ("providers", "models", "configs", "virtual_keys"):
        if values := getattr(key, name):
            definition[name] = sorted(values)
    if key.default_config:
        definition["default_config"] = key.default_config
    if key.metadata:
        definition["metadata"] = dict(key.metadata)
    if key.limits.any:
        definition["limits"] = _limits_definition(key.limits)
    if key.model_limits:
        definition["model_limits"] = {m: _limits_definition(v) for m, v in key.model_limits.items()}
    if key.budgets:
        definition["budgets"] = [{"amount": b.amount, "period": b.period} for b in key.budgets]
    if key.expires_at is not None:
        definition["expires_at"] = key.expires_at
    if key.revoked:
        definition["revoked"] = True
    return definition


def virtual_key_definition(virtual: VirtualKey) -> dict[str, Any]:
    """``virtual`` as :func:`parse_virtual_key` reads it, secrets included: for storage only."""
    definition: dict[str, Any] = {"provider": virtual.provider}
    if virtual.api_key:
        definition["api_key"] = virtual.api_key
    if virtual.options:
        definition["options"] = dict(virtual.options)
    if virtual.base_url:
        definition["base_url"] = virtual.base_url
    if virtual.limits.any:
        definition["limits"] = _limits_definition(virtual.limits)
    return definition


def _limits_definition(limits: RateLimits) -> dict[str, int]:
    return {name: value for name in _LIMIT_FIELDS if (value := getattr(limits, name)) is not None}


def _digest(table: Mapping[str, Any], path: str) -> str:
    plain, digest = table.get("key"), table.get("key_sha256")
    if (plain is None) == (digest is None):
        raise _bad(path, "give exactly one of key and key_sha256")
    if plain is not None:
        key = _text(plain, f"{path}.key")
        if len(key) < 16:
            raise _bad(f"{path}.key", "a gateway key is at least 16 characters (use a random one)")
        return key_digest(key)
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise _bad(f"{path}.key_sha256", "expected 64 lower-case hex digits (the key's SHA-256)")
    return digest


def _budgets(raw: Any, path: str) -> tuple[Budget, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise _bad(path, "expected a list of {amount, period}")
    budgets = []
    for i, item in enumerate(raw):
        table = _table(item, f"{path}[{i}]")
        _known(table, frozenset({"amount", "period"}), f"{path}[{i}]")
        amount = table.get("amount")
        if (
            isinstance(amount, bool)
            or not isinstance(amount, int | float)
            or not math.isfinite(amount)
            or amount < 0
        ):
            raise _bad(f"{path}[{i}].amount", "expected a non-negative number of US dollars")
        period = table.get("period", "month")
        if period not in PERIODS:
            raise _bad(f"{path}[{i}].period", f"expected one of {', '.join(PERIODS)}")
        budgets.append(Budget(float(amount), period))
    return tuple(budgets)


def _metadata(raw: Any, path: str) -> dict[str, str]:
    if raw is None:
        return {}
    table = _table(raw, path)
    if len(table) > MAX_METADATA or not all(isinstance(value, str) for value in table.values()):
        raise _bad(path, f"expected at most {MAX_METADATA} string values")
    return dict(table)


def _names(raw: Any, path: str) -> frozenset[str]:
    if raw is None:
        return frozenset()
    if not isinstance(raw, list) or not all(isinstance(item, str) and item for item in raw):
        raise _bad(path, "expected a list of non-empty strings")
    if len(raw) > MAX_KEY_LIST:
        raise _bad(path, f"at most {MAX_KEY_LIST} entries")
    return frozenset(raw)


def _optional_number(raw: Any, path: str) -> float | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise _bad(path, "expected a Unix time in seconds")
    return float(raw)


def _flag(raw: Any, path: str) -> bool:
    if not isinstance(raw, bool):
        raise _bad(path, "expected true or false")
    return raw


def _text(raw: Any, path: str, *, empty: bool = False) -> str:
    if not isinstance(raw, str) or (not raw and not empty):
        raise _bad(path, "expected a non-empty string" if not empty else "expected a string")
    return raw


def _check_header_value(value: str, path: str) -> None:
    if (problem := header_value_problem(value)) is not None:
        raise _bad(path, problem)


def _table(raw: Any, path: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise _bad(path, "expected a table (a JSON object)")
    return raw


def _known(table: Mapping[str, Any], fields: frozenset[str], path: str) -> None:
    unknown = sorted(set(table) - fields)
    if unknown:
        raise _bad(f"{path}.{unknown[0]}", "unknown field")


def _bad(path: str, problem: str) -> InvalidRequest:
    return InvalidRequest(f"{path}: {problem}.", param=path, code="invalid_key_definition")
