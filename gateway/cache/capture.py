"""An answer recorded as the client gets it, for the cache to store once it ended well."""

from __future__ import annotations

__all__ = [
    "Capture",
]


class Capture:
    """Up to ``limit`` bytes of one attempt's answer; past that (or once :meth:`drop` is called)
    the answer is not kept at all. ``key`` and ``max_age`` say where and how long to store it."""

    __slots__ = ("_data", "_limit", "key", "max_age")

    def __init__(self, key: str, max_age: float, limit: int) -> None:
        self.key = key
        self.max_age = max_age
        self._limit = limit
        self._data: bytearray | None = bytearray()

    def add(self, chunk: bytes) -> None:
        data = self._data
        if data is None:
            return
        if len(data) + len(chunk) > self._limit:
            self._data = None
            return
        data += chunk

    def drop(self) -> None:
        """Keep nothing of this answer (an error status, ``Cache-Control: no-store``)."""
        self._data = None

    @property
    def body(self) -> bytes | None:
        """What was recorded, or ``None`` when the answer is not to be stored."""
        return None if self._data is None else bytes(self._data)
