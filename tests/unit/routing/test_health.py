"""``TargetHealth``: the per-target circuit breaker and latency average, on a clock the test moves."""

from __future__ import annotations

import dataclasses

import pytest

from gateway.config.resilience import CircuitBreaker, parse_cb_config
from gateway.config.settings import BreakerSettings, SettingsError, load_settings
from gateway.routing.health import BreakerState, TargetHealth, counts
from gateway.routing.identity import TargetIdentity, target_identity

KEY = target_identity("openai", "http://127.0.0.1:9/v1", "gpt-4o", {}, "sk-one")
OTHER = target_identity("groq", "http://127.0.0.1:10/openai/v1", "llama", {}, "gsk-two")


def model(name: str) -> TargetIdentity:
    """One of several targets that differ only by model."""
    return target_identity("openai", "http://127.0.0.1:9/v1", name, {}, "sk-one")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


#: Small numbers so each test reads in its own arithmetic.
SETTINGS = BreakerSettings(consecutive_failures=3, error_rate=0.5, min_requests=10, window=10.0, cooldown=5.0)


def make(clock: FakeClock, **changes: float) -> TargetHealth:
    return TargetHealth(dataclasses.replace(SETTINGS, **changes), clock=clock)


def fail(health: TargetHealth, times: int, key: TargetIdentity = KEY) -> None:
    for _ in range(times):
        health.failed(key)


def open_breaker(health: TargetHealth) -> None:
    fail(health, 3)
    assert health.state(KEY) is BreakerState.OPEN


def test_an_unknown_target_is_allowed_and_not_tracked(clock: FakeClock) -> None:
    health = make(clock)
    assert health.allow(KEY)
    assert health.state(KEY) is BreakerState.CLOSED
    assert health.in_flight(KEY) == 0
    assert health.latency(KEY) is None
    assert health.snapshot() == []


def test_breaker_opens_after_n_consecutive_failures(clock: FakeClock) -> None:
    health = make(clock)
    fail(health, 2)
    assert health.allow(KEY)
    health.failed(KEY)
    assert health.state(KEY) is BreakerState.OPEN
    assert not health.allow(KEY)
    assert health.allow(OTHER), "one target's breaker never affects another's"


def test_a_success_resets_the_consecutive_count(clock: FakeClock) -> None:
    health = make(clock)
    fail(health, 2)
    health.succeeded(KEY, None)
    fail(health, 2)
    assert health.state(KEY) is BreakerState.CLOSED


def test_consecutive_failures_zero_turns_that_rule_off(clock: FakeClock) -> None:
    health = make(clock, consecutive_failures=0)
    fail(health, 9)  # below min_requests, so the rate rule cannot fire either
    assert health.state(KEY) is BreakerState.CLOSED


def test_breaker_opens_when_the_error_rate_passes_the_limit_with_enough_requests(clock: FakeClock) -> None:
    health = make(clock, consecutive_failures=0)
    for _ in range(4):
        health.succeeded(KEY, None)
        fail(health, 1)
    health.succeeded(KEY, None)
    health.failed(KEY)  # 5 of 10: at the limit, not past it
    assert health.state(KEY) is BreakerState.CLOSED
    health.failed(KEY)  # 6 of 11
    assert health.state(KEY) is BreakerState.OPEN


def test_a_high_error_rate_below_min_requests_keeps_it_closed(clock: FakeClock) -> None:
    health = make(clock, consecutive_failures=0)
    fail(health, 9)
    assert health.state(KEY) is BreakerState.CLOSED
    health.failed(KEY)
    assert health.state(KEY) is BreakerState.OPEN


def test_outcomes_older_than_the_window_do_not_count(clock: FakeClock) -> None:
    health = make(clock, consecutive_failures=0)
    fail(health, 9)
    clock.advance(10.0)
    health.failed(KEY)
    assert health.state(KEY) is BreakerState.CLOSED
    [row] = health.snapshot()
    assert (row["requests"], row["errors"]) == (1, 1)


def test_open_breaker_goes_half_open_after_the_cooldown_and_allows_exactly_one_probe(
    clock: FakeClock,
) -> None:
    health = make(clock)
    open_breaker(health)
    clock.advance(4.9)
    assert not health.allow(KEY)
    clock.advance(0.1)
    assert health.state(KEY) is BreakerState.HALF_OPEN
    assert health.allow(KEY)
    assert [health.allow(KEY) for _ in range(5)] == [False] * 5
    assert health.state(KEY) is BreakerState.HALF_OPEN


def test_a_successful_probe_closes_the_breaker_and_forgets_the_old_errors(clock: FakeClock) -> None:
    health = make(clock)
    open_breaker(health)
    clock.advance(5.0)
    assert health.allow(KEY)
    health.succeeded(KEY, 0.2)
    assert health.state(KEY) is BreakerState.CLOSED
    assert all(health.allow(KEY) for _ in range(3))
    [row] = health.snapshot()
    assert (row["consecutive_failures"], row["requests"], row["errors"]) == (0, 0, 0)


