from __future__ import annotations

import pytest

from gateway.guardrails.check import BEFORE_REQUEST, CheckParametersError, HookContext
from gateway.guardrails.checks.prefix import SPECS
from tests.unit.guardrails.checks.context import answer, checked, request

(ADD_PREFIX,) = SPECS


def test_add_prefix_prefixes_the_last_user_message() -> None:
    result = checked(ADD_PREFIX, request("hi"), prefix="Be brief. ")
    assert result.verdict is True
    assert result.transformed_request is not None
    assert result.transformed_request["messages"][-1] == {"role": "user", "content": "Be brief. hi"}
    assert result.data["applyToRole"] == "user"


def test_add_prefix_adds_a_system_message_first_when_there_is_none() -> None:
    result = checked(ADD_PREFIX, request("hi"), prefix="Be kind.", applyToRole="system")
    assert result.transformed_request is not None
    assert result.transformed_request["messages"][0] == {"role": "system", "content": "Be kind."}


def test_add_prefix_inserts_a_new_message_when_not_adding_to_existing() -> None:
    context = request("hi", messages=[{"role": "system", "content": "Old."}])
    result = checked(ADD_PREFIX, context, prefix="New.", applyToRole="system", addToExisting=False)
    assert result.transformed_request is not None
    assert [m["content"] for m in result.transformed_request["messages"]] == ["New.", "Old.", "hi"]


def test_only_if_empty_leaves_a_non_empty_message_alone() -> None:
    context = request("hi", messages=[{"role": "system", "content": "Old."}])
    result = checked(ADD_PREFIX, context, prefix="New.", applyToRole="system", onlyIfEmpty=True)
    assert result.verdict is True
    assert not result.transformed


def test_add_prefix_prefixes_a_completion_prompt() -> None:
    result = checked(ADD_PREFIX, request("Once", "complete"), prefix="Story: ")
    assert result.transformed_request is not None
    assert result.transformed_request["prompt"] == "Story: Once"


def test_a_messages_system_prefix_goes_to_the_top_level_system() -> None:
    body = {"model": "m", "system": "Be kind.", "messages": [{"role": "user", "content": "hi"}]}
    context = HookContext(BEFORE_REQUEST, "messages", "anthropic", {}, body)
    result = checked(ADD_PREFIX, context, prefix="Rules. ", applyToRole="system")
    assert result.transformed_request is not None
    assert result.transformed_request["system"] == "Rules. Be kind."
    assert result.transformed_request["messages"] == body["messages"]


def test_add_prefix_leaves_other_requests_and_answers_alone() -> None:
    assert not checked(ADD_PREFIX, request("x", "embed", input="x"), prefix="p").transformed
    result = checked(ADD_PREFIX, answer("x"), prefix="p")
    assert result.verdict is True
    assert result.data is None


@pytest.mark.parametrize(
    "parameters",
    [
        {},
        {"prefix": ""},
        {"prefix": "p" * 10_001},
        {"prefix": "p", "applyToRole": "tool"},
        {"prefix": "p", "addToExisting": "no"},
    ],
)
def test_add_prefix_refuses_bad_parameters(parameters: dict[str, object]) -> None:
    with pytest.raises(CheckParametersError):
        ADD_PREFIX.prepare(parameters)
