"""gateway/providers/translated_stream.py: what every translated stream does alike, whatever its
provider (Anthropic, Gemini, Bedrock, Cohere): reads cut anywhere, usage once reported, ``[DONE]``
only for a complete stream, an error sent after the chunks before it.

Each provider's stream is written here in its documented wire format: a text event, the events
that finish the stream, and an in-stream error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from gateway.errors import GatewayError, UpstreamBroken
from gateway.providers.anthropic_answers import MessagesStream
from gateway.providers.base import StreamTranslator
from gateway.providers.bedrock_answers import ConverseStream
from gateway.providers.cohere_answers import ChatStream
from gateway.providers.gemini_answers import GenerateContentStream
from gateway.streaming.eventstream import encode_frame
from tests.unit.providers.streams import comparable, deltas, events, translate


def sse(payload: dict[str, Any]) -> bytes:
    return b"event: " + payload["type"].encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def gemini(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\r\n\r\n"


def frame(kind: str, payload: dict[str, Any], message_type: str = "event") -> bytes:
    name = ":event-type" if message_type == "event" else ":exception-type"
    headers = {":message-type": message_type, name: kind, ":content-type": "application/json"}
    return encode_frame(headers, orjson.dumps(payload))


@dataclass(frozen=True)
class Case:
    provider: str
    translator: Callable[[], StreamTranslator]
    #: Up to and with a text delta "Hi".
    head: bytes
    #: What completes the stream: a finish reason, usage (9 in, 2 out), the provider's end.
    finish: bytes
    #: An in-stream error, answered with ``status``.
    error: bytes
    status: int


CASES = [
    Case(
        "anthropic",
        lambda: MessagesStream("anthropic", "claude", include_usage=True),
        sse(
            {"type": "message_start", "message": {"id": "m", "model": "claude", "usage": {"input_tokens": 9}}}
        )
        + sse({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}}),
        sse({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}})
        + sse({"type": "message_stop"}),
        sse({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
        529,
    ),
    Case(
        "google",
        lambda: GenerateContentStream("google", "gemini", include_usage=True),
        gemini(
            {"responseId": "r", "candidates": [{"content": {"role": "model", "parts": [{"text": "Hi"}]}}]}
        ),
        gemini(
            {
                "responseId": "r",
                "candidates": [
                    {"content": {"role": "model", "parts": [{"text": ""}]}, "finishReason": "STOP"}
                ],
                "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 2, "totalTokenCount": 11},
            }
        ),
        gemini({"error": {"code": 429, "message": "Quota", "status": "RESOURCE_EXHAUSTED"}}),
        429,
    ),
    Case(
        "bedrock",
        lambda: ConverseStream("claude", include_usage=True),
        frame("messageStart", {"role": "assistant"})
        + frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi"}}),
        frame("messageStop", {"stopReason": "end_turn"})
        + frame("metadata", {"usage": {"inputTokens": 9, "outputTokens": 2, "totalTokens": 11}}),
        frame("throttlingException", {"message": "Slow down"}, message_type="exception"),
        429,
    ),
    Case(
        "cohere",
        lambda: ChatStream("command", include_usage=True),
        sse({"type": "message-start", "id": "c", "delta": {"message": {"role": "assistant"}}})
        + sse({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "Hi"}}}}),
        sse(
            {
                "type": "message-end",
                "delta": {
                    "finish_reason": "COMPLETE",
                    "usage": {"tokens": {"input_tokens": 9, "output_tokens": 2}},
                },
            }
        )
        + b"data: [DONE]\n\n",
        sse({"type": "error", "error": {"message": "Boom"}}),
        500,
    ),
]
IDS = [case.provider for case in CASES]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_a_complete_stream_is_text_a_finish_usage_and_one_done(case: Case) -> None:
    stream = case.translator()
    written = translate(stream, case.head + case.finish)
    chunks = events(written)
    assert deltas(written, "content") == "Hi"
    assert chunks[-3]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-2]["usage"] == {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}
    assert chunks.count("[DONE]") == 1
    assert chunks[-1] == "[DONE]"
    assert stream.usage == chunks[-2]["usage"]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_reads_cut_anywhere_give_the_same_chunks(case: Case) -> None:
    body = case.head + case.finish
    whole = translate(case.translator(), body, piece=len(body))
    assert comparable(translate(case.translator(), body, piece=1)) == comparable(whole)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_usage_is_unknown_until_the_provider_reports_it(case: Case) -> None:
    stream = case.translator()
    stream.feed(case.head[: len(case.head) // 2])
    assert stream.usage is None


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_a_stream_cut_before_its_finish_breaks_naming_the_provider(case: Case) -> None:
    stream = case.translator()
    assert stream.feed(case.head)
    with pytest.raises(UpstreamBroken, match=f"Provider {case.provider} ended the stream"):
        stream.end()


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_an_error_in_the_same_read_as_text_goes_after_the_text(case: Case) -> None:
    stream = case.translator()
    written = stream.feed(case.head + case.error)
    assert deltas(written, "content") == "Hi"
    with pytest.raises(GatewayError) as caught:
        stream.end()
    assert caught.value.status == case.status
    assert caught.value.message.startswith(f"{case.provider}: ")
