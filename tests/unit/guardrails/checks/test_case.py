from __future__ import annotations

import pytest

from gateway.guardrails.check import CheckParametersError
from gateway.guardrails.checks.case import SPECS
from tests.unit.guardrails.checks.context import answer, checked, request

UPPER, LOWER = SPECS


def test_uppercase_passes_for_uppercase_text_with_digits_and_marks() -> None:
    result = checked(UPPER, request("HELLO, WORLD 42!"))
    assert result.verdict is True
    assert result.data["explanation"] == "All alphabetic characters in the text are uppercase."


def test_uppercase_fails_on_a_lowercase_letter_of_any_script() -> None:
    assert checked(UPPER, answer("ÉCOLé")).verdict is False
    assert checked(UPPER, answer("ÉCOLé"), **{"not": True}).verdict is True


def test_lowercase_passes_for_lowercase_text_and_fails_on_an_uppercase_letter() -> None:
    assert checked(LOWER, answer("all quiet here.")).verdict is True
    failed = checked(LOWER, answer("not Quiet"))
    assert failed.verdict is False
    assert failed.data["explanation"] == "The text contains uppercase characters."


def test_text_without_letters_is_both_cases() -> None:
    assert checked(UPPER, answer("123 ...")).verdict is True
    assert checked(LOWER, answer("123 ...")).verdict is True


def test_case_checks_without_text_cannot_decide() -> None:
    result = checked(LOWER, answer(None))
    assert result.verdict is False
    assert result.error == "Missing text to analyze"


def test_case_checks_refuse_a_not_that_is_not_a_boolean() -> None:
    with pytest.raises(CheckParametersError):
        UPPER.prepare({"not": "true"})
