"""What the relay reads of an upstream answer, whichever client fetched it.

``aiohttp.ClientResponse`` (the session) and ``upstream.lean.LeanResponse`` (the lean client)
both fit: the status line, the headers, the body as it arrives, or whole.
"""

from __future__ import annotations

from typing import Protocol

from aiohttp import StreamReader
from multidict import CIMultiDictProxy

__all__ = [
    "UpstreamAnswer",
]


class UpstreamAnswer(Protocol):
    @property
    def status(self) -> int: ...

    @property
    def reason(self) -> str | None: ...

    @property
    def headers(self) -> CIMultiDictProxy[str]: ...

    @property
    def content(self) -> StreamReader: ...

    @property
    def content_length(self) -> int | None: ...

    async def read(self) -> bytes:
        """The whole body."""
