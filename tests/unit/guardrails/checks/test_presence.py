from __future__ import annotations

import pytest

from gateway.guardrails.check import CheckParametersError
from gateway.guardrails.checks.presence import SPECS
from tests.unit.guardrails.checks.context import answer, checked

(NOT_NULL,) = SPECS


def test_not_null_passes_for_an_answer_with_text() -> None:
    result = checked(NOT_NULL, answer("hi"))
    assert result.verdict is True
    assert result.data == {
        "isNull": False,
        "contentType": "string",
        "textArrayLength": 1,
        "explanation": "Content exists and is not null.",
        "verdict": "passed",
    }


@pytest.mark.parametrize(("content", "kind"), [(None, "null"), ("  \n", "string"), ([], "object")])
def test_not_null_fails_for_missing_or_blank_content(content: object, kind: str) -> None:
    result = checked(NOT_NULL, answer(content))
    assert result.verdict is False
    assert result.error is None
    assert result.data["isNull"] is True
    assert result.data["contentType"] == kind


def test_not_null_with_not_passes_for_missing_content() -> None:
    assert checked(NOT_NULL, answer(None), **{"not": True}).verdict is True
    assert checked(NOT_NULL, answer("hi"), **{"not": True}).verdict is False


def test_not_null_refuses_a_not_that_is_not_a_boolean() -> None:
    with pytest.raises(CheckParametersError):
        NOT_NULL.prepare({"not": 0})
