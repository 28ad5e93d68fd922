"""gateway/providers/openai_format.py: the OpenAI answers every translated provider writes.

What a client of a translated provider reads: whole completions, usage, tool calls, embeddings,
errors, and the chunks of a stream (:class:`ChunkWriter`).
"""

from __future__ import annotations

import base64
import struct
import time
from typing import Any

import orjson
import pytest

from gateway.errors import GatewayError, ProviderError, UpstreamBroken
from gateway.providers.base import NativeRequest
from gateway.providers.openai_format import (
    ChunkWriter,
    EmbeddingsRequest,
    completion,
    embeddings,
    error,
    new_id,
    tool_call,
    upstream_error,
    usage,
)
from tests.unit.providers.streams import events

# --- usage, tool calls, ids -------------------------------------------------------------------


def test_usage_totals_prompt_and_completion_and_adds_no_details_unasked() -> None:
    assert usage(12, 7) == {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19}


def test_usage_details_cached_reasoning_and_cache_written_tokens() -> None:
    assert usage(100, 20, cached=60, reasoning=15, cache_write=30) == {
        "prompt_tokens": 100,
        "completion_tokens": 20,
        "total_tokens": 120,
        "prompt_tokens_details": {"cached_tokens": 60, "cache_creation_tokens": 30},
        "completion_tokens_details": {"reasoning_tokens": 15},
    }


def test_usage_with_cache_writes_only_reports_zero_cached_tokens() -> None:
    assert usage(40, 1, cache_write=30)["prompt_tokens_details"] == {
        "cached_tokens": 0,
        "cache_creation_tokens": 30,
    }


def test_a_tool_call_is_an_openai_function_call() -> None:
    assert tool_call("call_1", "get_weather", '{"city":"Oslo"}') == {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
    }


def test_a_tool_call_carries_the_providers_fields_beside_and_inside_its_function() -> None:
    extra = {"extra_content": {"google": {"thought_signature": "sig"}}}
    call = tool_call("c", "f", "{}", extra, {"thought_signature": "sig"})
    assert call == {
        "id": "c",
        "type": "function",
        "function": {"name": "f", "arguments": "{}", "thought_signature": "sig"},
        "extra_content": {"google": {"thought_signature": "sig"}},
    }


def test_new_ids_have_the_prefix_and_differ() -> None:
    first, second = new_id(), new_id("call_")
    assert first.startswith("chatcmpl-")
    assert second.startswith("call_")
    assert len(first.removeprefix("chatcmpl-")) == 24
    assert len({new_id() for _ in range(50)}) == 50


# --- whole completions ------------------------------------------------------------------------


def read(answer: bytes) -> dict[str, Any]:
    parsed: dict[str, Any] = orjson.loads(answer)
    return parsed


