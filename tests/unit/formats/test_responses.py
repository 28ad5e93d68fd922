"""gateway/formats/responses.py: a Responses API request as a chat request, a chat answer as a
Response (validated with the openai SDK's own ``Response`` type), errors in the Responses shape."""

from __future__ import annotations

from typing import Any

import pytest
from openai.types.responses import Response

from gateway.errors import InvalidRequest
from gateway.formats.responses import ResponsesFormat

FORMAT = ResponsesFormat()
WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def chat(**body: Any) -> dict[str, Any]:
    return FORMAT.to_chat({"model": "claude-sonnet-4-5", **body})


def refused(**body: Any) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        chat(**body)
    assert caught.value.status == 400
    return caught.value


# --- request ------------------------------------------------------------------------------------


def test_instructions_become_the_system_message_before_a_string_input() -> None:
    assert chat(instructions="Be brief.", input="Hi")["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]


def test_message_items_keep_their_roles_and_parts() -> None:
    image = "data:image/png;base64,iVBORw0KGgo="
    items = [
        {"role": "developer", "content": "Answer in French."},  # an easy message: no type
        {
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_text", "text": "What is this?"},
                {"type": "input_image", "image_url": image, "detail": "low"},
                {"type": "input_file", "filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBE"},
            ],
        },
    ]
    assert chat(input=items)["messages"] == [
        {"role": "developer", "content": "Answer in French."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": image, "detail": "low"}},
                {
                    "type": "file",
                    "file": {"file_data": "data:application/pdf;base64,JVBE", "filename": "a.pdf"},
                },
            ],
        },
    ]


def test_a_tool_loop_becomes_one_assistant_turn_with_its_calls_then_tool_messages() -> None:
    items = [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Checking.", "annotations": []}],
        },
        {"type": "function_call", "call_id": "call_1", "name": "weather", "arguments": '{"city":"Paris"}'},
        {"type": "function_call", "call_id": "call_2", "name": "weather", "arguments": '{"city":"Rome"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
        {
            "type": "function_call_output",
            "call_id": "call_2",
            "output": [{"type": "input_text", "text": "21C"}],
        },
    ]
    assert chat(input=items)["messages"] == [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city":"Rome"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        {"role": "tool", "tool_call_id": "call_2", "content": "21C"},
    ]


def test_a_function_call_with_no_text_before_it_opens_an_assistant_turn() -> None:
    items = [
        {"role": "user", "content": "Weather?"},
        {"type": "function_call", "call_id": "c", "name": "weather", "arguments": "{}"},
    ]
    assert chat(input=items)["messages"][1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "c", "type": "function", "function": {"name": "weather", "arguments": "{}"}}],
    }


def test_function_tools_and_tool_choice_become_chat_tools() -> None:
    tool = {
        "type": "function",
        "name": "weather",
        "description": "Now.",
        "parameters": WEATHER,
        "strict": True,
    }
    body = chat(input="Hi", tools=[tool], tool_choice={"type": "function", "name": "weather"})
    assert body["tools"] == [
        {
            "type": "function",
            "function": {"name": "weather", "description": "Now.", "parameters": WEATHER, "strict": True},
        }
    ]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "weather"}}
    assert chat(input="Hi", tool_choice="required")["tool_choice"] == "required"


def test_sampling_limits_reasoning_and_identity_fields_map_one_to_one() -> None:
    body = chat(
        input="Hi",
        max_output_tokens=64,
        temperature=0.2,
        top_p=0.9,
        parallel_tool_calls=False,
        user="u1",
        reasoning={"effort": "high", "summary": "auto"},
    )
    assert {k: v for k, v in body.items() if k != "messages"} == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 64,
        "temperature": 0.2,
        "top_p": 0.9,
        "parallel_tool_calls": False,
        "user": "u1",
        "reasoning_effort": "high",
    }


def test_text_format_becomes_response_format() -> None:
    form = {"type": "json_schema", "name": "city", "schema": WEATHER, "strict": True}
    assert chat(input="Hi", text={"format": form})["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "city", "schema": WEATHER, "strict": True},
    }
    assert chat(input="Hi", text={"format": {"type": "json_object"}})["response_format"] == {
        "type": "json_object"
    }
    assert "response_format" not in chat(input="Hi", text={"format": {"type": "text"}, "verbosity": "low"})


def test_a_stream_asks_for_usage() -> None:
    body = chat(input="Hi", stream=True)
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert "stream" not in chat(input="Hi", stream=False)


def test_service_hints_are_accepted_and_not_sent_on() -> None:
    body = chat(
        input="Hi",
        include=["reasoning.encrypted_content"],
        prompt_cache_key="k",
        service_tier="auto",
        metadata={"team": "search"},
    )
    assert set(body) == {"model", "messages"}
    assert set(chat(input="Hi", store=False, truncation="disabled", background=False)) == {
        "model",
        "messages",
    }


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"previous_response_id": "resp_1"}, "previous_response_id"),
        ({"store": True}, "store"),
        ({"conversation": "conv_1"}, "conversation"),
        ({"background": True}, "background"),
        ({"prompt": {"id": "pmpt_1"}}, "prompt"),
        ({"truncation": "auto"}, "truncation"),
        ({"frequency_of_nothing": 1}, "frequency_of_nothing"),
        ({"tools": [{"type": "function", "name": "f"}, {"type": "web_search"}]}, "tools[1]"),
        ({"tool_choice": {"type": "file_search"}}, "tool_choice"),
        ({"text": {"format": {"type": "grammar"}}}, "text.format"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]},
            "input[0].content[0].image_url",
        ),
        ({"input": [{"role": "user", "content": [{"type": "input_audio"}]}]}, "input[0].content[0]"),
        ({"input": [{"type": "function_call_output", "output": "x"}]}, "input[0].call_id"),
        ({"input": 3}, "input"),
    ],
)
def test_what_the_chat_form_cannot_carry_is_a_400_naming_the_field(body: dict[str, Any], param: str) -> None:
    error = refused(**{"input": "Hi", **body})
    assert error.body()["error"]["param"] == param
    assert error.body()["error"]["type"] == "invalid_request_error"


