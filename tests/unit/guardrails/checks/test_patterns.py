from __future__ import annotations

from typing import Any

import pytest

from gateway.guardrails.check import CheckParametersError, CheckResult, HookContext
from gateway.guardrails.checks.patterns import SPECS
from tests.unit.guardrails.checks.context import answer, request

MATCH, REPLACE = SPECS
prepare_match, prepare_replace = MATCH.prepare, REPLACE.prepare


def run_match(context: HookContext, prepared: Any) -> CheckResult:
    assert MATCH.run is not None
    return MATCH.run(context, prepared)


def run_replace(context: HookContext, prepared: Any) -> CheckResult:
    assert REPLACE.run is not None
    return REPLACE.run(context, prepared)


def test_regex_match_passes_on_a_match_with_its_details() -> None:
    result = run_match(request("order 1234 shipped"), prepare_match({"rule": r"(?P<id>\d+)"}))
    assert result.verdict is True
    assert result.error is None
    assert result.data["matchDetails"] == {
        "matchedText": "1234",
        "index": 6,
        "groups": {"id": "1234"},
        "captures": ["1234"],
    }
    assert result.data["explanation"] == r"The regex pattern '(?P<id>\d+)' successfully matched the text."


def test_regex_match_fails_without_a_match_and_not_inverts_it() -> None:
    assert run_match(answer("no digits"), prepare_match({"rule": r"\d"})).verdict is False
    inverted = run_match(answer("no digits"), prepare_match({"rule": r"\d", "not": True}))
    assert inverted.verdict is True
    assert inverted.data["matchDetails"] is None


def test_regex_match_without_text_cannot_decide() -> None:
    result = run_match(answer(None), prepare_match({"rule": "x"}))
    assert result.verdict is False
    assert result.error == "Missing text to match"
    assert result.data["textExcerpt"] == "No text available"


@pytest.mark.parametrize(
    "parameters",
    [{}, {"rule": ""}, {"rule": 5}, {"rule": r"(a)\1"}, {"rule": "(?=a)"}, {"rule": "x", "not": "yes"}],
)
def test_regex_match_refuses_bad_parameters(parameters: dict[str, object]) -> None:
    with pytest.raises(CheckParametersError):
        prepare_match(parameters)


def test_a_backtracking_pattern_runs_in_linear_time() -> None:
    # (a+)+$ takes seconds on 30 characters in a backtracking engine; RE2 answers at once.
    assert run_match(request("a" * 100_000 + "!"), prepare_match({"rule": "(a+)+$"})).verdict is False


def test_regex_replace_redacts_every_match_of_a_bare_pattern() -> None:
    result = run_replace(
        request("ssn 123-45-6789 and 987-65-4321"), prepare_replace({"rule": r"\d{3}-\d\d-\d{4}"})
    )
    assert result.verdict is True
    assert result.transformed
    assert result.transformed_request is not None
    assert result.transformed_request["messages"][-1]["content"] == "ssn [REDACTED] and [REDACTED]"


def test_regex_replace_keeps_javascript_flags_in_the_slash_form() -> None:
    first = run_replace(request("A1 a2"), prepare_replace({"rule": "/a\\d/i", "redactText": "#"}))
    every = run_replace(request("A1 a2"), prepare_replace({"rule": "/a\\d/gi", "redactText": "#"}))
    assert first.transformed_request is not None
    assert every.transformed_request is not None
    assert first.transformed_request["messages"][-1]["content"] == "# a2"
    assert every.transformed_request["messages"][-1]["content"] == "# #"


def test_regex_replace_puts_the_redact_text_in_literally() -> None:
    result = run_replace(request("key=abc"), prepare_replace({"rule": "(abc)", "redactText": r"$1 \1"}))
    assert result.transformed_request is not None
    assert result.transformed_request["messages"][-1]["content"] == r"key=$1 \1"


def test_regex_replace_fails_on_detection_when_asked_and_changes_the_answer() -> None:
    result = run_replace(
        answer("call 555-0100"), prepare_replace({"rule": r"\d{3}-\d{4}", "failOnDetection": True})
    )
    assert result.verdict is False
    assert result.transformed_response is not None
    assert result.transformed_request is None
    assert result.transformed_response["choices"][0]["message"]["content"] == "call [REDACTED]"


def test_regex_replace_without_a_match_changes_nothing() -> None:
    result = run_replace(request("clean"), prepare_replace({"rule": r"\d", "failOnDetection": True}))
    assert result.verdict is True
    assert not result.transformed
    assert result.data["explanation"] == r"The regex pattern '\d' did not match any text."


def test_regex_replace_without_text_cannot_decide() -> None:
    result = run_replace(answer(None), prepare_replace({"rule": "x"}))
    assert result.verdict is False
    assert result.error == "Missing text to match"


@pytest.mark.parametrize(
    "parameters",
    [
        {},
        {"rule": "/a/y"},
        {"rule": "/a/q"},
        {"rule": "x", "redactText": 3},
        {"rule": "x", "redactText": "r" * 1001},
    ],
)
def test_regex_replace_refuses_bad_parameters(parameters: dict[str, object]) -> None:
    with pytest.raises(CheckParametersError) as raised:
        prepare_replace(parameters)
    assert raised.value.param in ("rule", "redactText")
