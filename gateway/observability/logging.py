"""Process logging: one line per record to stderr, with the worker's pid when there are several."""

from __future__ import annotations

import logging
import sys


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiohttp's own access log formats every request on the hot path; ours is queued (requestlog).
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
