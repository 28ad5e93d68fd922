"""What each gateway key spent and used, per budget window: the data and the in-process store.

A :class:`SpendStore` keeps, per key and per window (``limits/periods.py``), the requests, the
input and output tokens and the dollars charged. The budget check reads the dollars of the
windows a key has budgets for; the charge adds to every window at once (day, month and total),
so usage per period is there whether or not a budget names it. :class:`MemorySpend` holds one
process's; ``limits/redis_spend.py`` shares them between processes and replicas.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from gateway.limits.periods import Window

__all__ = [
    "Charge",
    "MemorySpend",
    "SpendStore",
    "Usage",
]


@dataclass(frozen=True, slots=True)
class Charge:
    """What one finished attempt adds to its key's windows."""

    #: US dollars.
    cost: float
    input_tokens: int = 0
    output_tokens: int = 0
    #: 1 when the attempt's answer is the one the client got (a retried attempt counts 0).
    requests: int = 0


@dataclass(slots=True)
class Usage:
    """A key's totals in one window."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    #: US dollars.
    cost: float = 0.0

    def add(self, charge: Charge) -> None:
        self.requests += charge.requests
        self.input_tokens += charge.input_tokens
        self.output_tokens += charge.output_tokens
        self.cost += charge.cost


class SpendStore(Protocol):
    #: Backend failures so far (each one: a check that let the request through, or a lost charge).
    @property
    def errors(self) -> int:
        """Backend failures since start."""
        ...

    async def charge(self, key_id: str, charge: Charge, windows: Sequence[Window]) -> None:
        """Add ``charge`` to each of the key's ``windows``; must not raise (a failure is counted)."""
        ...

    async def usage(self, key_id: str, windows: Sequence[Window]) -> list[Usage] | None:
        """The key's usage in each of ``windows`` (zero where nothing was charged yet); ``None``
        when the backend cannot answer (counted in ``errors``)."""
        ...

    async def close(self) -> None: ...


class MemorySpend:
    """One process's spend. Per key, only each period's current window is kept (a charge or a
    read in a newer window starts it from zero), so memory is bounded by the number of keys."""

    def __init__(self) -> None:
        self.errors = 0
        #: key id → period → (window name, usage in it).
        self._keys: dict[str, dict[str, tuple[str, Usage]]] = {}

    async def charge(self, key_id: str, charge: Charge, windows: Sequence[Window]) -> None:
        for current in windows:
            self._current(key_id, current).add(charge)

    async def usage(self, key_id: str, windows: Sequence[Window]) -> list[Usage] | None:
        return [self._current(key_id, current) for current in windows]

    async def close(self) -> None:
        return None

    def _current(self, key_id: str, current: Window) -> Usage:
        periods = self._keys.setdefault(key_id, {})
        kept = periods.get(current.period)
        if kept is None or kept[0] != current.name:
            kept = periods[current.period] = (current.name, Usage())
        return kept[1]
