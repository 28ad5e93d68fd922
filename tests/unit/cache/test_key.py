from __future__ import annotations

from typing import Any

from gateway.cache.key import semantic_parts

SYSTEM = {"role": "system", "content": "Be brief."}


def test_the_last_user_message_text_is_split_from_the_rest() -> None:
    params: dict[str, Any] = {
        "model": "m",
        "messages": [SYSTEM, {"role": "user", "content": "Hi?", "name": "u"}],
    }
    text, rest = semantic_parts(params) or ("", {})
    assert text == "Hi?"
    assert rest == {"model": "m", "messages": [SYSTEM, {"role": "user", "name": "u"}]}
    assert params["messages"][-1]["content"] == "Hi?"  # the request itself is left as it was


def test_text_parts_are_joined_and_other_parts_make_it_incomparable() -> None:
    parts = [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    assert (semantic_parts({"messages": [{"role": "user", "content": parts}]}) or ("",))[0] == "a\nb"
    image = {"type": "image_url", "image_url": {"url": "data:,"}}
    assert semantic_parts({"messages": [{"role": "user", "content": [*parts, image]}]}) is None


def test_requests_not_ending_in_a_user_question_have_no_semantic_parts() -> None:
    assert semantic_parts({"prompt": "hi"}) is None
    assert semantic_parts({"messages": []}) is None
    assert semantic_parts({"messages": [{"role": "assistant", "content": "hi"}]}) is None
    assert semantic_parts({"messages": [{"role": "user", "content": None}]}) is None
