"""Incremental Server-Sent Events parser: bytes in as they are read, whole events out.

Follows the WHATWG event-stream rules a provider stream can exercise: lines end in LF, CRLF or a
lone CR (Gemini sends CRLF), an event ends at a blank line, several ``data:`` lines join with
``\\n``, one space after the colon is dropped, lines starting with ``:`` are comments (keep-alives).
A read may end anywhere, even between the CR and LF of one line ending: the unfinished part is kept
until the next read. Pure and synchronous; bytes stay bytes (callers decode ``data`` as JSON).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SseEvent:
    #: The ``event:`` field; ``b""`` when the event had none (a plain ``message``).
    event: bytes
    data: bytes


class SseDecoder:
    __slots__ = ("_buffer", "_data", "_event", "_skip_lf")

    def __init__(self) -> None:
        self._buffer = b""
        self._event = b""
        self._data: list[bytes] = []
        #: The last read ended in CR: an LF starting the next read belongs to that line ending.
        self._skip_lf = False

    @property
    def pending(self) -> bool:
        """Whether an event was started and not finished (a stream cut mid-event)."""
        return bool(self._buffer.strip() or self._data or self._event)

    def feed(self, data: bytes) -> list[SseEvent]:
        """The events that ``data`` completes, in order."""
        if self._skip_lf and data.startswith(b"\n"):
            data = data[1:]
        self._skip_lf = False
        buffer = self._buffer + data if self._buffer else data
        events: list[SseEvent] = []
        start = 0
        size = len(buffer)
        while start < size:
            end = _line_end(buffer, start)
            if end < 0:
                break
            line = buffer[start:end]
            if buffer[end] == 13:  # CR: CRLF counts once, and a CR at the very end may have its LF next
                if end + 1 == size:
                    self._skip_lf = True
                elif buffer[end + 1] == 10:
                    end += 1
            start = end + 1
            if line:
                self._field(line)
            elif self._data or self._event:
                events.append(SseEvent(self._event, b"\n".join(self._data)))
                self._event, self._data = b"", []
        self._buffer = buffer[start:]
        return events

    def _field(self, line: bytes) -> None:
        name, colon, value = line.partition(b":")
        if not name:
            return  # a comment
        if colon and value.startswith(b" "):
            value = value[1:]
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._event = value


def _line_end(buffer: bytes, start: int) -> int:
    """Index of the first CR or LF at or after ``start``, or -1."""
    lf = buffer.find(b"\n", start)
    cr = buffer.find(b"\r", start, lf if lf >= 0 else len(buffer))
    return cr if cr >= 0 else lf
