"""The access log and the failure warnings: sinks of the recorder (``observability/recorder.py``).

With ``access_log`` on, one line per record: each attempt, and each request the gateway refused
before any attempt. Whatever the settings, one WARNING per failure (a 5xx, or an upstream that
failed or timed out), so failures show at the default log level.
"""

from __future__ import annotations

import logging

import orjson

from gateway.observability.logging import escaped
from gateway.observability.record import RequestRecord

__all__ = [
    "AccessLog",
]

access_logger = logging.getLogger("gateway.access")
failure_logger = logging.getLogger("gateway.failures")


class AccessLog:
    """Writes each record's line (when ``access``) and each failure's warning."""

    def __init__(self, access: bool) -> None:
        self.access = access

    def write(self, record: RequestRecord) -> None:
        if _failed(record):
            _warn(record)
        if self.access:
            _line(record)


def _line(record: RequestRecord) -> None:
    access_logger.info(
        "%s %s %d provider=%s outcome=%s duration_ms=%.2f upstream_ms=%.2f first_token_ms=%.2f "
        "prompt_tokens=%s completion_tokens=%s trace_id=%s metadata=%s",
        escaped(record.method),
        escaped(record.path),
        record.status,
        record.provider,
        record.outcome,
        record.duration_ms,
        record.upstream_ms,
        record.first_token_ms,
        record.input_tokens,
        record.output_tokens,
        record.trace_id,  # printable only (tracing.trace_id)
        # JSON escapes the C0 controls, not DEL, NEL or U+2028: those are escaped here.
        escaped(orjson.dumps(record.metadata).decode()) if record.metadata else "{}",
    )


def _failed(record: RequestRecord) -> bool:
    """A failure the operator must see: a 5xx, or an upstream that failed or timed out. A bug's
    500 is left out (its traceback is logged already: ``middleware/errors.py``), and so is a shed
    503 (admission counts sheds and logs them once per 10 s: one line each would add to the load)."""
    if record.outcome in ("internal_error", "shed"):
        return False
    return record.status >= 500 or record.outcome == "upstream_error"


def _warn(record: RequestRecord) -> None:
    failure_logger.warning(
        "%s %s %d provider=%s outcome=%s duration_ms=%.2f trace_id=%s",
        escaped(record.method),
        escaped(record.path),
        record.status,
        record.provider,
        record.outcome,
        record.duration_ms,
        record.trace_id,
    )
