"""How long to wait before trying the same target again.

A provider's own hint wins (``retry-after-ms``, Azure's ``x-ms-retry-after-ms``, then
``Retry-After`` in seconds or as an HTTP date) unless the config's ``retry`` says
``use_retry_after_header: false``; without one, exponential backoff with full jitter (a random
wait between 0 and base × 2^attempt, capped), so retrying clients spread out instead of hitting
a recovering provider together.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping

from gateway.config.settings import RetrySettings

__all__ = [
    "NEVER_RETRIED",
    "retry_after",
    "retry_delay",
]

#: Statuses that will not change on a second try (context too long, content policy, bad field).
NEVER_RETRIED = frozenset({400, 401, 403, 404, 413, 422})
#: Hints in milliseconds, read before ``Retry-After`` (OpenAI's, then Azure's spelling).
_MILLISECOND_HINTS = ("retry-after-ms", "x-ms-retry-after-ms")


def retry_delay(
    headers: Mapping[str, str], attempt: int, settings: RetrySettings, *, use_hint: bool = True
) -> float | None:
    """Seconds to wait before retry number ``attempt`` (0 for the first); ``None`` when the
    provider asks for longer than ``max_retry_after`` (better to try another target).
    ``use_hint=False`` ignores the provider's hint (Portkey's ``use_retry_after_header: false``)."""
    hinted = retry_after(headers) if use_hint else None
    if hinted is not None:
        return hinted if hinted <= settings.max_retry_after else None
    return random.uniform(0, min(settings.max_delay, settings.base_delay * 2**attempt))


def retry_after(headers: Mapping[str, str]) -> float | None:
    """The provider's requested wait in seconds, if it sent a readable one."""
    for name in _MILLISECOND_HINTS:
        milliseconds = headers.get(name)
        if milliseconds is not None:
            try:
                return max(0.0, float(milliseconds) / 1000)
            except ValueError:
                pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
