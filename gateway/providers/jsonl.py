"""JSON Lines translated as they stream: the line splitting both batch file directions share."""

from __future__ import annotations

from abc import ABC, abstractmethod

__all__ = [
    "JsonLines",
]


class JsonLines(ABC):
    """Splits a stream into lines as it arrives and hands each whole line to :meth:`_line`.

    A line's pieces are held until its end comes, then joined once: a long line over many reads
    costs one copy, not one per read.
    """

    __slots__ = ("_pieces",)

    def __init__(self) -> None:
        self._pieces: list[bytes] = []

    def feed(self, data: bytes) -> bytes:
        """What the lines ``data`` completes translate to (``b""`` while a line is still open)."""
        complete, newline, rest = data.rpartition(b"\n")
        if not newline:
            self._pieces.append(data)
            return b""
        if self._pieces:
            complete = b"".join(self._pieces) + complete
        self._pieces = [rest] if rest else []
        return b"".join(self._line(line) for line in complete.split(b"\n"))

    def end(self) -> bytes:
        """What a last line without a line break translates to."""
        last = b"".join(self._pieces)
        self._pieces = []
        return self._line(last)

    @abstractmethod
    def _line(self, line: bytes) -> bytes:
        """One line (without its ``\\n``) translated."""
