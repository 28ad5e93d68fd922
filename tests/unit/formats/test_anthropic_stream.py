"""Recorded OpenAI chat streams through the Messages translator, read back by the Anthropic
SDK's own stream accumulator: the same text, tool calls and usage come out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from anthropic._models import construct_type
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import Message, RawMessageStreamEvent

from gateway.cache.replay import json_from_stream
from gateway.formats.anthropic_messages import AnthropicMessages
from gateway.streaming.reformat import reformatted_events
from gateway.streaming.sse import SseDecoder

REQUEST: dict[str, Any] = {"model": "gpt-4o-mini", "max_tokens": 64, "messages": []}
RECORDED = [
    "chat-completion-stream-text-include-usage.sse",
    "chat-completion-stream-tool-call-include-usage.sse",
    "chat-completion-stream-parallel-tool-calls.sse",
]


def accumulated(events: bytes) -> Message:
    """What ``messages.stream(...).get_final_message()`` gives for these event bytes."""
    snapshot: Message | None = None
    buffers: dict[int, bytes] = {}
    for event in SseDecoder().feed(events):
        parsed = construct_type(type_=RawMessageStreamEvent, value=orjson.loads(event.data))
        assert parsed.type == event.event.decode()  # type: ignore[union-attr]
        snapshot = accumulate_event(event=parsed, current_snapshot=snapshot, json_bufs=buffers)  # type: ignore[arg-type]
    assert snapshot is not None
    return snapshot


@pytest.mark.recordings
@pytest.mark.parametrize("name", RECORDED)
def test_a_recorded_chat_stream_reads_in_the_sdk_as_its_json_answer(
    name: str, pytestconfig: pytest.Config
) -> None:
    recording = (Path(pytestconfig.getoption("--fixtures-dir")) / "openai" / name).read_bytes()
    streamed = accumulated(reformatted_events(recording, AnthropicMessages(), REQUEST))
    assembled = json_from_stream(recording)
    assert assembled is not None
    whole = AnthropicMessages().from_chat(orjson.loads(assembled), REQUEST)
    assert [block.model_dump(exclude_none=True) for block in streamed.content] == whole["content"]
    assert streamed.stop_reason == whole["stop_reason"]
    assert streamed.usage.output_tokens == whole["usage"]["output_tokens"] > 0
    assert whole["content"]  # guards the comparison


def test_an_error_mid_stream_ends_it_with_anthropics_error_event() -> None:
    chunk = {
        "id": "c",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": "Hi"}}],
    }
    error = {
        "error": {
            "message": "Provider cut off.",
            "type": "api_error",
            "param": None,
            "code": "upstream_error",
        }
    }
    body = b"data: " + orjson.dumps(chunk) + b"\n\ndata: " + orjson.dumps(error) + b"\n\n"
    events = SseDecoder().feed(reformatted_events(body, AnthropicMessages(), REQUEST))
    assert [event.event for event in events][-1] == b"error"
    assert orjson.loads(events[-1].data) == {
        "type": "error",
        "error": {"type": "api_error", "message": "Provider cut off."},
    }
    assert b"message_stop" not in [event.event for event in events]


def test_reasoning_then_signed_thinking_is_a_thinking_block_with_its_signature() -> None:
    deltas = [
        {"reasoning_content": "Let me think"},
        {"thinking_blocks": [{"type": "thinking", "thinking": "Let me think", "signature": "sig-1"}]},
        {"content": "42"},
    ]
    chunks = [{"id": "c", "choices": [{"index": 0, "delta": delta}]} for delta in deltas]
    chunks.append({"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]})
    body = b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"
    message = accumulated(reformatted_events(body, AnthropicMessages(), REQUEST))
    assert [block.model_dump() for block in message.content] == [
        {"type": "thinking", "thinking": "Let me think", "signature": "sig-1"},
        {"type": "text", "text": "42", "citations": None},
    ]
    assert message.stop_reason == "max_tokens"
