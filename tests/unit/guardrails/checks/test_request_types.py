from __future__ import annotations

from typing import Any

import pytest

from gateway.guardrails.check import BEFORE_REQUEST, CheckParametersError, HookContext
from gateway.guardrails.checks.request_types import SPECS
from tests.unit.guardrails.checks.contexts import request

CHECK = SPECS[0]


def run(parameters: dict[str, Any], context: HookContext) -> Any:
    assert CHECK.run is not None
    return CHECK.run(context, CHECK.prepare(parameters))


def test_runs_before_the_model_only() -> None:
    assert CHECK.id == "default.allowedRequestTypes"
    assert CHECK.events == {BEFORE_REQUEST}


def test_without_lists_everything_passes() -> None:
    result = run({}, request(request_type="embed"))
    assert result.verdict is True
    assert result.data["mode"] == "unrestricted"
    assert result.data["allowedTypes"] == ["all"]
    assert result.data["source"] == "default"


def test_an_allow_list_passes_its_types_only() -> None:
    parameters = {"allowedTypes": ["chatComplete", "messages"]}
    assert run(parameters, request(request_type="chatComplete")).verdict is True
    failed = run(parameters, request(request_type="embed"))
    assert failed.verdict is False
    assert (
        failed.data["explanation"]
        == 'Request type "embed" is not allowed. Allowed types are: chatComplete, messages'
    )


def test_a_comma_separated_block_list_blocks() -> None:
    result = run({"blockedTypes": "embed, complete"}, request(request_type="complete"))
    assert result.verdict is False
    assert result.data["mode"] == "blocklist"


def test_blocked_wins_over_allowed_from_the_metadata() -> None:
    metadata = {"supported_endpoints": "chatComplete,embed", "blocked_endpoints": "embed,complete"}
    result = run({}, request(request_type="chatComplete", metadata={"supported_endpoints": "embed"}))
    assert result.verdict is False
    assert result.data["source"] == "metadata"
    conflict = run({}, request(request_type="embed", metadata=metadata))
    assert conflict.verdict is False
    assert conflict.error is not None


@pytest.mark.parametrize(
    ("parameters", "param"),
    [
        ({"allowedTypes": 5}, "allowedTypes"),
        ({"blockedTypes": [1]}, "blockedTypes"),
        ({"allowedTypes": ["embed"], "blockedTypes": "embed"}, "blockedTypes"),
    ],
)
def test_bad_parameters_are_refused(parameters: dict[str, Any], param: str) -> None:
    with pytest.raises(CheckParametersError) as refused:
        CHECK.prepare(parameters)
    assert refused.value.param == param
