"""Process logging: one line per record to stderr, with the worker's pid when there are several.

Records are written by a thread of their own (``QueueHandler`` → ``QueueListener``): a stderr that
blocks (a full pipe, a stalled log shipper) stalls that thread, never the event loop. Past
``QUEUE_SIZE`` waiting lines, new ones are dropped and counted rather than held.

Fields that carry caller input go through :func:`escaped`, so a record stays one line: a path with
CR, LF, VT, FF, NEL or U+2028 (aiohttp percent-decodes them into ``request.path``) cannot forge
lines in the log.
"""

from __future__ import annotations

import atexit
import logging
import queue
import sys
from logging.handlers import QueueHandler, QueueListener

__all__ = [
    "QUEUE_SIZE",
    "configure_logging",
    "escaped",
]

QUEUE_SIZE = 10_000
_PREFIXED = "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"


class _Deferred(QueueHandler):
    """Hands each record to the writer thread; drops it when that thread is this far behind."""

    def __init__(self, lines: queue.Queue[logging.LogRecord], listener: QueueListener) -> None:
        super().__init__(lines)
        self.listener = listener
        self.dropped = 0

    def enqueue(self, record: logging.LogRecord) -> None:
        try:
            self.queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1


class _Lines(logging.Formatter):
    """The usual prefix, except on the JSON access log's lines: each is a JSON object alone."""

    def __init__(self, bare: str | None) -> None:
        super().__init__(_PREFIXED)
        self._bare = bare

    def format(self, record: logging.LogRecord) -> str:
        if record.name == self._bare:
            return record.getMessage()
        return super().format(record)


def configure_logging(level: str, access_log_format: str = "text") -> None:
    """Send every log record to stderr through a writer thread (replacing an earlier setup)."""
    root = logging.getLogger()
    for old in root.handlers:
        if isinstance(old, _Deferred):
            atexit.unregister(old.listener.stop)  # a listener stops once (3.11 fails a second stop)
            old.listener.stop()
    writer = logging.StreamHandler(sys.stderr)
    writer.setFormatter(_Lines("gateway.access" if access_log_format == "json" else None))
    lines: queue.Queue[logging.LogRecord] = queue.Queue(QUEUE_SIZE)
    listener = QueueListener(lines, writer)
    root.handlers[:] = [_Deferred(lines, listener)]
    root.setLevel(level.upper())
    listener.start()
    atexit.register(listener.stop)  # the lines still queued are written before the process ends
    # aiohttp's own access log formats every request on the hot path; ours is queued (recorder).
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def escaped(text: str) -> str:
    """``text`` with every non-printable character (controls, line and paragraph separators,
    lone surrogates from undecodable bytes) written as a Python escape: ``\\x0b``, ``\\u2028``."""
    if text.isprintable():  # the common case: one C-level scan, no copy
        return text
    return "".join(char if char.isprintable() else _escape(char) for char in text)


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
