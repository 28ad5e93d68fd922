"""Anthropic Messages ↔ the chat form: the request, the answer, the error."""

from __future__ import annotations

import pytest

from gateway.errors import InvalidRequest
from gateway.formats.anthropic_messages import AnthropicMessages

FORMAT = AnthropicMessages()
BASE = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "Hi"}]}


@pytest.mark.parametrize(
    ("budget", "effort"), [(1024, "low"), (2048, "low"), (4000, "medium"), (8192, "medium"), (30000, "high")]
)
def test_thinking_budget_becomes_the_nearest_reasoning_effort(budget: int, effort: str) -> None:
    chat = FORMAT.to_chat({**BASE, "thinking": {"type": "enabled", "budget_tokens": budget}})
    assert chat["reasoning_effort"] == effort


def test_stream_asks_for_usage_and_tool_choice_maps() -> None:
    chat = FORMAT.to_chat(
        {
            **BASE,
            "stream": True,
            "tool_choice": {"type": "tool", "name": "f", "disable_parallel_tool_use": True},
        }
    )
    assert chat["stream_options"] == {"include_usage": True}
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert chat["parallel_tool_calls"] is False


@pytest.mark.parametrize(
    "change",
    [
        {"max_tokens": None},
        {"messages": []},
        {"tools": [{"type": "web_search_20250305", "name": "web_search"}]},
        {"messages": [{"role": "user", "content": [{"type": "document", "source": {}}]}]},
    ],
)
def test_what_the_chat_form_cannot_say_is_a_400(change: dict[str, object]) -> None:
    with pytest.raises(InvalidRequest):
        FORMAT.to_chat({**BASE, **change})


@pytest.mark.parametrize(
    ("finish", "reason"),
    [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("tool_calls", "tool_use"),
        ("content_filter", "refusal"),
    ],
)
def test_finish_reasons_map_to_stop_reasons(finish: str, reason: str) -> None:
    answer = {"id": "chatcmpl-1", "choices": [{"message": {"content": "x"}, "finish_reason": finish}]}
    assert FORMAT.from_chat(answer, BASE)["stop_reason"] == reason


def test_a_matched_stop_sequence_is_named_and_cached_tokens_apart() -> None:
    usage = {
        "prompt_tokens": 100,
        "completion_tokens": 5,
        "prompt_tokens_details": {"cached_tokens": 60, "cache_creation_tokens": 10},
    }
    answer = {
        "choices": [{"message": {"content": "x"}, "finish_reason": "stop", "stop_reason": "END"}],
        "usage": usage,
    }
    message = FORMAT.from_chat(answer, {**BASE, "stop_sequences": ["END"]})
    assert (message["stop_reason"], message["stop_sequence"]) == ("stop_sequence", "END")
    assert message["usage"] == {
        "input_tokens": 30,
        "output_tokens": 5,
        "cache_creation_input_tokens": 10,
        "cache_read_input_tokens": 60,
    }


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (429, "rate_limit_error"),
        (529, "overloaded_error"),
        (502, "api_error"),
    ],
)
def test_errors_take_anthropics_type_for_their_status(status: int, kind: str) -> None:
    body = FORMAT.error(status, {"error": {"message": "m", "type": "whatever"}})
    assert body == {"type": "error", "error": {"type": kind, "message": "m"}}
