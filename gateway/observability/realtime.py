"""Counters of the realtime websocket sessions of one process (exposed by the metrics endpoint).

Plain integers bumped on the frame path: a frame costs two additions here, nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "RealtimeCounters",
]


@dataclass(slots=True)
class RealtimeCounters:
    #: Sessions open now, and opened since the start.
    active: int = 0
    opened: int = 0
    #: Upgrades refused because ``realtime.max_sessions`` were open.
    refused: int = 0
    #: Sessions whose provider could not be reached, refused, or did not open in time.
    failed: int = 0
    #: Messages and payload bytes, client → provider ("up") and provider → client ("down").
    frames_up: int = 0
    bytes_up: int = 0
    frames_down: int = 0
    bytes_down: int = 0
