"""A routing config's resilience keys: ``retry``, ``on_status_codes`` and ``cb_config``.

Parsed once with the rest of the config (``routing.py`` calls in here), into immutable values the
plan hands down the tree. Spellings are Portkey's: ``retry.use_retry_after_header`` (its schema)
and ``use_retry_after_headers`` (its docs) are one switch; ``cb_config`` is its circuit breaker
(``failure_threshold``, ``failure_threshold_percentage``, ``minimum_requests``,
``cooldown_interval`` in milliseconds, ``failure_status_codes``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.config.fields import as_object as _object
from gateway.config.fields import bad

__all__ = [
    "CB_KEYS",
    "DEFAULT_RETRY_CODES",
    "RETRY_KEYS",
    "CircuitBreaker",
    "Retry",
    "parse_cb_config",
    "parse_retry",
    "parse_status_codes",
]

#: Portkey's default retry statuses (a timed-out attempt, 408, is retried only when named).
DEFAULT_RETRY_CODES = frozenset({429, 500, 502, 503, 504})
_RETRY_AFTER_KEYS = ("use_retry_after_header", "use_retry_after_headers")
#: The keys ``retry`` and ``cb_config`` have (others are ignored, or refused under strict_configs:
#: ``extras.unknown_paths``).
RETRY_KEYS = frozenset({"attempts", "on_status_codes", *_RETRY_AFTER_KEYS})

#: A breaker's cooldown is held within these (ms) whatever a config asks: breakers are shared by
#: every caller with the same key, and an hour-long cooldown would lock that key out for an hour.
#: Portkey enforces a 30 s minimum; here the half-open probe (one request) makes short ones safe.
MIN_COOLDOWN_MS = 1_000
MAX_COOLDOWN_MS = 300_000
#: Largest ``failure_threshold`` and ``minimum_requests``: beyond these a breaker never opens.
MAX_BREAKER_COUNT = 10_000
CB_KEYS = frozenset(
    {
        "failure_threshold",
        "failure_threshold_percentage",
        "minimum_requests",
        "cooldown_interval",
        "failure_status_codes",
    }
)


@dataclass(frozen=True, slots=True)
class Retry:
    attempts: int = 0
    on_status_codes: frozenset[int] = DEFAULT_RETRY_CODES
    #: Wait as long as the provider's ``retry-after(-ms)`` asks (up to ``retries.max_retry_after``);
    #: ``False`` (``use_retry_after_header: false``): back off on the gateway's schedule alone.
    use_retry_after: bool = True


@dataclass(frozen=True, slots=True)
class CircuitBreaker:
    """A config's ``cb_config``: its thresholds for the breakers of the targets under it. ``None``
    keeps the settings' ``[breaker]`` value."""

    #: Failures in a row that open the breaker.
    failure_threshold: int | None = None
    #: Share of failed requests (0..1) in the breaker window that opens it.
    error_rate: float | None = None
    min_requests: int | None = None
    #: Seconds an open breaker waits before its probe, within the bounds above.
    cooldown: float | None = None
    #: Upstream statuses that count as failures (``None``: 429 and 5xx). Connection failures and
    #: timed-out attempts always count: they say nothing good about the target.
    failure_status_codes: frozenset[int] | None = None


def parse_retry(raw: Any, path: str) -> Retry | None:
    if raw is None:
        return None
    table = _object(raw, path)
    attempts = table.get("attempts", 0)
    if not isinstance(attempts, int) or isinstance(attempts, bool) or not 0 <= attempts <= 10:
        raise bad(f"{path}.attempts", "expected a whole number from 0 to 10")
    codes = table.get("on_status_codes")
    return Retry(
        attempts,
        DEFAULT_RETRY_CODES if codes is None else parse_status_codes(codes, f"{path}.on_status_codes"),
        _use_retry_after(table, path),
    )


def _use_retry_after(table: Mapping[str, Any], path: str) -> bool:
    """Either spelling; both given must agree (one config saying two things is a mistake)."""
    given = {key: table[key] for key in _RETRY_AFTER_KEYS if key in table}
    for key, value in given.items():
        if not isinstance(value, bool):
            raise bad(f"{path}.{key}", "expected true or false")
    if len(set(given.values())) > 1:
        raise bad(f"{path}.{_RETRY_AFTER_KEYS[1]}", f"disagrees with {_RETRY_AFTER_KEYS[0]}")
    return all(given.values())


def parse_cb_config(raw: Any, path: str) -> CircuitBreaker | None:
    if raw is None:
        return None
    table = _object(raw, path)
    percentage = table.get("failure_threshold_percentage")
    if percentage is not None and (
        isinstance(percentage, bool) or not isinstance(percentage, int | float) or not 0 < percentage <= 100
    ):
        raise bad(f"{path}.failure_threshold_percentage", "expected a number above 0, at most 100")
    codes = table.get("failure_status_codes")
    return CircuitBreaker(
        failure_threshold=_count(table, "failure_threshold", path),
        error_rate=None if percentage is None else percentage / 100,
        min_requests=_count(table, "minimum_requests", path),
        cooldown=_cooldown(table.get("cooldown_interval"), f"{path}.cooldown_interval"),
        failure_status_codes=None
        if codes is None
        else parse_status_codes(codes, f"{path}.failure_status_codes"),
    )


def _count(table: Mapping[str, Any], key: str, path: str) -> int | None:
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_BREAKER_COUNT:
        raise bad(f"{path}.{key}", f"expected a whole number from 1 to {MAX_BREAKER_COUNT}")
    return value


def _cooldown(raw: Any, path: str) -> float | None:
    """Seconds; a value outside the bounds is brought within them, as Portkey raises short ones
    to its minimum, so a config Portkey takes is taken here too."""
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float) or raw <= 0:
        raise bad(path, "expected a positive number of milliseconds")
    return min(max(raw, MIN_COOLDOWN_MS), MAX_COOLDOWN_MS) / 1000


def parse_status_codes(raw: Any, path: str) -> frozenset[int]:
    if not isinstance(raw, list) or not all(
        isinstance(c, int) and not isinstance(c, bool) and 100 <= c <= 599 for c in raw
    ):
        raise bad(path, "expected a list of HTTP status codes")
    return frozenset(raw)
