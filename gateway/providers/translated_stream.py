"""The set-up every translated provider's stream translator shares.

A translated stream is a decoder that cuts the provider's body into events (SSE, or Bedrock's
eventstream frames), a :class:`~gateway.providers.openai_format.ChunkWriter` that writes the
OpenAI chunks (and the usage chunk and ``[DONE]``), and the strict-compliance flag; only reading
one event is the provider's own (:meth:`TranslatedStream._event`).

A base class rather than a helper each translator holds and calls: ``feed`` runs for every read
of every stream, and a held helper would cost one more call there.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from gateway.providers.openai_format import ChunkWriter

__all__ = [
    "TranslatedStream",
]

_Event = TypeVar("_Event")
_Event_co = TypeVar("_Event_co", covariant=True)


class EventDecoder(Protocol[_Event_co]):
    """Splits body bytes, cut anywhere, into whole events (``SseDecoder``, ``EventStreamDecoder``)."""

    def feed(self, data: bytes) -> Sequence[_Event_co]: ...

    @property
    def pending(self) -> int:
        """Non-zero while an event is started and not finished."""


class TranslatedStream(ABC, Generic[_Event]):
    """A :class:`~gateway.providers.base.StreamTranslator` that translates event by event.

    ``feed`` returns the chunks of the events a read completes (an error event raises once the
    chunks before it went out, see :meth:`ChunkWriter.each`); ``end`` closes a finished stream with
    ``[DONE]`` and raises :class:`~gateway.errors.UpstreamBroken` for one that was cut.
    """

    __slots__ = ("_chunks", "_decoder", "_provider", "_strict")

    #: ``True``: only the provider's own end event (:meth:`ChunkWriter.close`) completes the
    #: stream; a finish reason without it is a cut stream.
    _finished_by_close: ClassVar[bool] = False
    #: What writes the OpenAI events: chat chunks, or text-completion chunks for ``/v1/completions``.
    _writer: ClassVar[type[ChunkWriter]] = ChunkWriter

    def __init__(
        self, provider: str, model: str, include_usage: bool, strict: bool, decoder: EventDecoder[_Event]
    ) -> None:
        self._provider = provider
        self._decoder = decoder
        self._chunks = self._writer(model, include_usage)
        #: ``False``: the provider's extras too, as Portkey passes them (each translator says which).
        self._strict = strict

    @property
    def usage(self) -> dict[str, Any] | None:
        return self._chunks.usage

    def feed(self, data: bytes) -> bytes:
        return self._chunks.each(self._decoder.feed(data), self._event)

    def end(self) -> bytes:
        return self._chunks.end(self._provider, finished_by_close=self._finished_by_close)

    @abstractmethod
    def _event(self, event: _Event) -> bytes:
        """The OpenAI chunks (SSE bytes, often ``b""``) of one provider event."""
