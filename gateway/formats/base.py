"""The contract of an inbound client format: a request in another API's shape (Anthropic
Messages, OpenAI Responses) served through the chat form.

The gateway turns the client's request into an OpenAI chat completions request before planning,
so routing, cache, guardrails, limits and accounting all see a chat request; every provider is
then reached as it is for ``/v1/chat/completions``, and the answer comes back through the same
format: a JSON answer through :meth:`InboundFormat.from_chat`, an error through
:meth:`InboundFormat.error`, a stream event by event through a :class:`FormatStream`.

Pure and synchronous: no I/O, no state shared between requests (a :class:`FormatStream` is one
answer's).
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = [
    "FormatStream",
    "InboundFormat",
]


class FormatStream(Protocol):
    """One streamed answer's translator: chat chunks in, the client format's events out."""

    def feed(self, chunk: dict[str, Any]) -> bytes:
        """One chat.completion.chunk (parsed) → the client format's SSE bytes (possibly b"")."""
        ...

    def end(self, error: dict[str, Any] | None = None) -> bytes:
        """The closing events (or an in-band error event in the client's shape)."""
        ...


class InboundFormat(Protocol):
    """A client format the gateway serves through the chat form."""

    #: ``anthropic_messages``, ``responses``.
    name: str

    def to_chat(self, body: dict[str, Any]) -> dict[str, Any]:
        """The client's request as an OpenAI chat completions request; InvalidRequest (400) for
        what cannot be expressed. Keeps `stream`; asks for usage in streams
        (stream_options.include_usage) so the answer can report it."""
        ...

    def from_chat(self, answer: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
        """A chat completion (JSON) as the client's answer object."""
        ...

    def error(self, status: int, openai_error: dict[str, Any]) -> dict[str, Any]:
        """An OpenAI-shaped error body in the client format's error shape."""
        ...

    def stream(self, request: dict[str, Any]) -> FormatStream:
        """A fresh incremental translator for one streamed answer."""
        ...
