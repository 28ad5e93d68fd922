"""gateway/cache/replay.py: which recorded streams may be stored, and a cached answer in the other form."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.cache.replay import json_from_stream, stored_events, stream_from_json, stream_is_complete
from tests.fake_provider import sse

HEADER = {"id": "chatcmpl-1", "created": 1700000000, "model": "gpt-4o-mini", "system_fingerprint": "fp_1"}
USAGE = {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}


def chunk(*choices: dict[str, Any], **extra: Any) -> bytes:
    return orjson.dumps({**HEADER, "object": "chat.completion.chunk", "choices": list(choices), **extra})


def delta(index: int = 0, finish: str | None = None, **fields: Any) -> dict[str, Any]:
    return {"index": index, "delta": fields, "logprobs": None, "finish_reason": finish}


def text_chunk(text: str, finish: str | None = None, index: int = 0) -> bytes:
    choice = {"index": index, "text": text, "logprobs": None, "finish_reason": finish}
    return orjson.dumps({**HEADER, "object": "text_completion", "choices": [choice]})


HELLO = sse(
    chunk(delta(role="assistant", content="")),
    chunk(delta(content="Hel")),
    chunk(delta(content="lo")),
    chunk(delta(finish="stop")),
    chunk(usage=USAGE),
)


def answer(**fields: Any) -> dict[str, Any]:
    parsed: dict[str, Any] = orjson.loads(json_from_stream(sse(*fields["chunks"])) or b"null")
    return parsed


# stream_is_complete


def test_a_stream_ending_in_done_is_complete() -> None:
    assert stream_is_complete(HELLO)


def test_a_stream_without_done_is_complete_when_its_last_chunk_has_a_finish_reason() -> None:
    body = HELLO.removesuffix(b"data: [DONE]\n\n")
    assert stream_is_complete(body)
    without_usage = (
        b"data: " + chunk(delta(content="Hi")) + b"\n\ndata: " + chunk(delta(finish="length")) + b"\n\n"
    )
    assert stream_is_complete(without_usage)


def test_a_stream_without_done_or_finish_reason_is_not_complete() -> None:
    body = b"data: " + chunk(delta(role="assistant", content="Hel")) + b"\n\n"
    assert not stream_is_complete(body)


def test_a_stream_whose_last_chunk_finishes_only_one_of_two_choices_is_not_complete() -> None:
    body = b"data: " + chunk(delta(0, "stop"), delta(1, content="more")) + b"\n\n"
    assert not stream_is_complete(body)


@pytest.mark.parametrize("cut", [1, 5, 20, len(b"data: [DONE]\n\n") - 1, len(b"data: [DONE]\n\n") + 30])
def test_a_stream_cut_short_is_not_complete(cut: int) -> None:
    assert not stream_is_complete(HELLO[:-cut])


def test_an_empty_body_is_not_complete() -> None:
    assert not stream_is_complete(b"")
    assert not stream_is_complete(b"data: [DONE]\n")


@pytest.mark.parametrize(
    "error_event",
    [
        b'data: {"error": {"message": "upstream went away", "type": "server_error"}}\n\n',
        b'event: error\ndata: {"message": "overloaded"}\n\n',
        b'data: {not json with "error" in it\n\n',
    ],
)
def test_a_stream_with_an_in_band_error_is_not_complete(error_event: bytes) -> None:
    head, done = HELLO.split(b"data: [DONE]")
    assert not stream_is_complete(head + error_event + b"data: [DONE]" + done)


def test_content_that_mentions_error_does_not_make_a_stream_incomplete() -> None:
    body = sse(chunk(delta(content='say "error"')), chunk(delta(content='"error"', finish="stop")))
    assert stream_is_complete(body)


def test_a_crlf_stream_with_comments_and_event_lines_is_complete() -> None:
    body = b": keep-alive\n\nevent: message\n" + HELLO.replace(b"\n", b"\r\n")
    assert stream_is_complete(body)
    assert stream_is_complete(body.removesuffix(b"data: [DONE]\r\n\r\n"))
    assert not stream_is_complete(body[:-3])


def test_stored_events_are_the_data_events_in_order() -> None:
    events = stored_events(HELLO) or []
    assert [event.data for event in events][-1] == b"[DONE]"
    assert len(events) == 6
    assert stored_events(HELLO[:-1]) is None


# json_from_stream


def test_a_chat_stream_becomes_the_chat_completion_a_plain_request_gets() -> None:
    completion = orjson.loads(json_from_stream(HELLO) or b"null")
    assert completion == {
        **HEADER,
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": USAGE,
    }


def test_a_stream_without_a_usage_chunk_gives_json_without_usage() -> None:
    completion = answer(chunks=[chunk(delta(role="assistant", content="Hi")), chunk(delta(finish="stop"))])
    assert "usage" not in completion
    assert completion["choices"][0]["message"]["content"] == "Hi"


def test_tool_calls_are_merged_by_index_with_their_arguments_joined() -> None:
    first = {"index": 0, "id": "call_a", "type": "function", "function": {"name": "weather", "arguments": ""}}
    second = {
        "index": 1,
        "id": "call_b",
        "type": "function",
        "function": {"name": "time", "arguments": '{"tz"'},
    }
    completion = answer(
        chunks=[
            chunk(delta(role="assistant", content=None, tool_calls=[first])),
            chunk(delta(tool_calls=[{"index": 0, "function": {"arguments": '{"city":'}}])),
            chunk(delta(tool_calls=[second])),
            chunk(delta(tool_calls=[{"index": 0, "function": {"arguments": '"Oslo"}'}}])),
            chunk(delta(tool_calls=[{"index": 1, "function": {"arguments": ':"UTC"}'}}])),
            chunk(delta(finish="tool_calls")),
        ]
    )
    message = completion["choices"][0]["message"]
    assert message["content"] is None
    assert message["tool_calls"] == [
        {"id": "call_a", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Oslo"}'}},
        {"id": "call_b", "type": "function", "function": {"name": "time", "arguments": '{"tz":"UTC"}'}},
    ]
    assert completion["choices"][0]["finish_reason"] == "tool_calls"


def test_a_tool_call_repeated_whole_keeps_one_name_and_id() -> None:
    # OpenRouter sends the id and name again with each piece of the same call.
    call = {"index": 0, "id": "0", "type": "function", "function": {"name": "llm_version", "arguments": ""}}
    again = {**call, "function": {"name": "llm_version", "arguments": "{}"}}
    completion = answer(
        chunks=[chunk(delta(tool_calls=[call])), chunk(delta(tool_calls=[again], finish="stop"))]
    )
    assert completion["choices"][0]["message"]["tool_calls"] == [
        {"id": "0", "type": "function", "function": {"name": "llm_version", "arguments": "{}"}}
    ]


def test_refusal_reasoning_and_logprobs_are_joined_in_order() -> None:
    token = {"token": "No", "logprob": -0.1, "top_logprobs": []}
    dot = {"token": ".", "logprob": -0.2, "top_logprobs": []}
    with_logprobs = {**delta(refusal="No"), "logprobs": {"content": None, "refusal": [token]}}
    completion = answer(
        chunks=[
            chunk(delta(role="assistant", reasoning="Think")),
            chunk(delta(reasoning="ing")),
            chunk(with_logprobs),
            chunk({**delta(refusal=".", finish="stop"), "logprobs": {"content": None, "refusal": [dot]}}),
        ]
    )
    choice = completion["choices"][0]
    assert choice["message"]["refusal"] == "No."
    assert choice["message"]["reasoning"] == "Thinking"
    assert choice["logprobs"] == {"content": None, "refusal": [token, dot]}


def test_two_choices_interleaved_become_two_choices_in_index_order() -> None:
    completion = answer(
        chunks=[
            chunk(delta(1, role="assistant", content="B")),
            chunk(delta(0, role="assistant", content="A")),
            chunk(delta(0, content="a", finish="stop"), delta(1, content="b", finish="length")),
        ]
    )
    assert [(c["index"], c["message"]["content"], c["finish_reason"]) for c in completion["choices"]] == [
        (0, "Aa", "stop"),
        (1, "Bb", "length"),
    ]


def test_a_text_completion_stream_becomes_a_text_completion() -> None:
    completion = answer(chunks=[text_chunk("Once"), text_chunk(" upon"), text_chunk("", "length")])
    assert completion["object"] == "text_completion"
    assert completion["choices"] == [
        {"index": 0, "text": "Once upon", "logprobs": None, "finish_reason": "length"}
    ]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b'{"object": "chat.completion", "choices": []}', id="json-not-stream"),
        pytest.param(HELLO[:-5], id="cut"),
        pytest.param(sse(b"{not json"), id="undecodable"),
        pytest.param(sse(b"[1, 2]"), id="not-an-object"),
        pytest.param(sse(orjson.dumps({"object": "response.created", "choices": []})), id="other-object"),
        pytest.param(sse(chunk(delta(content="a")), text_chunk("b")), id="mixed-objects"),
        pytest.param(sse(b'{"error": {"message": "boom"}}'), id="error-event"),
        pytest.param(sse(chunk(delta(content=[{"type": "thinking", "thinking": []}]))), id="content-parts"),
        pytest.param(sse(chunk("not a choice")), id="malformed-choice"),
    ],
)
def test_a_body_that_is_no_known_stream_gives_none(body: bytes) -> None:
    assert json_from_stream(body) is None


# stream_from_json


def completion_json(*choices: dict[str, Any], usage: dict[str, Any] | None = USAGE) -> dict[str, Any]:
    built = {**HEADER, "object": "chat.completion", "choices": list(choices)}
    return {**built, "usage": usage} if usage else built


def message_choice(index: int = 0, finish: str = "stop", **message: Any) -> dict[str, Any]:
    full = {"role": "assistant", "content": None, "refusal": None, **message}
    return {"index": index, "message": full, "logprobs": None, "finish_reason": finish}


TOOL_CALLS = [
    {"id": "call_a", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Oslo"}'}},
    {"id": "call_b", "type": "function", "function": {"name": "time", "arguments": "{}"}},
]
ROUND_TRIPS = {
    "text": completion_json(message_choice(content="Hello there")),
    "empty-content": completion_json(message_choice(content="")),
    "tool-calls": completion_json(message_choice(finish="tool_calls", tool_calls=TOOL_CALLS)),
    "refusal": completion_json(message_choice(refusal="I can't help with that.")),
    "n=2": completion_json(message_choice(0, content="A"), message_choice(1, "length", content="B")),
    "logprobs": completion_json(
        {
            **message_choice(content="Hi"),
            "logprobs": {"content": [{"token": "Hi", "logprob": -0.5}], "refusal": None},
        }
    ),
    "no-usage": completion_json(message_choice(content="Hi"), usage=None),
    "text-completion": {
        **HEADER,
        "object": "text_completion",
        "choices": [{"index": 0, "text": "Once upon", "logprobs": None, "finish_reason": "length"}],
        "usage": USAGE,
    },
}


@pytest.mark.parametrize("stored", ROUND_TRIPS.values(), ids=ROUND_TRIPS.keys())
def test_json_to_stream_to_json_gives_the_same_answer(stored: dict[str, Any]) -> None:
    stream = stream_from_json(orjson.dumps(stored), include_usage=True)
    assert stream is not None
    assert stream_is_complete(stream)
    assert orjson.loads(json_from_stream(stream) or b"null") == stored


def test_a_synthesised_stream_keeps_the_answer_id_model_and_fingerprint_on_every_chunk() -> None:
    stream = stream_from_json(orjson.dumps(ROUND_TRIPS["tool-calls"]), include_usage=True) or b""
    events = stored_events(stream) or []
    assert events[-1].data == b"[DONE]"
    chunks = [orjson.loads(event.data) for event in events[:-1]]
    assert all({name: c[name] for name in HEADER} == HEADER for c in chunks)
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant"}
    assert chunks[-1] == {**HEADER, "object": "chat.completion.chunk", "choices": [], "usage": USAGE}
    deltas = [c["choices"][0]["delta"] for c in chunks[:-1]]
    assert [d["tool_calls"] for d in deltas if "tool_calls" in d] == [
        [{"index": 0, **TOOL_CALLS[0]}],
        [{"index": 1, **TOOL_CALLS[1]}],
    ]


def test_without_include_usage_the_stream_has_no_usage_chunk() -> None:
    stream = stream_from_json(orjson.dumps(ROUND_TRIPS["text"]), include_usage=False) or b""
    assert b'"usage"' not in stream
    assert stream.endswith(b"data: [DONE]\n\n")
    assert "usage" not in orjson.loads(json_from_stream(stream) or b"null")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            b'{"object": "list", "data": [{"object": "embedding", "embedding": [0.1]}]}', id="embeddings"
        ),
        pytest.param(b"not json", id="undecodable"),
        pytest.param(b"[1, 2]", id="not-an-object"),
        pytest.param(b'{"object": "chat.completion"}', id="no-choices"),
        pytest.param(b'{"object": "chat.completion", "choices": ["x"]}', id="malformed-choice"),
    ],
)
def test_an_answer_with_no_stream_form_gives_none(body: bytes) -> None:
    assert stream_from_json(body, include_usage=True) is None