def test_a_completion_is_one_assistant_choice_with_its_usage() -> None:
    before = int(time.time())
    answer = read(
        completion(response_id="r-1", model="m", content="Hi", finish_reason="stop", usage=usage(3, 1))
    )
    assert before <= answer.pop("created") <= time.time()
    assert answer == {
        "id": "r-1",
        "object": "chat.completion",
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hi", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }


def test_a_completion_without_usage_has_no_usage_field() -> None:
    answer = read(completion(response_id="r", model="m", content="x", finish_reason="stop", usage=None))
    assert "usage" not in answer


def test_a_completion_carries_tool_calls_reasoning_and_signed_thinking() -> None:
    call = tool_call("c", "f", "{}")
    thinking = [{"type": "thinking", "thinking": "Hm.", "signature": "s"}]
    answer = read(
        completion(
            response_id="r",
            model="m",
            content=None,
            finish_reason="tool_calls",
            usage=None,
            tool_calls=[call],
            reasoning="Hm.",
            thinking_blocks=thinking,
        )
    )
    assert answer["choices"][0]["message"] == {
        "role": "assistant",
        "content": None,
        "refusal": None,
        "reasoning_content": "Hm.",
        "thinking_blocks": thinking,
        "tool_calls": [call],
    }
    assert answer["choices"][0]["finish_reason"] == "tool_calls"


def test_empty_extras_add_no_fields_when_strict() -> None:
    answer = read(
        completion(
            response_id="r",
            model="m",
            content="x",
            finish_reason="stop",
            usage=None,
            tool_calls=[],
            reasoning="",
            thinking_blocks=[],
        )
    )
    assert set(answer["choices"][0]["message"]) == {"role", "content", "refusal"}
    assert set(answer["choices"][0]) == {"index", "message", "logprobs", "finish_reason"}


def test_not_strict_a_completion_keeps_content_blocks_and_choice_fields() -> None:
    answer = read(
        completion(
            response_id="r",
            model="m",
            content="x",
            finish_reason="STOP",
            usage=None,
            content_blocks=[],
            choice_extra={"groundingMetadata": {"webSearchQueries": ["q"]}},
        )
    )
    choice = answer["choices"][0]
    assert choice["message"]["content_blocks"] == []
    assert choice["groundingMetadata"] == {"webSearchQueries": ["q"]}
    assert choice["finish_reason"] == "STOP"


# --- embeddings -------------------------------------------------------------------------------


def native(cls: type[NativeRequest] = NativeRequest, **fields: Any) -> NativeRequest:
    return cls(url="http://127.0.0.1:1/embed", body=b"{}", headers={}, model="embed-1", **fields)


def test_embeddings_list_the_vectors_in_order_with_the_prompt_tokens() -> None:
    answer = read(embeddings(native(), [[0.5, -1.0], [2.0, 0.25]], 7))
    assert answer == {
        "object": "list",
        "data": [
            {"object": "embedding", "index": 0, "embedding": [0.5, -1.0]},
            {"object": "embedding", "index": 1, "embedding": [2.0, 0.25]},
        ],
        "model": "embed-1",
        "usage": {"prompt_tokens": 7, "total_tokens": 7},
    }


def test_embeddings_asked_as_base64_are_little_endian_float32() -> None:
    request = native(EmbeddingsRequest, encoding_format="base64")
    encoded = read(embeddings(request, [[0.5, -1.0, 2.0]], 1))["data"][0]["embedding"]
    assert struct.unpack("<3f", base64.b64decode(encoded)) == (0.5, -1.0, 2.0)


def test_embeddings_asked_as_floats_stay_floats() -> None:
    request = native(EmbeddingsRequest, encoding_format="float")
    assert read(embeddings(request, [[0.5]], 1))["data"][0]["embedding"] == [0.5]


def test_a_vector_the_provider_already_encoded_passes_as_it_came() -> None:
    request = native(EmbeddingsRequest, encoding_format="base64")
    assert read(embeddings(request, ["AAAAPw=="], 1))["data"][0]["embedding"] == "AAAAPw=="


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (429, "rate_limit_error"),
        (503, "api_error"),
    ],
)
def test_an_error_names_the_provider_and_is_typed_by_its_status(status: int, kind: str) -> None:
    assert read(error("google", status, "Nope", "SOME_CODE")) == {
        "error": {"message": "google: Nope", "type": kind, "param": None, "code": "SOME_CODE"}
    }


def test_an_upstream_error_keeps_the_providers_message_and_type() -> None:
    body = b'{"error": {"message": "Quota", "status": "RESOURCE_EXHAUSTED", "code": 429}}'
    assert read(upstream_error("google", 429, body, ("error",)))["error"] == {
        "message": "google: Quota",
        "type": "rate_limit_error",
        "param": None,
        "code": "RESOURCE_EXHAUSTED",
    }


def test_an_upstream_error_takes_the_first_path_that_holds_a_message() -> None:
    body = b'{"message": "top", "detail": {"message": "inner", "code": 7}}'
    found = read(upstream_error("p", 400, body, ("error",), ("detail",), ()))["error"]
    assert (found["message"], found["code"]) == ("p: inner", "7")
    assert read(upstream_error("p", 400, body, ()))["error"]["message"] == "p: top"


