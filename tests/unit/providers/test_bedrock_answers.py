"""gateway/providers/bedrock_answers.py: Bedrock Converse answers, ConverseStream eventstreams and
InvokeModel embeddings as OpenAI's.

Inputs are written here in Bedrock's documented shapes (as the recordings show them): Converse JSON,
eventstream frames with ``:message-type``/``:event-type`` headers and a JSON payload padded with
``"p"``, and AWS's ``{"message": ...}`` errors.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.errors import ProviderError, UpstreamBroken
from gateway.providers.base import NativeRequest
from gateway.providers.bedrock_answers import ConverseStream, read_converse, read_embeddings
from gateway.providers.openai_format import EmbeddingsRequest
from gateway.streaming.eventstream import encode_frame
from tests.unit.providers.streams import comparable, deltas, events, translate

USAGE = {"inputTokens": 446, "outputTokens": 55, "totalTokens": 501}


def converse(*content: dict[str, Any], stop: str = "end_turn", usage: dict[str, Any] = USAGE) -> bytes:
    answer = {
        "metrics": {"latencyMs": 1771},
        "output": {"message": {"role": "assistant", "content": list(content)}},
        "stopReason": stop,
        "usage": usage,
    }
    return orjson.dumps(answer)


def read(body: bytes, status: int = 200, strict: bool = True) -> Any:
    return orjson.loads(read_converse(status, body, "anthropic.claude-sonnet-4", strict))


def tool_use(tool_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"toolUse": {"toolUseId": tool_id, "name": name, "input": arguments, "type": "tool_use"}}


def reasoning(text: str, signature: str) -> dict[str, Any]:
    return {"reasoningContent": {"reasoningText": {"text": text, "signature": signature}}}


# --- whole answers ----------------------------------------------------------------------------


def test_text_is_the_content_with_the_asked_model_and_usage() -> None:
    answer = read(converse({"text": "It is sunny."}))
    assert answer["id"].startswith("chatcmpl-")
    assert answer["model"] == "anthropic.claude-sonnet-4"
    assert answer["choices"][0]["message"]["content"] == "It is sunny."
    assert answer["choices"][0]["finish_reason"] == "stop"
    assert answer["usage"] == {"prompt_tokens": 446, "completion_tokens": 55, "total_tokens": 501}


def test_a_tool_use_is_a_tool_call_without_content() -> None:
    answer = read(converse(tool_use("tooluse_1", "get_weather", {"location": "Oslo"}), stop="tool_use"))
    choice = answer["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    assert choice["message"]["tool_calls"] == [
        {
            "id": "tooluse_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"location":"Oslo"}'},
        }
    ]


def test_reasoning_is_reasoning_content_and_comes_back_as_signed_thinking_blocks() -> None:
    redacted = {"reasoningContent": {"redactedContent": "b3BhcXVl"}}
    message = read(converse(reasoning("Two and two.", "sig-1"), redacted, {"text": "4"}))["choices"][0][
        "message"
    ]
    assert message["content"] == "4"
    assert message["reasoning_content"] == "Two and two."
    assert message["thinking_blocks"] == [
        {"type": "thinking", "thinking": "Two and two.", "signature": "sig-1"},
        {"type": "redacted_thinking", "data": "b3BhcXVl"},
    ]


def test_cache_reads_and_writes_count_as_prompt_tokens_and_are_detailed_apart() -> None:
    counts = {"inputTokens": 10, "outputTokens": 5, "cacheReadInputTokens": 100, "cacheWriteInputTokens": 30}
    assert read(converse({"text": "x"}, usage=counts))["usage"] == {
        "prompt_tokens": 140,
        "completion_tokens": 5,
        "total_tokens": 145,
        "prompt_tokens_details": {"cached_tokens": 100, "cache_creation_tokens": 30},
    }


@pytest.mark.parametrize(
    ("reason", "finish"),
    [
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("guardrail_intervened", "content_filter"),
        ("content_filtered", "content_filter"),
        ("something_new", "stop"),
    ],
)
def test_stop_reasons_become_openai_ones_and_stay_bedrocks_when_not_strict(reason: str, finish: str) -> None:
    body = converse({"text": "x"}, stop=reason)
    assert read(body)["choices"][0]["finish_reason"] == finish
    assert read(body, strict=False)["choices"][0]["finish_reason"] == reason


def test_not_strict_keeps_text_and_thinking_as_content_blocks() -> None:
    body = converse(reasoning("Hm.", "s"), {"text": "Hi"}, tool_use("t", "f", {}), stop="tool_use")
    message = read(body, strict=False)["choices"][0]["message"]
    assert message["content_blocks"] == [
        {"type": "thinking", "thinking": "Hm.", "signature": "s"},
        {"type": "text", "text": "Hi"},
    ]
    assert "content_blocks" not in read(body)["choices"][0]["message"]


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (400, b'{"message": "The provided model identifier is invalid."}', "invalid_request_error"),
        (403, b'{"Message": "The provided model identifier is invalid."}', "permission_error"),
    ],
)
def test_an_aws_error_keeps_its_message_and_names_bedrock(status: int, body: bytes, kind: str) -> None:
    assert read(body, status=status) == {
        "error": {
            "message": "bedrock: The provided model identifier is invalid.",
            "type": kind,
            "param": None,
            "code": None,
        }
    }


def test_an_error_without_a_message_reports_the_status_and_body() -> None:
    assert (
        read(b"Service Unavailable", status=503)["error"]["message"]
        == "bedrock: HTTP 503: Service Unavailable"
    )


def test_an_answer_that_is_not_json_is_a_502_naming_bedrock() -> None:
    with pytest.raises(ProviderError) as caught:
        read(b"<html>bad gateway</html>")
    assert caught.value.status == 502
    assert caught.value.message.startswith("bedrock: ")


# --- embeddings -------------------------------------------------------------------------------


def embedded(body: dict[str, Any], encoding: str = "float", status: int = 200) -> Any:
    native = EmbeddingsRequest(
        url="http://127.0.0.1:1/model/m/invoke", body=b"{}", headers={}, model="m", encoding_format=encoding
    )
    return orjson.loads(read_embeddings(status, orjson.dumps(body), native))


def test_a_titan_embedding_is_one_vector_with_its_token_count() -> None:
    answer = embedded({"embedding": [0.5, -0.25], "inputTextTokenCount": 6})
    assert answer["data"] == [{"object": "embedding", "index": 0, "embedding": [0.5, -0.25]}]
    assert answer["usage"] == {"prompt_tokens": 6, "total_tokens": 6}
    assert answer["model"] == "m"


@pytest.mark.parametrize("vectors", [[[0.5], [1.5]], {"float": [[0.5], [1.5]]}], ids=["as floats", "by type"])
def test_cohere_embeddings_are_listed_in_order_with_no_token_count(vectors: Any) -> None:
    answer = embedded({"id": "e", "embeddings": vectors, "response_type": "embeddings_floats"})
    assert [item["embedding"] for item in answer["data"]] == [[0.5], [1.5]]
    assert answer["usage"] == {"prompt_tokens": 0, "total_tokens": 0}


def test_embeddings_asked_as_base64_are_encoded() -> None:
    answer = embedded({"embedding": [0.5], "inputTextTokenCount": 1}, encoding="base64")
    assert answer["data"][0]["embedding"] == "AAAAPw=="


@pytest.mark.parametrize("body", [{"embeddings": {"int8": [[1]]}}, {"other": 1}])
def test_an_answer_without_float_embeddings_is_a_502_naming_bedrock(body: dict[str, Any]) -> None:
    with pytest.raises(ProviderError) as caught:
        embedded(body)
    assert (caught.value.status, caught.value.code) == (502, "bad_upstream_response")
    assert caught.value.message.startswith("bedrock: ")


def test_an_embeddings_error_keeps_awss_message() -> None:
    native = NativeRequest(url="http://127.0.0.1:1/", body=b"{}", headers={}, model="m")
    body = b'{"message":"The security token included in the request is expired"}'
    answer = orjson.loads(read_embeddings(403, body, native))
    assert answer["error"]["message"] == "bedrock: The security token included in the request is expired"


# --- streams ----------------------------------------------------------------------------------


def frame(kind: str, payload: dict[str, Any], message_type: str = "event") -> bytes:
    name = ":event-type" if message_type == "event" else ":exception-type"
    headers = {":message-type": message_type, name: kind, ":content-type": "application/json"}
    return encode_frame(headers, orjson.dumps({**payload, "p": "abcdefghij"}))


def delta(index: int, value: dict[str, Any]) -> bytes:
    return frame("contentBlockDelta", {"contentBlockIndex": index, "delta": value})


def finish(stop: str = "end_turn") -> bytes:
    usage = {"inputTokens": 9, "outputTokens": 4, "totalTokens": 13}
    return frame("messageStop", {"stopReason": stop}) + frame("metadata", {"usage": usage, "metrics": {}})


TOOL_STREAM = (
    frame("messageStart", {"role": "assistant"})
    + delta(0, {"text": "I'll check"})
    + delta(0, {"text": " the weather."})
    + frame("contentBlockStop", {"contentBlockIndex": 0})
    + frame(
        "contentBlockStart",
        {"contentBlockIndex": 1, "start": {"toolUse": {"name": "get_weather", "toolUseId": "tooluse_Z"}}},
    )
    + delta(1, {"toolUse": {"input": ""}})
    + delta(1, {"toolUse": {"input": '{"loca'}})
    + delta(1, {"toolUse": {"input": 'tion": "Oslo"}'}})
    + frame("contentBlockStop", {"contentBlockIndex": 1})
    + finish("tool_use")
)
REASONING_STREAM = (
    frame("messageStart", {"role": "assistant"})
    + delta(0, {"reasoningContent": {"text": "The user"}})
    + delta(0, {"reasoningContent": {"text": " says hello."}})
    + delta(0, {"reasoningContent": {"signature": "sig-9"}})
    + delta(1, {"text": "Hello!"})
    + finish()
)


def test_a_stream_is_a_role_text_a_tool_call_a_finish_usage_and_done() -> None:
    written = translate(ConverseStream("claude", include_usage=True), TOOL_STREAM)
    chunks = events(written)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert len({chunk["id"] for chunk in chunks[:-1]}) == 1
    assert deltas(written, "content") == "I'll check the weather."
    calls = [c for chunk in chunks[:-2] for c in chunk["choices"][0]["delta"].get("tool_calls", [])]
    assert calls[0] == {
        "index": 0,
        "id": "tooluse_Z",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    assert "".join(c["function"]["arguments"] for c in calls) == '{"location": "Oslo"}'
    assert {c["index"] for c in calls} == {0}
    assert chunks[-3]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-2]["usage"] == {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}
    assert chunks[-1] == "[DONE]"


@pytest.mark.parametrize("body", [TOOL_STREAM, REASONING_STREAM], ids=["tool use", "reasoning"])
@pytest.mark.parametrize("piece", [1, 3, 16, 100])
def test_reads_cut_anywhere_give_the_same_chunks(body: bytes, piece: int) -> None:
    whole = translate(ConverseStream("claude", True), body, piece=len(body))
    assert comparable(translate(ConverseStream("claude", True), body, piece=piece)) == comparable(whole)


def test_streamed_reasoning_is_reasoning_content_then_the_whole_signed_block() -> None:
    written = translate(ConverseStream("claude", False), REASONING_STREAM)
    assert deltas(written, "reasoning_content") == "The user says hello."
    assert deltas(written, "content") == "Hello!"
    blocks = [c["choices"][0]["delta"].get("thinking_blocks") for c in events(written)[:-1]]
    assert [b for b in blocks if b] == [
        [{"type": "thinking", "thinking": "The user says hello.", "signature": "sig-9"}]
    ]


def test_streamed_redacted_reasoning_comes_back_as_a_redacted_block() -> None:
    body = frame("messageStart", {}) + delta(0, {"reasoningContent": {"redactedContent": "b3Bh"}}) + finish()
    blocks = [
        c["choices"][0]["delta"].get("thinking_blocks")
        for c in events(translate(ConverseStream("c", False), body))[:-1]
    ]
    assert [b for b in blocks if b] == [[{"type": "redacted_thinking", "data": "b3Bh"}]]


def test_not_strict_stream_deltas_carry_content_blocks_and_the_raw_stop_reason() -> None:
    written = translate(ConverseStream("claude", False, strict=False), REASONING_STREAM)
    found = [c["choices"][0] for c in events(written)[:-1]]
    blocks = [
        choice["delta"].get("content_blocks") for choice in found if choice["delta"].get("content_blocks")
    ]
    assert blocks == [
        [{"index": 0, "delta": {"thinking": "The user"}}],
        [{"index": 0, "delta": {"thinking": " says hello."}}],
        [{"index": 0, "delta": {"signature": "sig-9"}}],
        [{"index": 1, "delta": {"text": "Hello!"}}],
    ]
    assert found[-1]["finish_reason"] == "end_turn"


def test_a_stream_that_ends_after_message_stop_without_metadata_still_closes() -> None:
    body = (
        frame("messageStart", {})
        + delta(0, {"text": "Hi"})
        + frame("messageStop", {"stopReason": "end_turn"})
    )
    stream = ConverseStream("claude", include_usage=True)
    chunks = events(translate(stream, body))
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1] == "[DONE]"
    assert stream.usage is None


def test_unknown_events_and_message_types_are_skipped() -> None:
    body = (
        frame("messageStart", {})
        + frame("somethingNew", {"x": 1})
        + delta(0, {"citation": {"title": "t"}})
        + frame("whatever", {}, message_type="future")
        + delta(0, {"text": "Hi"})
        + finish()
    )
    written = translate(ConverseStream("claude", False), body)
    assert deltas(written, "content") == "Hi"
    assert events(written)[-1] == "[DONE]"


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("throttlingException", 429),
        ("validationException", 400),
        ("modelStreamErrorException", 424),
        ("serviceUnavailableException", 503),
        ("internalServerException", 500),
        ("someNewException", 500),
    ],
)
def test_an_exception_frame_is_a_provider_error_with_the_status_aws_documents(name: str, status: int) -> None:
    body = frame("messageStart", {}) + frame(name, {"message": "Slow down"}, message_type="exception")
    with pytest.raises(ProviderError) as caught:
        translate(ConverseStream("claude", False), body, piece=len(body))
    assert (caught.value.status, caught.value.code, caught.value.message) == (
        status,
        name,
        "bedrock: Slow down",
    )


def test_an_error_frame_is_a_500_with_its_code_and_message() -> None:
    headers = {":message-type": "error", ":error-code": "InternalFailure", ":error-message": "Broken"}
    with pytest.raises(ProviderError) as caught:
        translate(ConverseStream("claude", False), encode_frame(headers, b""))
    assert (caught.value.status, caught.value.code, caught.value.message) == (
        500,
        "InternalFailure",
        "bedrock: Broken",
    )


def test_a_corrupt_frame_breaks_the_stream_naming_bedrock() -> None:
    good = frame("messageStart", {})
    corrupt = good[:-1] + bytes([good[-1] ^ 0xFF])
    with pytest.raises(UpstreamBroken, match="Provider bedrock sent a corrupt event stream"):
        translate(ConverseStream("claude", False), corrupt)


def test_a_stream_cut_inside_a_frame_breaks_naming_bedrock() -> None:
    body = frame("messageStart", {}) + delta(0, {"text": "Hi"}) + finish()
    with pytest.raises(UpstreamBroken, match="Provider bedrock ended the stream in the middle of an event"):
        translate(ConverseStream("claude", False), body[:-3])


def test_a_frame_whose_payload_is_not_a_json_object_breaks_the_stream() -> None:
    headers = {":message-type": "event", ":event-type": "contentBlockDelta"}
    with pytest.raises(
        UpstreamBroken, match="Provider bedrock sent a stream event that is not a JSON object"
    ):
        translate(ConverseStream("claude", False), encode_frame(headers, b"[1]"))
