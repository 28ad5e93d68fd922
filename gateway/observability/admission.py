"""Counters of admission control in one process (for the metrics endpoint).

Plain integers bumped where a request or connection is refused: a shed costs one addition here.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AdmissionCounters",
]


@dataclass(slots=True)
class AdmissionCounters:
    #: 503 ``overloaded`` because ``limits.max_in_flight`` requests were running.
    shed_in_flight: int = 0
    #: 503 ``overloaded`` because the event loop ran more than ``limits.max_loop_lag`` late.
    shed_loop_lag: int = 0
    #: 503 ``overloaded`` because ``limits.max_buffered_body_bytes`` were held.
    shed_body_bytes: int = 0
    #: Of the sheds above, those answered before the request reached the router (the cheap path).
    shed_early: int = 0
    #: Connections closed on arrival because ``limits.max_connections`` were open.
    refused_connections: int = 0
    #: Connections closed because a request's headers took longer than ``limits.header_timeout``.
    header_timeouts: int = 0
    #: 408 ``body_timeout``: a body that did not arrive within ``limits.body_timeout``.
    body_timeouts: int = 0