def test_a_built_in_tool_is_refused_by_name() -> None:
    assert "'web_search'" in refused(input="Hi", tools=[{"type": "web_search"}]).message


def test_a_request_without_a_model_is_a_400() -> None:
    with pytest.raises(InvalidRequest) as caught:
        FORMAT.to_chat({"input": "Hi"})
    assert caught.value.param == "model"


# --- answer -------------------------------------------------------------------------------------


def completion(message: dict[str, Any], finish_reason: str = "stop", **usage: Any) -> dict[str, Any]:
    counts = {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17, **usage}
    return {
        "id": "msg_01",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "claude-sonnet-4-5",
        "choices": [
            {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish_reason}
        ],
        "usage": counts,
    }


def answer(chat_answer: dict[str, Any], **request: Any) -> Response:
    body = FORMAT.from_chat(chat_answer, {"model": "claude-sonnet-4-5", "input": "Hi", **request})
    return Response.model_validate(body)


def test_a_text_answer_is_a_completed_response_the_sdk_reads() -> None:
    response = answer(completion({"content": "Bonjour."}), instructions="Be brief.", max_output_tokens=50)
    assert response.id.startswith("resp_")
    assert (response.object, response.status, response.created_at) == ("response", "completed", 1_700_000_000)
    assert response.output_text == "Bonjour."
    assert response.output[0].type == "message"
    assert response.output[0].status == "completed"
    assert (response.instructions, response.max_output_tokens, response.store) == ("Be brief.", 50, False)
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens, response.usage.total_tokens) == (
        12,
        5,
        17,
    )


def test_tool_calls_become_function_call_items_after_the_text() -> None:
    calls = [
        {
            "id": "toolu_1",
            "type": "function",
            "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
        },
        {
            "id": "toolu_2",
            "type": "function",
            "function": {"name": "weather", "arguments": '{"city":"Rome"}'},
        },
    ]
    tool = {"type": "function", "name": "weather", "parameters": WEATHER, "strict": None}
    response = answer(completion({"content": "Checking.", "tool_calls": calls}, "tool_calls"), tools=[tool])
    kinds = [item.type for item in response.output]
    assert kinds == ["message", "function_call", "function_call"]
    assert [(i.call_id, i.name, i.arguments) for i in response.output[1:] if i.type == "function_call"] == [
        ("toolu_1", "weather", '{"city":"Paris"}'),
        ("toolu_2", "weather", '{"city":"Rome"}'),
    ]
    assert response.tools[0].type == "function"


def test_an_answer_of_tool_calls_alone_has_no_message_item() -> None:
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    response = answer(completion({"content": None, "tool_calls": [call]}, "tool_calls"))
    assert [item.type for item in response.output] == ["function_call"]


def test_a_length_finish_is_incomplete_for_max_output_tokens() -> None:
    response = answer(completion({"content": "In the bustling"}, "length"))
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.output[0].type == "message"
    assert response.output[0].status == "incomplete"


def test_reasoning_comes_first_as_a_summary() -> None:
    response = answer(completion({"content": "42.", "reasoning_content": "Six times seven."}))
    reasoning = response.output[0]
    assert reasoning.type == "reasoning"
    assert [part.text for part in reasoning.summary] == ["Six times seven."]
    assert response.output_text == "42."


def test_cached_reasoning_and_cache_write_counts_keep_their_details() -> None:
    chat_answer = completion(
        {"content": "Hi"},
        prompt_tokens_details={"cached_tokens": 8, "cache_creation_tokens": 3},
        completion_tokens_details={"reasoning_tokens": 2},
    )
    usage = answer(chat_answer).usage
    assert usage is not None
    assert usage.input_tokens_details.cached_tokens == 8
    assert usage.input_tokens_details.cache_write_tokens == 3
    assert usage.output_tokens_details.reasoning_tokens == 2


def test_a_refusal_is_a_refusal_part() -> None:
    response = answer(completion({"content": None, "refusal": "I can't help with that."}))
    message = response.output[0]
    assert message.type == "message"
    assert [part.type for part in message.content] == ["refusal"]


def test_errors_keep_openai_s_shape() -> None:
    body = {
        "error": {"message": "anthropic: bad", "type": "invalid_request_error", "param": None, "code": None}
    }
    assert FORMAT.error(400, body) == body


@pytest.mark.parametrize(
    ("chat_param", "param"),
    [
        ("response_format", "text.format"),
        ("response_format.json_schema.schema", "text.format"),
        ("reasoning_effort", "reasoning.effort"),
        ("max_tokens", "max_output_tokens"),
        ("messages[1].content[0]", "input"),
        ("tools[2].function.parameters", "tools[2].parameters"),
        ("tool_choice.function.name", "tool_choice.name"),
        ("parallel_tool_calls", "parallel_tool_calls"),
        ("input[0].content", "input[0].content"),
    ],
)
def test_a_providers_refusal_names_the_field_the_client_sent(chat_param: str, param: str) -> None:
    body = {
        "error": {
            "message": "bedrock: no",
            "type": "invalid_request_error",
            "param": chat_param,
            "code": None,
        }
    }
    assert FORMAT.error(400, body) == {"error": {**body["error"], "param": param}}
