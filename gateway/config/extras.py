"""Portkey config keys beyond the routing tree: cache, forwarded headers, body defaults and drops,
sticky load balancing, keys for features this gateway does not have, and keys in no schema.

Each parser takes the raw value and its dotted path and returns an immutable value (or refuses it
with a 400 naming the path). Keys in no schema are found by :func:`unknown_paths`, a separate walk
of the raw JSON, so the routing parser never has to know about them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from gateway.config.fields import ConfigError, as_object, as_text, bad
from gateway.config.resilience import CB_KEYS, RETRY_KEYS

__all__ = [
    "HOOK_KEYS",
    "MAX_STICKY_TTL",
    "MAX_STICKY_VALUE",
    "UNSUPPORTED_HOOK_KEYS",
    "Cache",
    "Sticky",
    "cache_path",
    "parse_cache",
    "parse_cache_paths",
    "parse_default_params",
    "parse_drop_params",
    "parse_forward_headers",
    "parse_sticky",
    "refuse_unsupported",
    "unknown_paths",
]

#: ``cache.mode`` values Portkey accepts.
CACHE_MODES = ("simple", "semantic")
#: Guardrail keys (``config/hooks.py`` parses them), known to ``strict_configs``.
HOOK_KEYS = (
    "before_request_hooks",
    "after_request_hooks",
    "input_guardrails",
    "output_guardrails",
    "input_mutators",
    "output_mutators",
)
#: Portkey's config-level defaults, which its hosted app fills in: a non-empty value is refused,
#: never ignored (a guardrail that silently does nothing is worse than none); the
#: ``x-portkey-default-*-guardrails`` headers do the same job.
UNSUPPORTED_HOOK_KEYS = ("default_input_guardrails", "default_output_guardrails")
#: Sources a sticky hash field may read, as in conditions.
STICKY_SOURCES = ("metadata.", "params.", "url.")
#: Fields one sticky strategy may hash, and the longest value (characters) one of them may be:
#: both are what a caller's request makes the gateway hash on every request.
MAX_STICKY_FIELDS = 8
MAX_STICKY_VALUE = 1024
#: Portkey's default and the longest sticky window (30 days), in seconds.
DEFAULT_STICKY_TTL = 3600
MAX_STICKY_TTL = 30 * 24 * 3600
#: Header names one ``forward_headers`` list may hold.
MAX_FORWARD_HEADERS = 64

_CACHE_KEYS = frozenset({"mode", "max_age", "semantic_threshold", "paths"})
#: Paths one ``cache.paths`` list may mark.
MAX_CACHE_PATHS = 32
_STICKY_KEYS = frozenset({"hash_fields", "ttl"})
_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Cache:
    mode: str
    #: Seconds (Portkey's docs say seconds; its code reads milliseconds in places).
    max_age: float | None = None
    #: The cosine similarity a semantic match needs (``None``: the settings' ``semantic_threshold``).
    semantic_threshold: float | None = None
    #: JSON endpoints cached besides chat, completions and embeddings (``/v1/moderations``).
    paths: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Sticky:
    """Requests whose ``hash_fields`` are equal go to the same target for ``ttl`` seconds."""

    #: ``(source, path)``: ``("metadata", ("user_id",))``, ``("params", ("user",))``.
    hash_fields: tuple[tuple[str, tuple[str, ...]], ...]
    ttl: int = DEFAULT_STICKY_TTL


def parse_cache(raw: Any, path: str) -> Cache | None:
    if raw is None:
        return None
    table = as_object(raw, path)
    mode = table.get("mode")
    if mode not in CACHE_MODES:
        raise bad(f"{path}.mode", f"expected one of {', '.join(CACHE_MODES)}")
    max_age = table.get("max_age")
    if max_age is not None and not _seconds(max_age):
        raise bad(f"{path}.max_age", "expected a non-negative number of seconds")
    threshold = table.get("semantic_threshold")
    if threshold is not None and not (_number(threshold) and 0 < threshold <= 1):
        raise bad(f"{path}.semantic_threshold", "expected a number above 0 and at most 1")
    paths = parse_cache_paths(table.get("paths"), f"{path}.paths")
    return Cache(
        mode,
        None if max_age is None else float(max_age),
        None if threshold is None else float(threshold),
        paths,
    )


def parse_cache_paths(raw: Any, path: str) -> frozenset[str]:
    """``/v1/...`` paths (a leading ``/v1/`` may be left out); which of them the cache keeps is
    ``cache/key.py``'s rule (JSON bodies only)."""
    if raw is None:
        return frozenset()
    names = _strings(raw, path)
    if len(names) > MAX_CACHE_PATHS:
        raise bad(path, f"at most {MAX_CACHE_PATHS} paths")
    return frozenset(cache_path(name) for name in names)


def cache_path(name: str) -> str:
    """``moderations``, ``/moderations`` and ``/v1/moderations`` all mean ``/v1/moderations``."""
    name = name.strip().strip("/")
    return "/" + name if name.startswith("v1/") else "/v1/" + name


