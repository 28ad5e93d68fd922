"""gateway/providers/anthropic_answers.py: Messages API answers and event streams as OpenAI's.

Inputs are written here in the Messages API's documented shapes (as the recordings show them).
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.errors import ProviderError, UpstreamBroken
from gateway.providers.anthropic_answers import MessagesStream, read_message
from tests.unit.providers.streams import deltas, events, translate


def sse(payload: dict[str, Any]) -> bytes:
    return b"event: " + payload["type"].encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def message(content: list[dict[str, Any]], stop_reason: str = "end_turn", **usage: int) -> bytes:
    counts = {"input_tokens": 12, "output_tokens": 7, **usage}
    answer = {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": counts,
    }
    return orjson.dumps(answer)


def read(body: bytes, status: int = 200, strict: bool = True) -> dict[str, Any]:
    answer: dict[str, Any] = orjson.loads(read_message("anthropic", status, body, "claude", strict))
    return answer


def message_start() -> bytes:
    start = {"id": "msg_02", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5"}
    return sse({"type": "message_start", "message": {**start, "content": [], "usage": {"input_tokens": 9}}})


def stream_body(*blocks: bytes, stop_reason: str = "end_turn", stop: bool = True) -> bytes:
    head = message_start()
    tail = sse(
        {"type": "message_delta", "delta": {"stop_reason": stop_reason}, "usage": {"output_tokens": 4}}
    )
    return head + b"".join(blocks) + tail + (sse({"type": "message_stop"}) if stop else b"")


def text_block(index: int, *pieces: str) -> bytes:
    start = sse(
        {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}
    )
    body = b"".join(
        sse({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": piece}})
        for piece in pieces
    )
    return start + body + sse({"type": "content_block_stop", "index": index})


def test_text_and_a_tool_use_become_content_and_a_tool_call() -> None:
    body = message(
        [
            {"type": "text", "text": "Let me look."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}},
        ],
        stop_reason="tool_use",
    )
    answer = read(body)
    choice = answer["choices"][0]
    assert answer["id"] == "msg_01"
    assert answer["model"] == "claude-sonnet-4-5"
    assert choice["message"]["content"] == "Let me look."
    assert choice["message"]["tool_calls"] == [
        {
            "id": "toolu_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
        }
    ]
    assert choice["finish_reason"] == "tool_calls"
    assert answer["usage"] == {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19}


def test_cache_reads_and_writes_count_as_prompt_tokens_and_are_detailed_apart() -> None:
    body = message(
        [{"type": "text", "text": "ok"}], cache_read_input_tokens=100, cache_creation_input_tokens=30
    )
    assert read(body)["usage"] == {
        "prompt_tokens": 142,
        "completion_tokens": 7,
        "total_tokens": 149,
        "prompt_tokens_details": {"cached_tokens": 100, "cache_creation_tokens": 30},
    }


def test_thinking_is_reasoning_content_and_comes_back_as_a_signed_block() -> None:
    body = message(
        [
            {"type": "thinking", "thinking": "Two and two.", "signature": "sig-1"},
            {"type": "redacted_thinking", "data": "opaque"},
            {"type": "text", "text": "4"},
        ]
    )
    reply = read(body)["choices"][0]["message"]
    assert reply["content"] == "4"
    assert reply["reasoning_content"] == "Two and two."
    assert reply["thinking_blocks"] == [
        {"type": "thinking", "thinking": "Two and two.", "signature": "sig-1"},
        {"type": "redacted_thinking", "data": "opaque"},
    ]


@pytest.mark.parametrize(
    ("reason", "finish"),
    [("end_turn", "stop"), ("max_tokens", "length"), ("refusal", "content_filter"), ("pause_turn", "stop")],
)
def test_stop_reasons_become_openai_finish_reasons(reason: str, finish: str) -> None:
    assert (
        read(message([{"type": "text", "text": "x"}], stop_reason=reason))["choices"][0]["finish_reason"]
        == finish
    )


def test_not_strict_keeps_the_stop_reason_and_the_content_blocks_but_tool_uses() -> None:
    text = {"type": "text", "text": "Let me look."}
    body = message([text, {"type": "tool_use", "id": "t", "name": "f", "input": {}}], stop_reason="tool_use")
    choice = read(body, strict=False)["choices"][0]
    assert choice["finish_reason"] == "tool_use"
    assert choice["message"]["content_blocks"] == [text]


def test_an_error_answer_keeps_anthropics_message_and_type() -> None:
    body = b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
    assert read(body, status=529) == {
        "error": {
            "message": "anthropic: Overloaded",
            "type": "api_error",
            "param": None,
            "code": "overloaded_error",
        }
    }


def test_an_answer_that_is_not_json_is_a_502_naming_the_provider() -> None:
    with pytest.raises(ProviderError) as caught:
        read(b"<html>bad gateway</html>")
    assert caught.value.status == 502
    assert caught.value.message.startswith("anthropic: ")


def test_a_text_stream_is_a_role_the_text_a_finish_usage_and_done() -> None:
    body = stream_body(sse({"type": "ping"}), text_block(0, "Hel", "lo", "!"))
    stream = MessagesStream("anthropic", "claude", include_usage=True)
    written = translate(stream, body)
    chunks = events(written)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert {chunk["id"] for chunk in chunks[:-1]} == {"msg_02"}
    assert deltas(written, "content") == "Hello!"
    assert chunks[-3]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-2]["usage"] == {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}
    assert chunks[-1] == "[DONE]"
    assert stream.usage == chunks[-2]["usage"]


def test_tool_arguments_arrive_in_pieces_on_one_tool_call() -> None:
    use = {"type": "tool_use", "id": "toolu_9", "name": "get_weather", "input": {}}
    pieces = ['{"ci', 'ty": "Os', 'lo"}']
    block = sse({"type": "content_block_start", "index": 1, "content_block": use}) + b"".join(
        sse(
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": p},
            }
        )
        for p in pieces
    )
    written = translate(
        MessagesStream("anthropic", "claude", False), stream_body(text_block(0, "Hm."), block)
    )
    calls = [c for chunk in events(written)[:-1] for c in chunk["choices"][0]["delta"].get("tool_calls", [])]
    assert calls[0] == {
        "index": 0,
        "id": "toolu_9",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    assert "".join(call["function"]["arguments"] for call in calls) == '{"city": "Oslo"}'
    assert {call["index"] for call in calls} == {0}


def test_a_signature_delta_sends_the_whole_thinking_block() -> None:
    start = {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}
    thinking = [
        sse({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": t}})
        for t in ("Two and ", "two.")
    ]
    signature = {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "signature_delta", "signature": "s"},
    }
    body = stream_body(sse(start), *thinking, sse(signature))
    written = translate(MessagesStream("anthropic", "claude", False), body)
    assert deltas(written, "reasoning_content") == "Two and two."
    blocks = [c["choices"][0]["delta"].get("thinking_blocks") for c in events(written)[:-1]]
    assert [b for b in blocks if b] == [[{"type": "thinking", "thinking": "Two and two.", "signature": "s"}]]


@pytest.mark.parametrize("stop", [False, True], ids=["after message_delta", "inside message_stop"])
def test_a_stream_that_ends_before_message_stop_is_cut(stop: bool) -> None:
    body = stream_body(text_block(0, "Hi"), stop=False)
    if stop:
        body += b"event: message_stop\ndata: {"
    with pytest.raises(UpstreamBroken, match="anthropic ended the stream before it was complete"):
        translate(MessagesStream("anthropic", "claude", False), body)


@pytest.mark.parametrize(
    ("kind", "status"), [("overloaded_error", 529), ("rate_limit_error", 429), ("new_error", 500)]
)
def test_an_error_event_is_a_provider_error_with_the_status_of_its_type(kind: str, status: int) -> None:
    body = message_start() + sse({"type": "error", "error": {"type": kind, "message": "Busy"}})
    stream = MessagesStream("vertex-ai", "claude", False)
    with pytest.raises(ProviderError) as caught:
        translate(stream, body, piece=len(body))
    assert (caught.value.status, caught.value.code, caught.value.message) == (status, kind, "vertex-ai: Busy")


def test_not_strict_stream_deltas_carry_portkeys_content_blocks() -> None:
    written = translate(
        MessagesStream("anthropic", "claude", False, strict=False), stream_body(text_block(0, "Hi"))
    )
    texts = [
        c["choices"][0]["delta"] for c in events(written)[:-1] if c["choices"][0]["delta"].get("content")
    ]
    assert texts == [{"content": "Hi", "content_blocks": [{"index": 0, "delta": {"text": "Hi"}}]}]
    assert events(written)[-2]["choices"][0]["finish_reason"] == "end_turn"
