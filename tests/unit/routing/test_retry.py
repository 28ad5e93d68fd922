"""How long a retry waits: the provider's hint first, else capped exponential backoff with jitter."""

from __future__ import annotations

import email.utils
import time

from gateway.config.settings import RetrySettings
from gateway.routing.retry import retry_after, retry_delay

SETTINGS = RetrySettings(base_delay=0.5, max_delay=4.0, max_retry_after=30.0)


def test_retry_after_in_seconds_milliseconds_and_as_an_http_date() -> None:
    assert retry_after({"retry-after": "7"}) == 7.0
    assert retry_after({"retry-after-ms": "250", "retry-after": "7"}) == 0.25
    in_ten = email.utils.formatdate(time.time() + 10, usegmt=True)
    hinted = retry_after({"retry-after": in_ten})
    assert hinted is not None
    assert 8 <= hinted <= 11
    assert retry_after({"retry-after": "soon"}) is None
    assert retry_after({}) is None


def test_a_hint_longer_than_the_maximum_is_not_waited_for() -> None:
    assert retry_delay({"retry-after": "31"}, 0, SETTINGS) is None
    assert retry_delay({"retry-after": "3"}, 0, SETTINGS) == 3.0


def test_backoff_grows_with_the_attempt_and_stays_under_the_cap() -> None:
    first = [retry_delay({}, 0, SETTINGS) for _ in range(500)]
    fifth = [retry_delay({}, 5, SETTINGS) for _ in range(500)]
    assert all(d is not None and 0 <= d <= 0.5 for d in first)
    assert all(d is not None and 0 <= d <= 4.0 for d in fifth)
    assert max(d for d in fifth if d is not None) > 0.5  # the range widened (jitter over 0..4 s)
