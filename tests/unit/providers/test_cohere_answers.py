"""gateway/providers/cohere_answers.py: Cohere v2 Chat and Embed answers and Chat streams as OpenAI's.

Inputs are written here in Cohere's documented v2 shapes (as the recordings show them).
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.errors import ProviderError, UpstreamBroken
from gateway.providers.base import NativeRequest
from gateway.providers.cohere_answers import ChatStream, read_chat, read_embeddings, read_error
from gateway.providers.openai_format import EmbeddingsRequest
from tests.unit.providers.streams import deltas, events, translate

TOKENS = {
    "billed_units": {"input_tokens": 4, "output_tokens": 6},
    "tokens": {"input_tokens": 70, "output_tokens": 6},
}


def chat(message: dict[str, Any], finish_reason: str = "COMPLETE", usage: dict[str, Any] = TOKENS) -> bytes:
    return orjson.dumps({"id": "c-1", "message": message, "finish_reason": finish_reason, "usage": usage})


def read(body: bytes, status: int = 200, strict: bool = True) -> dict[str, Any]:
    answer: dict[str, Any] = orjson.loads(read_chat(status, body, "command-a", strict))
    return answer


def sse(payload: dict[str, Any]) -> bytes:
    return b"event: " + payload["type"].encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def content(kind: str, text: str) -> bytes:
    return sse({"type": kind, "index": 0, "delta": {"message": {"content": {"type": "text", "text": text}}}})


def stream_body(*middle: bytes, finish: str = "COMPLETE", end: bool = True) -> bytes:
    start = sse({"type": "message-start", "id": "c-2", "delta": {"message": {"role": "assistant"}}})
    last = sse({"type": "message-end", "delta": {"finish_reason": finish, "usage": TOKENS}})
    return start + b"".join(middle) + (last + b"data: [DONE]\n\n" if end else b"")


def test_text_is_content_and_usage_counts_what_the_model_processed() -> None:
    answer = read(chat({"role": "assistant", "content": [{"type": "text", "text": "Hi there!"}]}))
    assert answer["id"] == "c-1"
    assert answer["model"] == "command-a"
    assert answer["choices"][0]["message"]["content"] == "Hi there!"
    assert answer["choices"][0]["finish_reason"] == "stop"
    assert answer["usage"] == {"prompt_tokens": 70, "completion_tokens": 6, "total_tokens": 76}


def test_billed_units_count_when_tokens_are_missing() -> None:
    body = chat({"content": [{"type": "text", "text": "x"}]}, usage={"billed_units": TOKENS["billed_units"]})
    assert read(body)["usage"] == {"prompt_tokens": 4, "completion_tokens": 6, "total_tokens": 10}


def test_tool_calls_come_as_they_are_and_the_tool_plan_is_reasoning() -> None:
    call = {"id": "Person_1", "type": "function", "function": {"name": "Person", "arguments": '{"age":27}'}}
    body = chat({"role": "assistant", "tool_plan": "I will call Person.", "tool_calls": [call]}, "TOOL_CALL")
    message = read(body)["choices"][0]["message"]
    assert message["content"] is None
    assert message["reasoning_content"] == "I will call Person."
    assert message["tool_calls"] == [call]
    assert read(body)["choices"][0]["finish_reason"] == "tool_calls"


@pytest.mark.parametrize(
    ("reason", "finish"), [("MAX_TOKENS", "length"), ("TIMEOUT", "length"), ("STOP_SEQUENCE", "stop")]
)
def test_finish_reasons_become_openai_ones_and_stay_cohere_ones_when_not_strict(
    reason: str, finish: str
) -> None:
    body = chat({"content": [{"type": "text", "text": "x"}]}, reason)
    assert read(body)["choices"][0]["finish_reason"] == finish
    assert read(body, strict=False)["choices"][0]["finish_reason"] == reason


def test_a_failed_generation_is_a_500() -> None:
    with pytest.raises(ProviderError) as caught:
        read(chat({"content": []}, "ERROR"))
    assert (caught.value.status, caught.value.code) == (500, "ERROR")


def test_an_error_answer_keeps_cohere_message() -> None:
    body = b'{"id": "e-1", "message": "model \'nonexistent\' not found"}'
    assert orjson.loads(read_error(404, body))["error"] == {
        "message": "cohere: model 'nonexistent' not found",
        "type": "not_found_error",
        "param": None,
        "code": None,
    }


def test_embeddings_are_the_float_vectors_with_the_input_token_count() -> None:
    body = orjson.dumps(
        {"embeddings": {"float": [[0.5, 1.0], [0.25, 0.0]]}, "meta": {"billed_units": {"input_tokens": 3}}}
    )
    answer = orjson.loads(read_embeddings(200, body, NativeRequest("http://x", b"", {}, "embed-v4.0")))
    assert [item["embedding"] for item in answer["data"]] == [[0.5, 1.0], [0.25, 0.0]]
    assert answer["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
    assert answer["model"] == "embed-v4.0"


def test_base64_embeddings_pass_as_cohere_encoded_them() -> None:
    body = orjson.dumps({"embeddings": {"base64": ["AAAAPw=="]}, "meta": {"tokens": {"input_tokens": 1}}})
    native = EmbeddingsRequest("http://x", b"", {}, "embed-v4.0", encoding_format="base64")
    assert orjson.loads(read_embeddings(200, body, native))["data"][0]["embedding"] == "AAAAPw=="


def test_a_text_stream_is_a_role_the_text_a_finish_usage_and_one_done() -> None:
    body = stream_body(
        content("content-start", ""), content("content-delta", "Hi"), content("content-delta", "!")
    )
    stream = ChatStream("command-a", include_usage=True)
    written = translate(stream, body)
    chunks = events(written)
    assert chunks[0]["id"] == "c-2"
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert deltas(written, "content") == "Hi!"
    assert chunks[-3]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-2]["usage"] == {"prompt_tokens": 70, "completion_tokens": 6, "total_tokens": 76}
    assert chunks.count("[DONE]") == 1


def test_a_tool_call_stream_gives_the_plan_then_one_call_with_its_arguments() -> None:
    call = {"id": "Person_1", "type": "function", "function": {"name": "Person", "arguments": ""}}
    middle = [
        sse({"type": "tool-plan-delta", "delta": {"message": {"tool_plan": "I will call Person."}}}),
        sse({"type": "tool-call-start", "index": 0, "delta": {"message": {"tool_calls": call}}}),
        *(
            sse(
                {
                    "type": "tool-call-delta",
                    "index": 0,
                    "delta": {"message": {"tool_calls": {"function": {"arguments": a}}}},
                }
            )
            for a in ('{"age"', ": 27}")
        ),
        sse({"type": "tool-call-end", "index": 0}),
    ]
    written = translate(ChatStream("command-a", False), stream_body(*middle, finish="TOOL_CALL"))
    assert deltas(written, "reasoning_content") == "I will call Person."
    calls = [c for chunk in events(written)[:-1] for c in chunk["choices"][0]["delta"].get("tool_calls", [])]
    assert calls[0]["id"] == "Person_1"
    assert "".join(c["function"]["arguments"] for c in calls) == '{"age": 27}'
    assert events(written)[-2]["choices"][0]["finish_reason"] == "tool_calls"


def test_a_stream_without_message_end_is_cut() -> None:
    with pytest.raises(UpstreamBroken, match="cohere ended the stream before it was complete"):
        translate(ChatStream("command-a", False), stream_body(content("content-delta", "Hi"), end=False))


def test_a_failed_generation_at_message_end_is_a_provider_error() -> None:
    with pytest.raises(ProviderError) as caught:
        translate(ChatStream("command-a", False), stream_body(content("content-delta", "Hi"), finish="ERROR"))
    assert (caught.value.status, caught.value.code) == (500, "ERROR")


def test_an_event_that_is_not_json_breaks_the_stream() -> None:
    with pytest.raises(UpstreamBroken, match="not JSON"):
        translate(ChatStream("command-a", False), b"event: content-delta\ndata: {oops\n\n")
