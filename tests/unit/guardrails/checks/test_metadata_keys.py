from __future__ import annotations

from typing import Any

import pytest

from gateway.guardrails.check import BEFORE_REQUEST, CheckParametersError
from gateway.guardrails.checks.metadata_keys import SPECS
from tests.unit.guardrails.checks.contexts import request

CHECK = SPECS[0]


def run(metadata: dict[str, str], keys: list[str], operator: str | None = None) -> Any:
    parameters: dict[str, Any] = {"metadataKeys": keys}
    if operator is not None:
        parameters["operator"] = operator
    assert CHECK.run is not None
    return CHECK.run(request(metadata=metadata), CHECK.prepare(parameters))


def test_runs_before_the_model_only() -> None:
    assert CHECK.id == "default.requiredMetadataKeys"
    assert CHECK.events == {BEFORE_REQUEST}


def test_all_is_the_default_and_names_the_missing_keys() -> None:
    result = run({"team": "a"}, ["team", "user"])
    assert result.verdict is False
    assert result.data == {
        "explanation": "Check failed for 'all' metadata keys. Some metadata keys were missing.",
        "missing_metadata_keys": ["user"],
        "found_metadata_keys": ["team"],
        "operator": "all",
    }
    assert run({"team": "a", "user": "b"}, ["team", "user"]).verdict is True


def test_any_and_none() -> None:
    assert run({"user": "b"}, ["team", "user"], "any").verdict is True
    assert run({}, ["team", "user"], "any").verdict is False
    assert run({}, ["secret_flag"], "none").verdict is True
    assert run({"secret_flag": "1"}, ["secret_flag"], "none").verdict is False


def test_values_never_appear_in_the_data() -> None:
    result = run({"team": "sk-marker-value"}, ["team"])
    assert "sk-marker-value" not in repr(result.data)


@pytest.mark.parametrize(
    ("parameters", "param"),
    [
        ({}, "metadataKeys"),
        ({"metadataKeys": [1]}, "metadataKeys"),
        ({"metadataKeys": ["a"], "operator": "x"}, "operator"),
    ],
)
def test_bad_parameters_are_refused(parameters: dict[str, Any], param: str) -> None:
    with pytest.raises(CheckParametersError) as refused:
        CHECK.prepare(parameters)
    assert refused.value.param == param
