"""What every provider fake shares: the requests it recorded and where it listens."""

from __future__ import annotations

from typing import Generic, TypeVar

__all__ = [
    "RecordingFake",
]

R = TypeVar("R")


class RecordingFake(Generic[R]):
    """``received``: every request, as the fake recorded it; ``port``: set once its server runs."""

    def __init__(self) -> None:
        self.received: list[R] = []
        self.port = 0

    @property
    def host(self) -> str:
        """What a caller gives as x-portkey-custom-host: the gateway appends the provider's path."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def last(self) -> R:
        return self.received[-1]
