"""A config's ``retry`` and ``cb_config``: Portkey's keys, bounded, and 400s naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.config.fields import ConfigError
from gateway.config.resilience import (
    DEFAULT_RETRY_CODES,
    CircuitBreaker,
    Retry,
    parse_cb_config,
    parse_retry,
    parse_status_codes,
)


def test_absent_tables_are_none() -> None:
    assert parse_retry(None, "config.retry") is None
    assert parse_cb_config(None, "config.cb_config") is None


def test_retry_defaults_to_the_default_codes_and_honours_retry_after() -> None:
    assert parse_retry({"attempts": 3}, "config.retry") == Retry(3, DEFAULT_RETRY_CODES, True)
    assert parse_retry({}, "config.retry") == Retry(0, frozenset({429, 500, 502, 503, 504}), True)


@pytest.mark.parametrize("key", ["use_retry_after_header", "use_retry_after_headers"])
def test_either_spelling_turns_retry_after_off(key: str) -> None:
    retry = parse_retry({"attempts": 1, "on_status_codes": [429], key: False}, "config.retry")
    assert retry == Retry(1, frozenset({429}), False)


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ({"attempts": 11}, "config.retry.attempts"),
        ({"attempts": True}, "config.retry.attempts"),
        ({"attempts": 1, "on_status_codes": [99]}, "config.retry.on_status_codes"),
        ({"use_retry_after_header": "no"}, "config.retry.use_retry_after_header"),
        (
            {"use_retry_after_header": True, "use_retry_after_headers": False},
            "config.retry.use_retry_after_headers",
        ),
        ([], "config.retry"),
    ],
)
def test_bad_retry_is_a_400_naming_the_field(raw: Any, path: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_retry(raw, "config.retry")
    assert f"config: {path}:" in caught.value.message.replace("Invalid routing config: ", "config: ")


def test_cb_config_reads_portkeys_keys() -> None:
    raw = {
        "failure_threshold": 3,
        "failure_threshold_percentage": 50,
        "minimum_requests": 10,
        "cooldown_interval": 5000,
        "failure_status_codes": [401, 503],
    }
    assert parse_cb_config(raw, "config.cb_config") == CircuitBreaker(3, 0.5, 10, 5.0, frozenset({401, 503}))


@pytest.mark.parametrize(("milliseconds", "seconds"), [(1, 1.0), (10**9, 300.0), (2500, 2.5)])
def test_cooldowns_are_brought_within_bounds_as_portkey_takes_them(milliseconds: int, seconds: float) -> None:
    breaker = parse_cb_config({"cooldown_interval": milliseconds}, "config.cb_config")
    assert breaker is not None
    assert breaker.cooldown == seconds


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"failure_threshold": 0}, "failure_threshold"),
        ({"minimum_requests": 10_001}, "minimum_requests"),
        ({"failure_threshold_percentage": 0}, "failure_threshold_percentage"),
        ({"failure_threshold_percentage": 101}, "failure_threshold_percentage"),
        ({"cooldown_interval": -1}, "cooldown_interval"),
        ({"failure_status_codes": "500"}, "failure_status_codes"),
    ],
)
def test_bad_cb_config_is_a_400_naming_the_field(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_cb_config(raw, "config.cb_config")
    assert f"config.cb_config.{field}:" in caught.value.message


def test_status_codes_are_whole_http_statuses() -> None:
    assert parse_status_codes([500, 429], "p") == {429, 500}
    for raw in ([600], [True], ["500"], 500):
        with pytest.raises(ConfigError):
            parse_status_codes(raw, "p")
