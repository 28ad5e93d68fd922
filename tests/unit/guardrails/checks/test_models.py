from __future__ import annotations

from typing import Any

import pytest

from gateway.guardrails.check import BEFORE_REQUEST, CheckParametersError, CheckSpec, HookContext
from gateway.guardrails.checks.models import SPECS
from tests.unit.guardrails.checks.contexts import request

BY_ID = {spec.id: spec for spec in SPECS}
RULES = {
    "defaults": ["gpt-4o-mini"],
    "metadata": {"team": {"research": ["o1", "gpt-4o"], "support": ["gpt-4o-mini"]}},
}


def run(check: str, parameters: dict[str, Any], context: HookContext) -> Any:
    spec: CheckSpec = BY_ID[check]
    assert spec.run is not None
    return spec.run(context, spec.prepare(parameters))


def test_both_spellings_of_the_whitelist_run_before_the_model_only() -> None:
    assert set(BY_ID) == {"default.modelwhitelist", "default.modelWhitelist", "default.modelRules"}
    assert all(spec.events == {BEFORE_REQUEST} for spec in SPECS)


def test_a_listed_model_passes_and_another_fails() -> None:
    parameters = {"models": ["gpt-4o-mini"]}
    passed = run("default.modelwhitelist", parameters, request(model="gpt-4o-mini"))
    assert passed.verdict is True
    assert passed.data["explanation"] == 'Model "gpt-4o-mini" is allowed.'
    failed = run("default.modelwhitelist", parameters, request(model="o1"))
    assert failed.verdict is False
    assert failed.data["allowedModels"] == ["gpt-4o-mini"]


def test_not_turns_the_whitelist_into_a_block_list() -> None:
    assert (
        run("default.modelWhitelist", {"models": ["o1"], "not": True}, request(model="o1")).verdict is False
    )
    assert (
        run("default.modelWhitelist", {"models": ["o1"], "not": True}, request(model="gpt-4o")).verdict
        is True
    )


def test_a_request_without_a_model_cannot_be_decided() -> None:
    result = run("default.modelwhitelist", {"models": ["o1"]}, request(model=None))
    assert result.verdict is False
    assert result.error is not None


def test_rules_allow_the_models_of_the_matching_metadata() -> None:
    result = run("default.modelRules", {"rules": RULES}, request(model="o1", metadata={"team": "research"}))
    assert result.verdict is True
    assert result.data["explanation"] == 'Model "o1" is allowed by rules. (matched rules: team:research)'
    assert (
        run("default.modelRules", {"rules": RULES}, request(model="o1", metadata={"team": "support"})).verdict
        is False
    )


def test_rules_fall_back_to_the_defaults() -> None:
    result = run("default.modelRules", {"rules": RULES}, request(model="gpt-4o-mini"))
    assert result.verdict is True
    assert result.data["explanation"].endswith("(using default models)")
    assert run("default.modelRules", {"rules": RULES}, request(model="o1")).verdict is False


def test_not_blocks_the_models_the_rules_resolve() -> None:
    context = request(model="o1", metadata={"team": "research"})
    assert run("default.modelRules", {"rules": RULES, "not": True}, context).verdict is False


def test_rules_that_resolve_no_model_cannot_decide() -> None:
    result = run("default.modelRules", {"rules": {"metadata": {}}}, request())
    assert result.verdict is False
    assert result.error == "No allowed models resolved from rules"


@pytest.mark.parametrize(
    ("check", "parameters", "param"),
    [
        ("default.modelwhitelist", {}, "models"),
        ("default.modelwhitelist", {"models": [1]}, "models"),
        ("default.modelwhitelist", {"models": ["a"], "not": "no"}, "not"),
        ("default.modelRules", {"rules": ["a"]}, "rules"),
    ],
)
def test_bad_parameters_are_refused(check: str, parameters: dict[str, Any], param: str) -> None:
    with pytest.raises(CheckParametersError) as refused:
        BY_ID[check].prepare(parameters)
    assert refused.value.param == param