def test_a_failed_probe_reopens_the_breaker_for_a_full_cooldown(clock: FakeClock) -> None:
    health = make(clock)
    open_breaker(health)
    clock.advance(7.0)
    assert health.allow(KEY)
    clock.advance(1.0)
    health.failed(KEY)
    assert health.state(KEY) is BreakerState.OPEN
    clock.advance(4.9)
    assert not health.allow(KEY)
    clock.advance(0.1)
    assert health.allow(KEY)


def test_a_probe_that_never_reports_is_replaced_after_another_cooldown(clock: FakeClock) -> None:
    health = make(clock)
    open_breaker(health)
    clock.advance(5.0)
    assert health.allow(KEY)  # its request is cancelled: neither succeeded nor failed comes
    clock.advance(4.9)
    assert not health.allow(KEY)
    clock.advance(0.1)
    assert health.allow(KEY)
    assert not health.allow(KEY)


def test_late_failures_while_open_do_not_extend_the_cooldown(clock: FakeClock) -> None:
    health = make(clock)
    open_breaker(health)
    clock.advance(3.0)
    fail(health, 2)  # requests sent before the breaker opened
    clock.advance(2.0)
    assert health.allow(KEY)


def test_ewma_of_time_to_first_token(clock: FakeClock) -> None:
    health = make(clock, ewma_alpha=0.5)
    health.succeeded(KEY, None)
    assert health.latency(KEY) is None
    health.succeeded(KEY, 1.0)
    assert health.latency(KEY) == 1.0  # the first sample is the average
    health.succeeded(KEY, 3.0)
    assert health.latency(KEY) == pytest.approx(2.0)
    health.succeeded(KEY, 0.0)
    assert health.latency(KEY) == pytest.approx(1.0)


def test_ewma_uses_the_default_alpha(clock: FakeClock) -> None:
    health = TargetHealth(clock=clock)
    health.succeeded(KEY, 1.0)
    health.succeeded(KEY, 2.0)
    assert health.latency(KEY) == pytest.approx(0.2 * 2.0 + 0.8 * 1.0)


def test_in_flight_counts_never_go_negative(clock: FakeClock) -> None:
    health = make(clock)
    health.started(KEY)
    health.started(KEY)
    health.started(OTHER)
    assert (health.in_flight(KEY), health.in_flight(OTHER)) == (2, 1)
    health.finished(KEY)
    assert health.in_flight(KEY) == 1
    health.finished(KEY)
    health.finished(KEY)
    health.finished(model("never-started"))
    assert health.in_flight(KEY) == 0


def test_snapshot_rows(clock: FakeClock) -> None:
    health = make(clock)
    health.started(OTHER)
    health.succeeded(OTHER, 0.25)
    health.succeeded(KEY, None)
    open_breaker(health)
    clock.advance(2.0)
    assert health.snapshot() == [
        OTHER.describe()
        | {
            "state": "closed",
            "consecutive_failures": 0,
            "requests": 1,
            "errors": 0,
            "error_rate": 0.0,
            "in_flight": 1,
            "ewma_ttft_ms": 250.0,
            "probe_in_seconds": None,
        },
        KEY.describe()
        | {
            "state": "open",
            "consecutive_failures": 3,
            "requests": 4,
            "errors": 3,
            "error_rate": 0.75,
            "in_flight": 0,
            "ewma_ttft_ms": None,
            "probe_in_seconds": 3.0,
        },
    ]
    clock.advance(3.0)
    assert [row["state"] for row in health.snapshot()] == ["closed", "half_open"]


def test_keys_are_capped_dropping_the_oldest_closed_idle_one_first(clock: FakeClock) -> None:
    health = TargetHealth(BreakerSettings(consecutive_failures=1), clock=clock, max_keys=3)
    health.failed(model("a"))  # open: kept
    health.started(model("b"))  # busy: kept
    health.succeeded(model("c"), 0.1)  # closed and idle: dropped first
    health.succeeded(model("d"), 0.1)
    assert [row["model"] for row in health.snapshot()] == ["a", "b", "d"]
    health.finished(model("b"))
    health.succeeded(model("e"), 0.1)
    assert [row["model"] for row in health.snapshot()] == ["a", "d", "e"]


def test_a_target_idle_for_forget_after_leaves_the_table(clock: FakeClock) -> None:
    health = make(clock, forget_after=100.0)
    health.failed(KEY)
    health.started(OTHER)  # in flight: kept however long it takes
    clock.advance(99.0)
    assert len(health.snapshot()) == 2
    clock.advance(2.0)
    assert [row["model"] for row in health.snapshot()] == ["llama"]
    assert health.state(KEY) is BreakerState.CLOSED


