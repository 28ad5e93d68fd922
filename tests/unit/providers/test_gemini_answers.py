"""gateway/providers/gemini_answers.py: Gemini (and Vertex AI) answers and streams as OpenAI's.

Inputs are written here in the Gemini API's documented ``GenerateContentResponse`` shapes (as the
recordings show them); the stream is SSE with CRLF line endings, one whole response per event.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.errors import ProviderError, UpstreamBroken
from gateway.providers.gemini_answers import GenerateContentStream, read_response, vectors
from tests.unit.providers.streams import comparable, deltas, events, translate

COUNTS = {"promptTokenCount": 33, "candidatesTokenCount": 5, "totalTokenCount": 38}


def response(
    *parts: dict[str, Any], finish: str | None = "STOP", counts: dict[str, Any] | None = COUNTS, **extra: Any
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": list(parts)}, **extra}
    if finish is not None:
        candidate["finishReason"] = finish
    answer: dict[str, Any] = {
        "candidates": [candidate],
        "modelVersion": "gemini-2.0-flash",
        "responseId": "LlteaIDv",
    }
    if counts is not None:
        answer["usageMetadata"] = counts
    return answer


def read(answer: dict[str, Any], status: int = 200, provider: str = "google", strict: bool = True) -> Any:
    return orjson.loads(read_response(provider, status, orjson.dumps(answer), "gemini", strict))


def call(name: str, args: dict[str, Any], call_id: str | None = None, **part: Any) -> dict[str, Any]:
    function = {"name": name, "args": args} | ({"id": call_id} if call_id else {})
    return {"functionCall": function, **part}


def sse(answer: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(answer) + b"\r\n\r\n"


# --- whole answers ----------------------------------------------------------------------------


def test_text_is_the_content_with_googles_id_model_and_usage() -> None:
    answer = read(response({"text": "Hello"}, {"text": " there"}))
    assert answer["id"] == "LlteaIDv"
    assert answer["model"] == "gemini-2.0-flash"
    assert answer["choices"][0]["message"]["content"] == "Hello there"
    assert answer["choices"][0]["finish_reason"] == "stop"
    assert answer["usage"] == {"prompt_tokens": 33, "completion_tokens": 5, "total_tokens": 38}


def test_an_answer_without_id_or_model_version_gets_an_id_and_the_asked_model() -> None:
    body = response({"text": "x"})
    del body["responseId"], body["modelVersion"]
    answer = read(body)
    assert answer["id"].startswith("chatcmpl-")
    assert answer["model"] == "gemini"


def test_function_calls_are_tool_calls_without_content() -> None:
    answer = read(response(call("get_country", {}), call("get_weather", {"city": "Oslo"}, call_id="fc-2")))
    choice = answer["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    first, second = choice["message"]["tool_calls"]
    assert first["id"].startswith("call_")
    assert first["function"] == {"name": "get_country", "arguments": "{}"}
    assert second == {
        "id": "fc-2",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
    }


def test_a_thought_signature_comes_back_where_openai_clients_keep_extra_content() -> None:
    body = response(call("f", {}, thoughtSignature="EpwICpk"))
    (strict_call,) = read(body)["choices"][0]["message"]["tool_calls"]
    assert strict_call["extra_content"] == {"google": {"thought_signature": "EpwICpk"}}
    assert "thought_signature" not in strict_call["function"]
    (loose_call,) = read(body, strict=False)["choices"][0]["message"]["tool_calls"]
    assert loose_call["function"]["thought_signature"] == "EpwICpk"


def test_thoughts_are_reasoning_content_and_count_as_completion_tokens() -> None:
    counts = {**COUNTS, "thoughtsTokenCount": 20, "cachedContentTokenCount": 8, "toolUsePromptTokenCount": 4}
    answer = read(response({"text": "Let me think.", "thought": True}, {"text": "42"}, counts=counts))
    message = answer["choices"][0]["message"]
    assert message["content"] == "42"
    assert message["reasoning_content"] == "Let me think."
    assert answer["usage"] == {
        "prompt_tokens": 37,
        "completion_tokens": 25,
        "total_tokens": 62,
        "prompt_tokens_details": {"cached_tokens": 8},
        "completion_tokens_details": {"reasoning_tokens": 20},
    }


def test_an_answer_without_usage_metadata_has_no_usage() -> None:
    assert "usage" not in read(response({"text": "x"}, counts=None))


@pytest.mark.parametrize(
    ("reason", "finish"),
    [
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("OTHER", "stop"),
        (None, "stop"),
    ],
)
def test_finish_reasons_become_openai_ones(reason: str | None, finish: str) -> None:
    assert read(response({"text": "x"}, finish=reason))["choices"][0]["finish_reason"] == finish


def test_a_blocked_prompt_is_a_content_filter_finish() -> None:
    body = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": COUNTS}
    answer = read(body)
    assert answer["choices"][0]["finish_reason"] == "content_filter"
    assert answer["choices"][0]["message"]["content"] == ""


def test_not_strict_keeps_the_raw_finish_reason_content_blocks_and_grounding() -> None:
    grounding = {"webSearchQueries": ["weather oslo"]}
    body = response(
        {"text": "Hm.", "thought": True},
        {"text": "Sunny"},
        {"inlineData": {"mimeType": "image/png", "data": "iVBOR"}},
        call("f", {}),
        groundingMetadata=grounding,
        safetyRatings=[{"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"}],
    )
    choice = read(body, strict=False)["choices"][0]
    assert choice["finish_reason"] == "STOP"
    assert choice["message"]["content_blocks"] == [
        {"type": "thinking", "thinking": "Hm."},
        {"type": "text", "text": "Sunny"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}},
    ]
    assert choice["groundingMetadata"] == grounding
    assert "safetyRatings" not in choice


def test_not_strict_vertex_answers_keep_the_safety_ratings_too() -> None:
    ratings = [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"}]
    choice = read(response({"text": "x"}, safetyRatings=ratings), provider="vertex-ai", strict=False)
    assert choice["choices"][0]["safetyRatings"] == ratings


def test_strict_answers_carry_none_of_the_extras() -> None:
    choice = read(response({"text": "x"}, groundingMetadata={"a": 1}))["choices"][0]
    assert "groundingMetadata" not in choice
    assert "content_blocks" not in choice["message"]


def test_an_error_answer_keeps_googles_message_and_status() -> None:
    body = {"error": {"code": 429, "message": "You exceeded your quota.", "status": "RESOURCE_EXHAUSTED"}}
    assert read(body, status=429) == {
        "error": {
            "message": "google: You exceeded your quota.",
            "type": "rate_limit_error",
            "param": None,
            "code": "RESOURCE_EXHAUSTED",
        }
    }


def test_a_vertex_error_names_vertex() -> None:
    body = {"error": {"code": 400, "message": "Invalid argument.", "status": "INVALID_ARGUMENT"}}
    assert read(body, status=400, provider="vertex-ai")["error"]["message"] == "vertex-ai: Invalid argument."


@pytest.mark.parametrize("body", [b"<html>oops</html>", b"[]"])
def test_an_answer_that_is_not_a_json_object_is_a_502_naming_the_provider(body: bytes) -> None:
    with pytest.raises(ProviderError) as caught:
        read_response("vertex-ai", 200, body, "gemini")
    assert caught.value.status == 502
    assert caught.value.message.startswith("vertex-ai: ")


# --- embeddings -------------------------------------------------------------------------------


def test_vectors_are_read_at_the_path_in_each_item() -> None:
    items = [{"values": [0.1, 0.2]}, {"values": [0.3, 0.4]}]
    assert vectors("google", items, ("values",)) == [[0.1, 0.2], [0.3, 0.4]]
    predictions = [{"embeddings": {"values": [1.0]}}]
    assert vectors("vertex-ai", predictions, ("embeddings", "values")) == [[1.0]]


@pytest.mark.parametrize(
    "items", [None, [], {"values": [1.0]}, [{"values": [1.0]}, {"values": "AAAA"}], [{"other": [1.0]}]]
)
def test_an_answer_without_vectors_everywhere_is_a_502_naming_the_provider(items: Any) -> None:
    with pytest.raises(ProviderError) as caught:
        vectors("vertex-ai", items, ("values",))
    assert (caught.value.status, caught.value.code) == (502, "bad_upstream_response")
    assert caught.value.message.startswith("vertex-ai: ")


# --- streams ----------------------------------------------------------------------------------


def stream(
    include_usage: bool = True, strict: bool = True, provider: str = "google"
) -> GenerateContentStream:
    return GenerateContentStream(provider, "gemini", include_usage, strict)


TEXT_STREAM = (
    sse(response({"text": "The"}, finish=None, counts=None))
    + sse(response({"text": " sky is"}, finish=None, counts=None))
    + sse(response({"text": " blue."}, counts={"promptTokenCount": 4, "candidatesTokenCount": 3}))
)
TOOL_STREAM = sse(response({"text": "Checking."}, finish=None, counts=None)) + sse(
    response(call("get_weather", {"city": "Oslo"}, call_id="fc-1"), call("get_time", {}, call_id="fc-2"))
)


def test_a_text_stream_is_a_role_the_text_a_finish_usage_and_done() -> None:
    written = translate(stream(), TEXT_STREAM)
    chunks = events(written)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert {chunk["id"] for chunk in chunks[:-1]} == {"LlteaIDv"}
    assert {chunk["model"] for chunk in chunks[:-1]} == {"gemini-2.0-flash"}
    assert deltas(written, "content") == "The sky is blue."
    assert chunks[-3]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-2]["usage"] == {"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7}
    assert chunks[-1] == "[DONE]"


@pytest.mark.parametrize("body", [TEXT_STREAM, TOOL_STREAM], ids=["text", "tool calls"])
@pytest.mark.parametrize("piece", [1, 2, 7, 64])
def test_reads_cut_anywhere_give_the_same_chunks(body: bytes, piece: int) -> None:
    whole = translate(stream(), body, piece=len(body))
    assert comparable(translate(stream(), body, piece=piece)) == comparable(whole)


def test_streamed_function_calls_are_tool_calls_numbered_in_order() -> None:
    written = translate(stream(include_usage=False), TOOL_STREAM)
    chunks = events(written)
    calls = [c for chunk in chunks[:-1] for c in chunk["choices"][0]["delta"].get("tool_calls", [])]
    assert [(c["index"], c["id"], c["function"]["name"]) for c in calls] == [
        (0, "fc-1", "get_weather"),
        (1, "fc-2", "get_time"),
    ]
    assert calls[0]["function"]["arguments"] == '{"city":"Oslo"}'
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1] == "[DONE]"


def test_streamed_thoughts_are_reasoning_content() -> None:
    body = sse(response({"text": "Thinking...", "thought": True}, finish=None)) + sse(
        response({"text": "42"})
    )
    written = translate(stream(), body)
    assert deltas(written, "reasoning_content") == "Thinking..."
    assert deltas(written, "content") == "42"


def test_not_strict_stream_numbers_content_blocks_and_keeps_the_raw_finish() -> None:
    body = sse(response({"text": "Hm.", "thought": True}, finish=None)) + sse(
        response({"text": "Hi"}, finish="MAX_TOKENS", groundingMetadata={"a": 1})
    )
    chunks = events(translate(stream(include_usage=False, strict=False), body))
    found = [chunk["choices"][0] for chunk in chunks[1:-1]]
    assert found[0]["delta"]["content_blocks"] == [{"index": 0, "delta": {"thinking": "Hm."}}]
    assert found[1]["delta"]["content_blocks"] == [{"index": 1, "delta": {"text": "Hi"}}]
    assert found[2]["groundingMetadata"] == {"a": 1}
    assert found[3]["finish_reason"] == "MAX_TOKENS"


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        ({"code": 429, "message": "Quota", "status": "RESOURCE_EXHAUSTED"}, 429, "RESOURCE_EXHAUSTED"),
        ({"code": "bad", "message": "Quota"}, 500, None),
    ],
)
def test_an_error_event_is_a_provider_error_naming_the_provider(
    error: dict[str, Any], status: int, code: str | None
) -> None:
    with pytest.raises(ProviderError) as caught:
        translate(stream(provider="vertex-ai"), sse({"error": error}))
    assert (caught.value.status, caught.value.code, caught.value.message) == (
        status,
        code,
        "vertex-ai: Quota",
    )


@pytest.mark.parametrize("data", [b"not json", b"[1]"])
def test_an_event_that_is_not_a_json_object_breaks_the_stream_naming_the_provider(data: bytes) -> None:
    with pytest.raises(UpstreamBroken, match="Provider google sent a stream event that is not a JSON object"):
        translate(stream(), b"data: " + data + b"\r\n\r\n")
