"""gateway/formats/responses_stream.py: chat chunks in, the Responses event stream out.

Every event is validated with the openai SDK's own event types, and the events are accumulated
by the SDK's ``ResponseStreamState`` (what ``client.responses.stream()`` runs), so what the SDK
accepts is what is tested.
"""

from __future__ import annotations

from typing import Any, get_args

import orjson
import pytest
from openai import omit
from openai.lib.streaming.responses import ResponseStreamState
from openai.types.responses import Response, ResponseStreamEvent

from gateway.errors import UpstreamBroken
from gateway.formats.responses import ResponsesFormat

#: The SDK's event class for each ``type`` (validating against one names the real mismatch).
EVENT_TYPES = {
    get_args(cls.model_fields["type"].annotation)[0]: cls
    for cls in get_args(get_args(ResponseStreamEvent)[0])
}
REQUEST = {"model": "claude-sonnet-4-5", "input": "Hi", "stream": True}


def chunk(
    delta: dict[str, Any] | None = None, finish_reason: str | None = None, **more: Any
) -> dict[str, Any]:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish_reason}]
    return {
        "id": "msg_1",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "claude",
        "choices": choices,
        **more,
    }


def text(piece: str) -> dict[str, Any]:
    return chunk({"content": piece})


def call(index: int, arguments: str, call_id: str | None = None, name: str | None = None) -> dict[str, Any]:
    tool: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
    if call_id is not None:
        tool.update(id=call_id, type="function")
        tool["function"]["name"] = name
    return chunk({"tool_calls": [tool]})


def finish(reason: str = "stop") -> dict[str, Any]:
    return chunk({}, reason)