def test_an_upstream_error_that_is_not_json_reports_the_status_and_the_start_of_the_body() -> None:
    body = b"  <html>" + b"x" * 1000 + b"</html>"
    found = read(upstream_error("cohere", 502, body, ("error",)))["error"]
    assert found["message"] == "cohere: HTTP 502: <html>" + "x" * 492
    assert found["type"] == "api_error"
    assert found["code"] is None


@pytest.mark.parametrize("body", [b"", b'{"error": "flat string"}', b"[1, 2]"])
def test_an_upstream_error_without_a_message_falls_back_to_the_raw_body(body: bytes) -> None:
    message = read(upstream_error("bedrock", 500, body, ("error",)))["error"]["message"]
    text = body.decode()
    assert message == "bedrock: HTTP 500" + (f": {text}" if text else "")


# --- streams ----------------------------------------------------------------------------------


def writer(include_usage: bool = False, response_id: str | None = "id-1") -> ChunkWriter:
    return ChunkWriter("m", include_usage, response_id)


def choice(written: bytes) -> dict[str, Any]:
    (chunk,) = events(written)
    first: dict[str, Any] = chunk["choices"][0]
    return first


def test_every_chunk_of_a_stream_shares_its_id_created_and_model() -> None:
    chunks = writer()
    written = chunks.role() + chunks.text("Hi") + chunks.finish("stop") + chunks.close()
    parsed = events(written)
    assert parsed[-1] == "[DONE]"
    heads = {(c["id"], c["object"], c["created"], c["model"]) for c in parsed[:-1]}
    assert len(heads) == 1
    (head,) = heads
    assert head[:2] == ("id-1", "chat.completion.chunk")
    assert head[3] == "m"
    assert parsed[0]["choices"] == [
        {"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None, "finish_reason": None}
    ]


def test_a_stream_without_an_id_makes_one_up() -> None:
    (chunk,) = events(ChunkWriter("m", False).role())
    assert chunk["id"].startswith("chatcmpl-")


def test_start_names_the_id_and_model_of_the_chunks_after_it() -> None:
    chunks = writer()
    chunks.start("resp-9", "gemini-2.5-flash-001")
    (chunk,) = events(chunks.text("x"))
    assert (chunk["id"], chunk["model"]) == ("resp-9", "gemini-2.5-flash-001")
    chunks.start("resp-10")
    (chunk,) = events(chunks.text("x"))
    assert (chunk["id"], chunk["model"]) == ("resp-10", "gemini-2.5-flash-001")


def test_empty_text_and_reasoning_write_nothing_when_strict() -> None:
    chunks = writer()
    assert chunks.text("") == b""
    assert chunks.reasoning("") == b""
    assert choice(chunks.text("a"))["delta"] == {"content": "a"}
    assert choice(chunks.reasoning("b"))["delta"] == {"reasoning_content": "b"}


def test_not_strict_deltas_carry_content_blocks_even_without_text() -> None:
    chunks = writer()
    blocks = [{"index": 0, "delta": {"text": "a"}}]
    assert choice(chunks.text("a", blocks))["delta"] == {"content": "a", "content_blocks": blocks}
    assert choice(chunks.reasoning("", blocks))["delta"] == {"content_blocks": blocks}
    assert choice(chunks.content_blocks(blocks))["delta"] == {"content_blocks": blocks}
    assert chunks.content_blocks([]) == b""


def test_a_signed_thinking_block_goes_out_whole() -> None:
    block = {"type": "thinking", "thinking": "Hm.", "signature": "s"}
    assert choice(writer().thinking_block(block))["delta"] == {"thinking_blocks": [block]}


def test_provider_fields_go_on_the_choice() -> None:
    found = choice(writer().choice_extra({"groundingMetadata": {"a": 1}}))
    assert found == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": None,
        "groundingMetadata": {"a": 1},
    }