def test_rows_show_a_fingerprint_never_the_credentials() -> None:
    options = {"aws-region": "us-east-1", "aws-secret-access-key": "SECRET-AWS", "aws-access-key-id": "AKIDX"}
    identity = target_identity("bedrock", "http://user:PASSWORD@127.0.0.1:9?k=QUERYKEY", "m", options, "sk-K")
    row = identity.describe()
    shown = repr(row)
    for secret in ("SECRET-AWS", "AKIDX", "PASSWORD", "QUERYKEY", "sk-K", "user"):
        assert secret not in shown
    assert row["options"] == {"aws-region": "us-east-1"}
    assert row["base_url"] == "http://127.0.0.1:9"
    assert len(row["credential"]) == 12
    other_key = target_identity(
        "bedrock", "http://127.0.0.1:9", "m", {**options, "aws-secret-access-key": "S2"}, "sk-K"
    )
    assert other_key.credential != identity.credential
    assert other_key != identity


def test_long_fields_are_bounded_and_stay_distinct() -> None:
    first = target_identity("openai", "http://127.0.0.1:9/v1", "m" * 5000 + "1", {}, "")
    second = target_identity("openai", "http://127.0.0.1:9/v1", "m" * 5000 + "2", {}, "")
    assert len(first.model) <= 200
    assert first != second


def test_breaker_settings_come_from_the_file_and_environment() -> None:
    settings = load_settings(
        None, environ={"GATEWAY_BREAKER_COOLDOWN": "12.5", "GATEWAY_BREAKER_MIN_REQUESTS": "4"}
    )
    assert settings.breaker == BreakerSettings(cooldown=12.5, min_requests=4)
    assert BreakerSettings() == BreakerSettings(5, 0.5, 10, 30.0, 30.0, 0.2)


@pytest.mark.parametrize("alpha", ["0", "1.5"])
def test_an_ewma_alpha_outside_zero_to_one_is_refused(alpha: str) -> None:
    with pytest.raises(SettingsError, match=r"breaker\.ewma_alpha"):
        load_settings(None, environ={"GATEWAY_BREAKER_EWMA_ALPHA": alpha})


# -- a config's cb_config -------------------------------------------------------------------------


def test_a_configs_cb_config_opens_and_cools_down_by_its_own_thresholds(clock: FakeClock) -> None:
    health = TargetHealth(SETTINGS, clock=clock)
    strict = CircuitBreaker(failure_threshold=1, cooldown=2.0)
    health.failed(KEY, strict)
    assert health.state(KEY, strict) is BreakerState.OPEN
    clock.advance(2.0)
    assert health.state(KEY, strict) is BreakerState.HALF_OPEN  # its own 2 s cooldown
    assert health.state(KEY) is BreakerState.OPEN  # a request without cb_config waits the settings' 5 s
    assert health.allow(KEY, strict)
    assert not health.allow(KEY)  # the probe is out


def test_without_cb_config_the_settings_thresholds_still_apply(clock: FakeClock) -> None:
    health = TargetHealth(SETTINGS, clock=clock)
    health.failed(KEY)
    health.failed(KEY, CircuitBreaker(cooldown=2.0))  # no threshold of its own: the settings' 3
    assert health.state(KEY) is BreakerState.CLOSED
    health.failed(KEY)
    assert health.state(KEY) is BreakerState.OPEN


def test_cb_config_error_rate_and_minimum_requests_replace_the_settings(clock: FakeClock) -> None:
    health = TargetHealth(SETTINGS, clock=clock)
    rate = CircuitBreaker(failure_threshold=100, error_rate=0.2, min_requests=4)
    for _ in range(3):
        health.succeeded(KEY)
    health.failed(KEY, rate)  # 1 of 4 failed: 25 % > 20 %
    assert health.state(KEY) is BreakerState.OPEN


@pytest.mark.parametrize(
    ("status", "codes", "counted"),
    [(503, None, True), (429, None, True), (401, None, False), (401, [401], True), (503, [401], False)],
)
def test_failure_status_codes_replace_429_and_5xx(
    status: int, codes: list[int] | None, counted: bool
) -> None:
    breaker = CircuitBreaker(failure_status_codes=None if codes is None else frozenset(codes))
    assert counts(status, breaker) is counted


@pytest.mark.parametrize(
    ("given", "seconds"), [(60_000, 60.0), (3_600_000, 300.0), (10, 1.0), (1500.5, 1.5005)]
)
def test_a_configs_cooldown_is_held_within_bounds(given: float, seconds: float) -> None:
    parsed = parse_cb_config({"cooldown_interval": given}, "config.cb_config")
    assert parsed is not None
    assert parsed.cooldown == pytest.approx(seconds)
