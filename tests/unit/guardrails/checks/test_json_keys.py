from __future__ import annotations

from typing import Any

import pytest

from gateway.guardrails.check import AFTER_REQUEST, CheckParametersError
from gateway.guardrails.checks.json_keys import SPECS
from tests.unit.guardrails.checks.contexts import answer

CHECK = SPECS[0]


def run(text: str, keys: list[str], operator: str | None = None) -> Any:
    parameters: dict[str, Any] = {"keys": keys}
    if operator is not None:
        parameters["operator"] = operator
    assert CHECK.run is not None
    return CHECK.run(answer(text), CHECK.prepare(parameters))


def test_runs_after_the_model_only() -> None:
    assert CHECK.id == "default.jsonKeys"
    assert CHECK.events == {AFTER_REQUEST}


def test_any_is_the_default_and_passes_with_one_key() -> None:
    result = run('{"name": "Ada"}', ["name", "email"])
    assert result.verdict is True
    assert result.data["operator"] == "any"
    assert result.data["presentKeys"] == ["name"]
    assert result.data["missingKeys"] == ["email"]


def test_all_fails_and_names_the_missing_keys() -> None:
    result = run('```json\n{"name": "Ada"}\n```', ["name", "email"], "all")
    assert result.verdict is False
    assert result.data["explanation"] == "Failed to find all required keys. Missing keys: [email]."


def test_none_passes_without_the_keys_and_fails_with_them() -> None:
    assert run('{"ok": 1}', ["password"], "none").verdict is True
    assert run('{"password": 1}', ["password"], "none").verdict is False


def test_an_answer_without_json_fails_with_an_excerpt() -> None:
    result = run("x" * 150, ["a"])
    assert result.verdict is False
    assert result.data["textExcerpt"] == "x" * 100 + "..."


def test_a_json_array_has_none_of_the_keys() -> None:
    assert run('```\n["name"]\n```', ["name"]).verdict is False


@pytest.mark.parametrize(
    ("parameters", "param"),
    [({"keys": []}, "keys"), ({"keys": [1]}, "keys"), ({"keys": ["a"], "operator": "some"}, "operator")],
)
def test_bad_parameters_are_refused(parameters: dict[str, Any], param: str) -> None:
    with pytest.raises(CheckParametersError) as refused:
        CHECK.prepare(parameters)
    assert refused.value.param == param
