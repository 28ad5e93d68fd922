"""gateway/providers/openai_request.py: the conversation loop (system prompt apart, one turn per
role change) and the providers that build their turns with it (Anthropic, Bedrock, Gemini)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from gateway.errors import InvalidRequest
from gateway.providers import anthropic, bedrock, gemini
from gateway.providers import openai_request as openai

#: A provider whose blocks are the messages' texts: user and tool messages both in user turns.
TURNS: Mapping[str, openai.TurnOf] = {
    "user": ("user", lambda message, where, _: [message["content"]] if message["content"] else []),
    "assistant": ("assistant", lambda message, where, _: [message["content"]] if message["content"] else []),
    "tool": ("user", lambda message, where, _: [f"result {message['content']}"]),
}


def system_block(text: str) -> dict[str, Any]:
    return {"text": text}


def test_system_and_developer_messages_go_apart_in_their_order() -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "developer", "content": [{"type": "text", "text": "Be kind."}]},
    ]
    system, turns = openai.conversation(messages, "p", system_block, TURNS)
    assert system == [{"text": "Be brief."}, {"text": "Be kind."}]
    assert turns == [{"role": "user", "content": ["Hi"]}]


def test_consecutive_turns_of_one_role_become_one() -> None:
    messages = [
        {"role": "user", "content": "Weather in Oslo and Rome?"},
        {"role": "assistant", "content": "Looking."},
        {"role": "tool", "content": "Oslo: rain"},
        {"role": "tool", "content": "Rome: sun"},
        {"role": "user", "content": "Thanks"},
    ]
    _, turns = openai.conversation(messages, "p", system_block, TURNS)
    assert turns == [
        {"role": "user", "content": ["Weather in Oslo and Rome?"]},
        {"role": "assistant", "content": ["Looking."]},
        {"role": "user", "content": ["result Oslo: rain", "result Rome: sun", "Thanks"]},
    ]


def test_a_turn_without_blocks_is_kept_unless_dropped() -> None:
    messages = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": ""},
        {"role": "user", "content": "b"},
    ]
    _, kept = openai.conversation(messages, "p", system_block, TURNS)
    _, dropped = openai.conversation(messages, "p", system_block, TURNS, blocks_key="parts", drop_empty=True)
    assert [turn["role"] for turn in kept] == ["user", "assistant", "user"]
    assert dropped == [{"role": "user", "parts": ["a", "b"]}]


def test_a_role_the_provider_has_no_turn_for_is_a_400_naming_the_message_and_provider() -> None:
    messages = [{"role": "user", "content": "a"}, {"role": "function", "content": "b"}]
    with pytest.raises(InvalidRequest) as caught:
        openai.conversation(messages, "someprovider", system_block, TURNS)
    assert caught.value.status == 400
    assert caught.value.param == "messages[1]"
    assert caught.value.message == "someprovider: message role 'function' is not supported."


# --- the providers that use it ---------------------------------------------------------------

#: A tool-calling round: two parallel calls answered by two tool messages, then the user again.
ROUND = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Weather in Oslo and Rome?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "weather", "arguments": '{"city":"Oslo"}'},
            },
            {
                "id": "call_2",
                "type": "function",
                "function": {"name": "weather", "arguments": '{"city":"Rome"}'},
            },
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "rain"},
    {"role": "tool", "tool_call_id": "call_2", "content": "sun"},
    {"role": "user", "content": "Thanks"},
]

#: Each provider's request builder → (system, turns) of its native body.
BUILDERS: dict[str, Callable[[dict[str, Any]], tuple[Any, list[dict[str, Any]]]]] = {
    "anthropic": lambda body: _split(anthropic.messages_body(body, "anthropic"), "system", "messages"),
    "bedrock": lambda body: _split(bedrock.converse_body(body, "anthropic.claude"), "system", "messages"),
    "google": lambda body: _split(gemini.content_body(body, "google"), "systemInstruction", "contents"),
}


def _split(native: dict[str, Any], system: str, turns: str) -> tuple[Any, list[dict[str, Any]]]:
    return native.get(system), native[turns]


def test_anthropic_puts_parallel_tool_results_and_the_next_user_text_in_one_user_turn() -> None:
    system, turns = BUILDERS["anthropic"]({"model": "claude", "messages": ROUND})
    assert system == [{"type": "text", "text": "Be brief."}]
    assert [turn["role"] for turn in turns] == ["user", "assistant", "user"]
    assert turns[2]["content"] == [
        {"type": "tool_result", "tool_use_id": "call_1", "content": "rain"},
        {"type": "tool_result", "tool_use_id": "call_2", "content": "sun"},
        {"type": "text", "text": "Thanks"},
    ]


def test_bedrock_puts_parallel_tool_results_and_the_next_user_text_in_one_user_turn() -> None:
    system, turns = BUILDERS["bedrock"]({"model": "anthropic.claude", "messages": ROUND})
    assert system == [{"text": "Be brief."}]
    assert [turn["role"] for turn in turns] == ["user", "assistant", "user"]
    assert turns[2]["content"] == [
        {"toolResult": {"toolUseId": "call_1", "content": [{"text": "rain"}]}},
        {"toolResult": {"toolUseId": "call_2", "content": [{"text": "sun"}]}},
        {"text": "Thanks"},
    ]


def test_gemini_names_each_result_after_its_call_in_one_user_turn() -> None:
    system, turns = BUILDERS["google"]({"model": "gemini", "messages": ROUND})
    assert system == {"parts": [{"text": "Be brief."}]}
    assert [turn["role"] for turn in turns] == ["user", "model", "user"]
    assert turns[2]["parts"] == [
        {"functionResponse": {"name": "weather", "response": {"content": "rain"}}},
        {"functionResponse": {"name": "weather", "response": {"content": "sun"}}},
        {"text": "Thanks"},
    ]


@pytest.mark.parametrize(("provider", "roles"), [("anthropic", 3), ("bedrock", 3), ("google", 1)])
def test_an_empty_assistant_message_is_a_turn_everywhere_but_gemini(provider: str, roles: int) -> None:
    messages = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": ""},
        {"role": "user", "content": "b"},
    ]
    _, turns = BUILDERS[provider]({"model": "anthropic.claude", "messages": messages})
    assert len(turns) == roles


@pytest.mark.parametrize("provider", BUILDERS)
def test_an_unknown_role_is_a_400_naming_the_message(provider: str) -> None:
    messages = [{"role": "user", "content": "a"}, {"role": "function", "name": "f", "content": "b"}]
    with pytest.raises(InvalidRequest) as caught:
        BUILDERS[provider]({"model": "anthropic.claude", "messages": messages})
    assert caught.value.param == "messages[1]"
    assert caught.value.message == f"{provider}: message role 'function' is not supported."
