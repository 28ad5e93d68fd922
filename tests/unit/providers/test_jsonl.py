"""JSON Lines split as they stream: every line whole, however the reads cut it."""

from __future__ import annotations

import pytest

from gateway.providers.jsonl import JsonLines


class Upper(JsonLines):
    __slots__ = ()

    def _line(self, line: bytes) -> bytes:
        return line.upper() + b"|" if line else b""


@pytest.mark.parametrize("size", [1, 2, 3, 5, 100])
def test_lines_are_whole_however_the_reads_cut_them(size: int) -> None:
    data = b"one\ntwo\n\nthree-is-long\nlast"
    lines = Upper()
    out = b"".join(lines.feed(data[i : i + size]) for i in range(0, len(data), size)) + lines.end()
    assert out == b"ONE|TWO|THREE-IS-LONG|LAST|"
