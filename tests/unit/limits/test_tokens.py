"""The token estimate: characters / 4 of what is sent, plus the output cap."""

from __future__ import annotations

from gateway.limits.tokens import DEFAULT_OUTPUT_TOKENS, estimate_tokens


def test_chat_messages_count_their_text_and_the_max_tokens() -> None:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "x" * 400}], "max_tokens": 50}
    # 400 characters of content, plus "user" (4): 101 tokens, and 50 out.
    assert estimate_tokens(body) == 101 + 50


def test_content_parts_are_counted_and_a_missing_cap_gets_the_default() -> None:
    body = {"messages": [{"role": "user", "content": [{"type": "text", "text": "y" * 80}]}]}
    assert estimate_tokens(body) == (4 + 4 + 80) // 4 + DEFAULT_OUTPUT_TOKENS


def test_prompts_and_embedding_inputs_count_too() -> None:
    assert estimate_tokens({"prompt": "z" * 40, "max_tokens": 1}) == 11
    assert estimate_tokens({"input": ["a" * 8, "b" * 8], "max_completion_tokens": 2}) == 6


def test_a_body_without_text_costs_the_default_output() -> None:
    assert estimate_tokens(None) == DEFAULT_OUTPUT_TOKENS
    assert estimate_tokens({"model": "m", "max_tokens": True}) == DEFAULT_OUTPUT_TOKENS
