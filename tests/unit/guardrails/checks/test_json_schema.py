from __future__ import annotations

import time
from typing import Any

import pytest

from gateway.guardrails.check import AFTER_REQUEST, CheckParametersError
from gateway.guardrails.checks.json_schema import MAX_SCHEMA_BYTES, SPECS
from tests.unit.guardrails.checks.contexts import answer

CHECK = SPECS[0]
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string", "pattern": "^[A-Z][a-z]+$"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}


def run(schema: dict[str, Any], text: str, **parameters: Any) -> Any:
    assert CHECK.run is not None
    return CHECK.run(answer(text), CHECK.prepare({"schema": schema, **parameters}))


def test_runs_after_the_model_only() -> None:
    assert CHECK.id == "default.jsonSchema"
    assert CHECK.events == {AFTER_REQUEST}


def test_a_fenced_answer_the_schema_accepts_passes() -> None:
    result = run(PERSON, 'Sure:\n```json\n{"name": "Ada", "age": 36}\n```')
    assert result.verdict is True
    assert result.data["matchedJson"] == {"name": "Ada", "age": 36}
    assert result.data["validationErrors"] == []


def test_a_failing_answer_reports_where_and_why() -> None:
    result = run(PERSON, 'Here: {"name": "ada", "age": "old"}')
    assert result.verdict is False
    assert result.data["explanation"] == "Failed to validate JSON against the provided schema."
    assert [error["path"] for error in result.data["validationErrors"]] == ["/age", "/name"]


def test_the_first_accepted_value_wins_over_earlier_rejected_ones() -> None:
    result = run(PERSON, '{"name": "x"} or rather {"name": "Bob", "age": 2}')
    assert result.verdict is True
    assert result.data["matchedJson"] == {"name": "Bob", "age": 2}


def test_not_passes_when_the_schema_rejects() -> None:
    result = run(PERSON, '{"name": "ada"}', **{"not": True})
    assert result.verdict is True
    assert result.data["explanation"] == "Successfully validated JSON does not match the schema as expected."


def test_an_answer_without_json_fails_even_with_not() -> None:
    result = run(PERSON, "no json here", **{"not": True})
    assert result.verdict is False
    assert result.data["explanation"] == "No valid JSON found in the response."


def test_patterns_run_in_linear_time() -> None:
    started = time.perf_counter()
    result = run({"type": "string", "pattern": "^(a+)+$"}, '```\n"' + "a" * 50_000 + '!"\n```')
    assert result.verdict is False
    assert time.perf_counter() - started < 1.0


def test_pattern_properties_and_additional_properties_use_the_patterns() -> None:
    schema = {
        "type": "object",
        "patternProperties": {"^x_": {"type": "integer"}},
        "additionalProperties": False,
    }
    assert run(schema, '{"x_a": 1}').verdict is True
    assert run(schema, '{"x_a": "s"}').verdict is False
    assert run(schema, '{"y": 1}').verdict is False


@pytest.mark.parametrize(
    ("schema", "says"),
    [
        ([1], "must be a JSON Schema object"),
        ({"type": 5}, "not a valid 2020-12 JSON Schema"),
        ({"pattern": "(a)\\1"}, "pattern that is refused"),
        ({"$ref": "http://127.0.0.1:9/schema.json"}, "only use local references"),
        ({"patternProperties": {"a": {}}, "unevaluatedProperties": False}, "unevaluatedProperties"),
        ({"enum": ["x" * MAX_SCHEMA_BYTES]}, "larger than"),
    ],
)
def test_bad_schemas_are_refused_when_the_config_is_parsed(schema: Any, says: str) -> None:
    with pytest.raises(CheckParametersError, match=says) as refused:
        CHECK.prepare({"schema": schema})
    assert refused.value.param == "schema"


def test_not_must_be_a_boolean() -> None:
    with pytest.raises(CheckParametersError) as refused:
        CHECK.prepare({"schema": PERSON, "not": "yes"})
    assert refused.value.param == "not"