def parse_forward_headers(raw: Any, path: str) -> frozenset[str] | None:
    """Lower-cased header names; Portkey refuses the forward header itself in the list."""
    if raw is None:
        return None
    names = _strings(raw, path)
    if len(names) > MAX_FORWARD_HEADERS:
        raise bad(path, f"at most {MAX_FORWARD_HEADERS} header names")
    lowered = frozenset(name.strip().lower() for name in names)
    if "x-portkey-forward-headers" in lowered:
        raise bad(path, "must not contain 'x-portkey-forward-headers'")
    return lowered


def parse_default_params(raw: Any, path: str) -> Mapping[str, Any]:
    return _EMPTY if raw is None else MappingProxyType(as_object(raw, path))


def parse_drop_params(raw: Any, path: str) -> frozenset[str]:
    return frozenset() if raw is None else frozenset(_strings(raw, path))


def parse_sticky(raw: Any, path: str) -> Sticky | None:
    if raw is None:
        return None
    table = as_object(raw, path)
    fields = table.get("hash_fields")
    if not isinstance(fields, list) or not 0 < len(fields) <= MAX_STICKY_FIELDS:
        raise bad(f"{path}.hash_fields", f"expected a list of 1 to {MAX_STICKY_FIELDS} field names")
    parsed = []
    for i, name in enumerate(fields):
        name = as_text(name, f"{path}.hash_fields[{i}]")
        source, _, rest = name.partition(".")
        if not name.startswith(STICKY_SOURCES) or not rest or (source == "url" and rest != "pathname"):
            raise bad(f"{path}.hash_fields[{i}]", "expected metadata.<key>, params.<field> or url.pathname")
        parsed.append((source, tuple(rest.split(".")) if source == "params" else (rest,)))
    ttl = table.get("ttl", DEFAULT_STICKY_TTL)
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not 0 < ttl <= MAX_STICKY_TTL:
        raise bad(f"{path}.ttl", f"expected a whole number of seconds from 1 to {MAX_STICKY_TTL}")
    return Sticky(tuple(parsed), ttl)


def refuse_unsupported(table: Mapping[str, Any], path: str) -> None:
    """A 400 for a key whose feature this gateway does not have, when it asks for anything.

    ``id`` is accepted and has no effect (it names a saved config in Portkey's hosted app).
    """
    if "id" in table:
        as_text(table["id"], f"{path}.id")
    for key in UNSUPPORTED_HOOK_KEYS:
        value = table.get(key)
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(item, dict | str) for item in value):
            raise bad(f"{path}.{key}", "expected a list of guardrail ids or hook objects")
        if value:
            raise _unsupported(
                f"{path}.{key}",
                "config-level default guardrails are not supported; "
                "send the x-portkey-default-*-guardrails headers",
            )


def unknown_paths(
    raw: Any, path: str, node_keys: frozenset[str], strategy_keys: frozenset[str]
) -> Iterator[str]:
    """Dotted paths of the keys in no schema, in an already parsed (so well-shaped) config."""
    if not isinstance(raw, dict):
        return
    yield from (f"{path}.{key}" for key in raw if key not in node_keys)
    strategy = raw.get("strategy")
    if isinstance(strategy, dict):
        yield from (f"{path}.strategy.{key}" for key in strategy if key not in strategy_keys)
        for name in ("sticky", "sticky_session"):
            yield from _unknown_in(strategy, f"{path}.strategy", name, _STICKY_KEYS)
    yield from _unknown_in(raw, path, "cache", _CACHE_KEYS)
    yield from _unknown_in(raw, path, "retry", RETRY_KEYS)
    yield from _unknown_in(raw, path, "cb_config", CB_KEYS)
    if isinstance(strategy, dict):
        yield from _unknown_in(strategy, f"{path}.strategy", "cb_config", CB_KEYS)
    for i, target in enumerate(raw.get("targets") or ()):
        yield from unknown_paths(target, f"{path}.targets[{i}]", node_keys, strategy_keys)


def _unknown_in(table: Mapping[str, Any], path: str, key: str, known: frozenset[str]) -> Iterator[str]:
    """Dotted paths of the keys in no schema inside the object ``table[key]``, if it is one."""
    value = table.get(key)
    if isinstance(value, dict):
        yield from (f"{path}.{key}.{name}" for name in value if name not in known)


def _number(raw: Any) -> bool:
    return isinstance(raw, int | float) and not isinstance(raw, bool)


def _seconds(raw: Any) -> bool:
    return not isinstance(raw, bool) and isinstance(raw, int | float) and raw >= 0


def _strings(raw: Any, path: str) -> list[str]:
    if not isinstance(raw, list) or not all(isinstance(item, str) and item.strip() for item in raw):
        raise bad(path, "expected a list of non-empty strings")
    return raw


def _unsupported(path: str, problem: str) -> ConfigError:
    error = bad(path, problem)
    error.code = "unsupported_config_key"
    return error
