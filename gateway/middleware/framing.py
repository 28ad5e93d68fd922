"""Recognise, without aiohttp's parser, bytes that are exactly one complete, plainly framed request.

While the gateway sheds load, a request is answered with a pre-encoded 503 and its contents do not
matter: only where it ends does. Running it through aiohttp's parser (a ``RawRequestMessage``,
its headers, URL and payload objects) costs about a third of a shed, and a shed must cost under a
tenth of a served request for goodput to stay above 90 % of capacity at twice the load it can
serve (``benchmarks/overload.py``). So the early shed first asks :func:`lone_request`.

It answers only when the framing is beyond doubt, and leaves everything else to the parser:
``HTTP/1.1``, CRLF line ends, no folded header lines, no ``Transfer-Encoding`` or ``Upgrade``, at
most one ``Content-Length`` (digits only), and ``data`` ending exactly where that body ends (no
pipelined bytes after it).
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = [
    "LoneRequest",
    "lone_request",
]

_END_OF_HEAD = b"\r\n\r\n"
_VERSION = b" HTTP/1.1"
_TRANSFER_ENCODING = b"\ntransfer-encoding:"
_UPGRADE = b"\nupgrade:"
_LENGTH = b"\ncontent-length:"
_CONNECTION = b"\nconnection:"


class LoneRequest(NamedTuple):
    #: The request target up to its query (``/v1/chat/completions``), as sent.
    path: bytes
    #: The client asked to close the connection after the answer.
    close: bool
    #: The value of the header :func:`lone_request` was asked for, as sent (``None``: absent).
    header: bytes | None


def lone_request(data: bytes, header: bytes) -> LoneRequest | None:
    """``data`` as one whole request, with the value of ``header`` (lower case); ``None`` when it is
    anything else: incomplete, several requests, or framed in a way only the parser may judge."""
    end = data.find(_END_OF_HEAD)
    if end < 0:
        return None
    head = data[: end + 2]  # up to the last header's CRLF, so every header starts at "\n"
    lowered = head.lower()
    line_end = head.find(b"\r\n")
    crlf = head.count(b"\r\n")
    if (
        not head[:line_end].endswith(_VERSION)
        or head.count(b"\r") != crlf
        or head.count(b"\n") != crlf
        or _TRANSFER_ENCODING in lowered
        or _UPGRADE in lowered
        or b"\n " in head  # a folded header line
        or b"\n\t" in head
        or b"\0" in head
    ):
        return None
    length = _value(head, lowered, _LENGTH)
    if length is None or (length and not length.isdigit()) or len(data) != end + 4 + int(length or 0):
        return None
    target = head[:line_end].split(b" ")
    connection = _value(head, lowered, _CONNECTION)
    if len(target) != 3 or connection is None:
        return None
    value = _value(head, lowered, b"\n" + header + b":")
    return LoneRequest(target[1].partition(b"?")[0], b"close" in connection.lower(), value or None)


def _value(head: bytes, lowered: bytes, name: bytes) -> bytes | None:
    """The value of header ``name`` (``b"\\nname:"``, lower case) as sent, stripped; ``b""`` when
    absent, ``None`` when sent more than once."""
    start = lowered.find(name)
    if start < 0:
        return b""
    if lowered.find(name, start + 1) >= 0:
        return None
    value_start = start + len(name)
    return head[value_start : head.find(b"\r\n", value_start)].strip()
