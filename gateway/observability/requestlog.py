"""The access log and the failure warnings: sinks of the recorder (``observability/recorder.py``).

With ``access_log`` on, one line per record: each attempt, and each request the gateway refused
before any attempt; in the ``text`` format a readable line, in ``json`` one JSON object (the
fields of :func:`_json_line`). Whatever the settings, one WARNING per failure (a 5xx, or an
upstream that failed or timed out), so failures show at the default log level.

No field holds a secret: ``provider`` is a known slug, ``target`` a config path, and ``key`` the
caller's gateway key id (the operator's name for it, never the key).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

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

    def __init__(self, access: bool, access_format: str = "text") -> None:
        self.access = access
        self._line = _json_line if access_format == "json" else _line

    def write(self, record: RequestRecord) -> None:
        if _failed(record):
            _warn(record)
        if self.access:
            self._line(record)


#: What JSON leaves as it is but a line-oriented reader may take for a line end or a control:
#: DEL, NEL and the line and paragraph separators (orjson escapes only U+0000-U+001F).
_UNESCAPED = (
    (b"\x7f", b"\\u007f"),
    ("\u0085".encode(), b"\\u0085"),
    ("\u2028".encode(), b"\\u2028"),
    ("\u2029".encode(), b"\\u2029"),
)


def _json_line(record: RequestRecord) -> None:
    access_logger.info("%s", _json_bytes(_json_fields(record)).decode())


def _json_fields(record: RequestRecord) -> dict[str, Any]:
    return {
        "ts": datetime.fromtimestamp(record.ended_at, UTC).isoformat(timespec="milliseconds"),
        "trace_id": record.trace_id,
        # From the request line: percent-decoding can leave lone surrogates, which JSON cannot hold.
        "method": escaped(record.method),
        "path": escaped(record.path),
        "family": record.family,
        "provider": record.provider,
        "model": escaped(record.model),
        "target": record.target,
        "status": record.status,
        "outcome": record.outcome,
        "stream": record.stream,
        "duration_ms": round(record.duration_ms, 2),
        "upstream_ms": round(record.upstream_ms, 2),
        "first_token_ms": round(record.first_token_ms, 2),
        "gateway_ms": round(record.gateway_ms, 2),
        "input_tokens": record.input_tokens,
        "output_tokens": record.output_tokens,
        "cached_tokens": record.cached_tokens,
        "cost": record.cost,
        "cache_status": record.cache_status or None,
        "guardrails": record.guardrails or None,
        "guardrail_ms": round(record.guardrail_ms, 2),
        "key": record.key or None,
        "metadata": record.metadata,
    }


def _json_bytes(fields: dict[str, Any]) -> bytes:
    line = orjson.dumps(fields)
    if line.isascii() and b"\x7f" not in line:  # the common case: one C-level scan
        return line
    for raw, escape in _UNESCAPED:
        line = line.replace(raw, escape)
    return line


#: What both the access line and the failure warning start with (:func:`_head` fills it).
_HEAD = "%s %s %d provider=%s outcome=%s duration_ms=%.2f"
_LINE = (
    _HEAD
    + " upstream_ms=%.2f first_token_ms=%.2f prompt_tokens=%s completion_tokens=%s trace_id=%s metadata=%s"
    + " key=%s"
)
_WARNING = _HEAD + " trace_id=%s"
#: Appended when guardrail hooks ran: their verdict and total time.
_GUARDED = " guardrails=%s guardrail_ms=%.2f"


def _head(record: RequestRecord) -> tuple[object, ...]:
    return (
        escaped(record.method),
        escaped(record.path),
        record.status,
        record.provider,
        record.outcome,
        record.duration_ms,
    )


def _line(record: RequestRecord) -> None:
    guarded: tuple[object, ...] = (record.guardrails, record.guardrail_ms) if record.guardrails else ()
    access_logger.info(
        _LINE + _GUARDED if guarded else _LINE,
        *_head(record),
        record.upstream_ms,
        record.first_token_ms,
        record.input_tokens,
        record.output_tokens,
        record.trace_id,  # printable only (tracing.trace_id)
        # JSON escapes the C0 controls, not DEL, NEL or U+2028: those are escaped here.
        escaped(orjson.dumps(record.metadata).decode()) if record.metadata else "{}",
        record.key or "-",  # an id of [A-Za-z0-9._-] (config/gateway_keys.py)
        *guarded,
    )


def _failed(record: RequestRecord) -> bool:
    """A failure the operator must see: a 5xx, or an upstream that failed or timed out. A bug's
    500 is left out (its traceback is logged already: ``middleware/errors.py``), and so is a shed
    503 (admission counts sheds and logs them once per 10 s: one line each would add to the load)."""
    if record.outcome in ("internal_error", "shed"):
        return False
    return record.status >= 500 or record.outcome == "upstream_error"


def _warn(record: RequestRecord) -> None:
    failure_logger.warning(_WARNING, *_head(record), record.trace_id)