def test_tool_calls_are_numbered_in_the_order_they_start_and_keep_their_number() -> None:
    chunks = writer()
    assert not chunks.has_tool_calls
    first = choice(chunks.tool_start("block-7", "call_a", "f"))["delta"]["tool_calls"]
    second = choice(chunks.tool_start("block-3", "call_b", "g", '{"x"'))["delta"]["tool_calls"]
    more = choice(chunks.tool_arguments("block-7", '{"y":1}'))["delta"]["tool_calls"]
    assert chunks.has_tool_calls
    assert first == [
        {"index": 0, "id": "call_a", "type": "function", "function": {"name": "f", "arguments": ""}}
    ]
    assert second[0]["index"] == 1
    assert second[0]["function"] == {"name": "g", "arguments": '{"x"'}
    assert more == [{"index": 0, "function": {"arguments": '{"y":1}'}}]


def test_arguments_for_an_unknown_call_or_empty_fragments_write_nothing() -> None:
    chunks = writer()
    assert chunks.tool_arguments("never-started", "{}") == b""
    chunks.tool_start("k", "c", "f")
    assert chunks.tool_arguments("k", "") == b""


def test_close_sends_usage_when_asked_then_done_once() -> None:
    chunks = writer(include_usage=True)
    chunks.usage = usage(9, 2)
    written = chunks.finish("stop") + chunks.close()
    finish, usage_chunk, done = events(written)
    assert finish["choices"] == [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"] == {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}
    assert done == "[DONE]"
    assert chunks.done
    assert chunks.close() == b""
    assert chunks.end("google") == b""


@pytest.mark.parametrize(("include_usage", "known"), [(False, True), (True, False)])
def test_close_sends_only_done_without_usage_asked_or_known(include_usage: bool, known: bool) -> None:
    chunks = writer(include_usage)
    chunks.usage = usage(1, 1) if known else None
    assert chunks.close() == b"data: [DONE]\n\n"


def test_the_end_of_a_finished_stream_closes_it() -> None:
    chunks = writer()
    chunks.finish("length")
    assert chunks.end("google") == b"data: [DONE]\n\n"


def test_the_end_of_a_stream_without_a_finish_is_a_cut_naming_the_provider() -> None:
    chunks = writer()
    chunks.text("Hi")
    with pytest.raises(UpstreamBroken, match="Provider bedrock ended the stream before it was complete"):
        chunks.end("bedrock")
    assert not chunks.done


def test_a_stream_finished_only_by_its_close_event_is_cut_without_it() -> None:
    chunks = writer()
    chunks.finish("stop")
    with pytest.raises(UpstreamBroken, match="Provider anthropic ended the stream"):
        chunks.end("anthropic", finished_by_close=True)


def fail_on(bad: str) -> Any:
    def translate(event: str) -> bytes:
        if event == bad:
            raise ProviderError("google", 429, "Quota")
        return b"data: " + event.encode() + b"\n\n"

    return translate


def test_each_joins_the_chunks_of_the_events_one_read_completed() -> None:
    assert writer().each(["a", "b"], fail_on("-")) == b"data: a\n\ndata: b\n\n"
    assert writer().each([], fail_on("-")) == b""


def test_an_error_after_chunks_of_the_same_read_goes_out_after_them() -> None:
    chunks = writer()
    assert chunks.each(["a", "boom", "b"], fail_on("boom")) == b"data: a\n\n"
    with pytest.raises(ProviderError, match="google: Quota"):
        chunks.each(["c"], fail_on("-"))


def test_an_error_held_back_is_raised_at_the_end_of_the_body() -> None:
    chunks = writer()
    chunks.each(["a", "boom"], fail_on("boom"))
    with pytest.raises(GatewayError) as caught:
        chunks.end("google")
    assert caught.value.status == 429


@pytest.mark.parametrize("events_read", [["boom"], ["boom", "a"]])
def test_an_error_with_no_chunk_before_it_is_raised_at_once(events_read: list[str]) -> None:
    with pytest.raises(ProviderError):
        writer().each(events_read, fail_on("boom"))