USAGE = chunk(None, usage={"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13})


def events(written: bytes) -> list[Any]:
    """The SDK's event objects for the SSE bytes, each validated by its own type."""
    found = []
    for block in written.split(b"\n\n"):
        if not block:
            continue
        name, data = block.split(b"\n")
        payload = orjson.loads(data.removeprefix(b"data: "))
        assert name == b"event: " + payload["type"].encode()
        found.append(EVENT_TYPES[payload["type"]].model_validate(payload))
    return found


def stream(
    *chunks: dict[str, Any], error: dict[str, Any] | None = None, request: dict[str, Any] = REQUEST
) -> list[Any]:
    translator = ResponsesFormat().stream(request)
    written = b"".join(translator.feed(c) for c in chunks) + translator.end(error)
    found = events(written)
    assert [e.sequence_number for e in found] == list(range(len(found)))
    return found


def accumulated(found: list[Any]) -> Response:
    """The final Response as the SDK's stream helper builds it from the events."""
    state: ResponseStreamState[object] = ResponseStreamState(input_tools=omit, text_format=omit)
    final = None
    for event in found:
        for handled in state.handle_event(event):
            if handled.type in ("response.completed", "response.incomplete"):
                final = handled.response
    assert final is not None
    return final


def test_text_streams_as_openai_streams_it() -> None:
    found = stream(chunk({"role": "assistant", "content": ""}), text("Hel"), text("lo"), finish(), USAGE)
    assert [e.type for e in found] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    item_id = found[2].item.id
    assert item_id.startswith("msg_")
    assert {e.item_id for e in found[3:8]} == {item_id}
    assert {(e.output_index, e.content_index) for e in found[3:8]} == {(0, 0)}
    assert found[6].text == "Hello"
    response = accumulated(found)
    assert response.output_text == "Hello"
    assert response.status == "completed"
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (
        9,
        4,
    )
    assert response.id == found[0].response.id
    assert response.id.startswith("resp_")


def test_the_completed_response_validates_as_the_sdk_s_response() -> None:
    found = stream(text("Hi"), finish(), USAGE)
    Response.model_validate(found[-1].response.model_dump())
    assert found[0].response.status == "in_progress"
    assert found[0].response.output == []


def test_tool_call_arguments_stream_over_several_chunks() -> None:
    found = stream(
        call(0, "", "call_1", "weather"),
        call(0, '{"ci'),
        call(0, 'ty": "Par'),
        call(0, 'is"}'),
        finish("tool_calls"),
        USAGE,
    )
    deltas = [e.delta for e in found if e.type == "response.function_call_arguments.delta"]
    assert deltas == ['{"ci', 'ty": "Par', 'is"}']
    done = next(e for e in found if e.type == "response.function_call_arguments.done")
    assert (done.arguments, done.name) == ('{"city": "Paris"}', "weather")
    item = accumulated(found).output[0]
    assert item.type == "function_call"
    assert (item.call_id, item.name, item.arguments, item.status) == (
        "call_1",
        "weather",
        '{"city": "Paris"}',
        "completed",
    )


def test_parallel_calls_are_items_each_closed_before_the_next_opens() -> None:
    found = stream(
        text("Checking."),
        call(0, '{"city":"Paris"}', "call_1", "weather"),
        call(1, "", "call_2", "weather"),
        call(1, '{"city":"Rome"}'),
        finish("tool_calls"),
        USAGE,
    )
    lifecycle = [(e.type, e.output_index) for e in found if e.type.startswith("response.output_item")]
    assert lifecycle == [
        ("response.output_item.added", 0),
        ("response.output_item.done", 0),
        ("response.output_item.added", 1),
        ("response.output_item.done", 1),
        ("response.output_item.added", 2),
        ("response.output_item.done", 2),
    ]
    output = accumulated(found).output
    assert [item.type for item in output] == ["message", "function_call", "function_call"]
    assert [(item.call_id, item.arguments) for item in output[1:] if item.type == "function_call"] == [
        ("call_1", '{"city":"Paris"}'),
        ("call_2", '{"city":"Rome"}'),
    ]


def test_a_length_finish_ends_with_response_incomplete() -> None:
    found = stream(text("In the bustling"), finish("length"), USAGE)
    last = found[-1]
    assert last.type == "response.incomplete"
    assert last.response.incomplete_details.reason == "max_output_tokens"
    assert last.response.output[0].status == "incomplete"
    assert accumulated(found).output_text == "In the bustling"


def test_reasoning_streams_as_a_summary_before_the_text() -> None:
    found = stream(
        chunk({"reasoning_content": "Six "}),
        chunk({"reasoning_content": "times seven."}),
        text("42."),
        finish(),
        USAGE,
    )
    summary = [e.delta for e in found if e.type == "response.reasoning_summary_text.delta"]
    assert summary == ["Six ", "times seven."]
    output = accumulated(found).output
    assert output[0].type == "reasoning"
    assert [s.text for s in output[0].summary] == ["Six times seven."]
    assert output[1].type == "message"


def test_an_answer_with_no_content_is_one_empty_message() -> None:
    response = accumulated(stream(finish(), USAGE))
    assert [item.type for item in response.output] == ["message"]
    assert response.output_text == ""


def test_deltas_keep_quotes_newlines_and_unicode() -> None:
    piece = 'He said "hi"\n\u00e9\U0001f600 \\'
    found = stream(text(piece), finish())
    assert [e.delta for e in found if e.type == "response.output_text.delta"] == [piece]


def test_the_request_is_echoed_in_the_response() -> None:
    tool = {"type": "function", "name": "weather", "parameters": {"type": "object"}, "strict": True}
    request = {
        **REQUEST,
        "instructions": "Be brief.",
        "max_output_tokens": 20,
        "tools": [tool],
        "temperature": 0.5,
    }
    response = stream(text("Hi"), finish(), request=request)[-1].response
    assert (response.instructions, response.max_output_tokens, response.temperature) == ("Be brief.", 20, 0.5)
    assert response.tools[0].name == "weather"
    assert response.model == "claude"


def test_a_stream_error_is_an_error_event_then_response_failed() -> None:
    error = {
        "error": {
            "message": "anthropic: Overloaded",
            "type": "api_error",
            "param": None,
            "code": "upstream_error",
        }
    }
    found = stream(text("Hel"), error=error)
    assert [e.type for e in found[-2:]] == ["error", "response.failed"]
    assert (found[-2].message, found[-2].code) == ("anthropic: Overloaded", "upstream_error")
    failed = found[-1].response
    assert failed.status == "failed"
    assert failed.error.code == "server_error"
    assert failed.error.message == "anthropic: Overloaded"


def test_a_rate_limit_in_the_stream_fails_as_rate_limit_exceeded() -> None:
    error = {"error": {"message": "slow down", "type": "rate_limit_error", "param": None, "code": None}}
    assert stream(text("Hel"), error=error)[-1].response.error.code == "rate_limit_exceeded"


def test_a_stream_cut_before_its_finish_never_looks_complete() -> None:
    found = stream(text("Hel"))
    assert found[-1].type == "response.failed"
    assert "before the answer was complete" in found[-1].response.error.message


def test_an_error_before_any_chunk_still_opens_and_fails_the_response() -> None:
    error = {"error": {"message": "boom", "type": "api_error", "param": None, "code": None}}
    assert [e.type for e in stream(error=error)] == [
        "response.created",
        "response.in_progress",
        "error",
        "response.failed",
    ]


def test_an_interleaved_tool_call_is_a_broken_upstream() -> None:
    translator = ResponsesFormat().stream(REQUEST)
    translator.feed(call(0, "{", "call_1", "a"))
    translator.feed(call(1, "{", "call_2", "b"))
    with pytest.raises(UpstreamBroken):
        translator.feed(call(0, "}"))


def test_each_stream_has_its_own_ids_and_sequence() -> None:
    first, second = stream(text("a"), finish()), stream(text("b"), finish())
    assert first[0].response.id != second[0].response.id
    assert first[2].item.id != second[2].item.id
    assert second[0].sequence_number == 0
