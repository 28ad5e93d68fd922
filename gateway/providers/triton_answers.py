"""Reading Triton's generate-extension answers into OpenAI's ``text_completion``; ``triton.py``
builds the requests these answer.

A whole answer is ``{"model_name", "model_version", "text_output"}``; an error ``{"error": "<text>"}``
with a 4xx/5xx status. ``generate_stream`` sends one such object per SSE ``data:`` event, each
``text_output`` the text generated since the last one, and no end event: the body ending is the end
(a cut connection is the transport's error, an event cut short is a broken stream). An ``error``
object can come mid-stream under the 200 already sent. Triton reports neither token counts nor why
generation stopped: answers carry no usage and ``finish_reason`` ``stop``.
"""

from __future__ import annotations

import orjson

from gateway.errors import ProviderError, UpstreamBroken
from gateway.providers.openai_format import TextChunkWriter, error, new_id, text_completion, upstream_error
from gateway.providers.translated import json_object
from gateway.providers.translated_stream import TranslatedStream
from gateway.streaming.sse import SseDecoder, SseEvent

__all__ = [
    "SLUG",
    "GenerateStream",
    "read_generate",
]

SLUG = "triton"
#: An error inside a stream that already answered 200 carries no status: the server failed.
_STREAM_ERROR_STATUS = 500


def read_generate(status: int, body: bytes, model: str) -> bytes:
    """An OpenAI ``text_completion`` (or an OpenAI-shaped error naming Triton) from ``/generate``."""
    if status >= 400:
        return _read_error(status, body)
    answer = json_object(SLUG, body)
    text = answer.get("text_output")
    if not isinstance(text, str):
        raise ProviderError(SLUG, 502, "the answer has no 'text_output' string.", "bad_upstream_response")
    return text_completion(response_id=new_id("cmpl-"), model=model, text=text, finish_reason="stop")


def _read_error(status: int, body: bytes) -> bytes:
    """Triton's ``{"error": "<text>"}``; anything else (a proxy's page) as its raw text."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
        return error(SLUG, status, parsed["error"])
    return upstream_error(SLUG, status, body, ())


class GenerateStream(TranslatedStream[SseEvent]):
    """Translates one ``generate_stream`` body into ``text_completion`` chunks (see
    :class:`~gateway.providers.base.StreamTranslator`)."""

    __slots__ = ()

    _writer = TextChunkWriter

    def __init__(self, model: str, include_usage: bool) -> None:
        super().__init__(SLUG, model, include_usage, True, SseDecoder())

    def _event(self, event: SseEvent) -> bytes:
        try:
            payload = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            raise UpstreamBroken(f"Provider {SLUG} sent a stream event that is not JSON.") from None
        if not isinstance(payload, dict):
            raise UpstreamBroken(f"Provider {SLUG} sent a stream event that is not an object.")
        failure = payload.get("error")
        if failure is not None:
            raise ProviderError(SLUG, _STREAM_ERROR_STATUS, str(failure), "stream_error")
        text = payload.get("text_output")
        return self._chunks.text(text) if isinstance(text, str) else b""

    def end(self) -> bytes:
        if self._decoder.pending:
            raise UpstreamBroken(f"Provider {SLUG} ended the stream in the middle of an event.")
        chunks = self._chunks
        assert isinstance(chunks, TextChunkWriter)  # what _writer made
        return chunks.end_of_body()
