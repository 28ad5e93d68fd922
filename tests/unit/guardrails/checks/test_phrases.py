from __future__ import annotations

import pytest

from gateway.guardrails.check import AFTER_REQUEST, CheckParametersError
from gateway.guardrails.checks.phrases import SPECS
from tests.unit.guardrails.checks.context import answer, checked

CONTAINS, ENDS_WITH = SPECS


@pytest.mark.parametrize(
    ("operator", "text", "passes"),
    [
        ("any", "the red fox", True),
        ("any", "the blue fox", False),
        ("all", "red and green", True),
        ("all", "red only", False),
        ("none", "blue", True),
        ("none", "green", False),
    ],
)
def test_contains_by_operator(operator: str, text: str, passes: bool) -> None:
    result = checked(CONTAINS, answer(text), words=["red", "green"], operator=operator)
    assert result.verdict is passes


def test_contains_reports_found_and_missing_words() -> None:
    result = checked(CONTAINS, answer("red fox"), words=["red", "Fox"])
    assert result.data == {
        "explanation": "Check passed for 'any' words. At least one word was found.",
        "foundWords": ["red"],
        "missingWords": ["Fox"],
        "operator": "any",
    }


def test_contains_reads_no_text_as_containing_nothing() -> None:
    assert checked(CONTAINS, answer(None), words=["x"], operator="none").verdict is True
    assert checked(CONTAINS, answer(None), words=["x"], operator="any").verdict is False


def test_contains_runs_after_the_model_only() -> None:
    assert CONTAINS.events == frozenset({AFTER_REQUEST})


@pytest.mark.parametrize(
    "parameters",
    [
        {},
        {"words": "red"},
        {"words": [""]},
        {"words": ["a"] * 101},
        {"words": ["a" * 1001]},
        {"words": ["a"], "operator": "some"},
    ],
)
def test_contains_refuses_bad_parameters(parameters: dict[str, object]) -> None:
    with pytest.raises(CheckParametersError):
        CONTAINS.prepare(parameters)


def test_ends_with_passes_with_the_suffix_or_the_suffix_and_a_period() -> None:
    assert checked(ENDS_WITH, answer("Thanks, bye"), suffix="bye").verdict is True
    period = checked(ENDS_WITH, answer("Thanks, bye."), suffix="bye")
    assert period.verdict is True
    assert period.data["explanation"] == 'The text ends with "bye" (including trailing period).'


def test_ends_with_fails_otherwise_and_not_inverts_it() -> None:
    assert checked(ENDS_WITH, answer("bye now"), suffix="bye").verdict is False
    assert checked(ENDS_WITH, answer("bye now"), suffix="bye", **{"not": True}).verdict is True


def test_ends_with_without_text_cannot_decide() -> None:
    result = checked(ENDS_WITH, answer(""), suffix="bye")
    assert result.verdict is False
    assert result.error == "Missing text to analyze"


@pytest.mark.parametrize("parameters", [{}, {"suffix": ""}, {"suffix": 1}, {"suffix": "x" * 1001}])
def test_ends_with_refuses_a_missing_or_bad_suffix(parameters: dict[str, object]) -> None:
    with pytest.raises(CheckParametersError) as raised:
        ENDS_WITH.prepare(parameters)
    assert raised.value.param == "suffix"
