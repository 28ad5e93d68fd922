"""Process logging: one line per record to stderr, with the worker's pid when there are several.

Fields that carry caller input go through :func:`escaped`, so a record stays one line: a path with
CR, LF, VT, FF, NEL or U+2028 (aiohttp percent-decodes them into ``request.path``) cannot forge
lines in the log.
"""

from __future__ import annotations

import logging
import sys

__all__ = [
    "configure_logging",
    "escaped",
]


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
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
