"""Hooks in a routing config: both forms parsed into the same hooks, the limits, and the errors
that name the config path."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.config.fields import ConfigError
from gateway.config.hooks import MAX_CHECKS, MAX_HOOKS, parse_hooks, parse_shorthand
from gateway.guardrails.check import AFTER_REQUEST, BEFORE_REQUEST
from gateway.guardrails.registry import CHECKS

SUFFIX = {"suffix": "x"}
ENDS = {"id": "default.endsWith", "parameters": SUFFIX}


def error_of(table: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as raised:
        parse_hooks(table, "config")
    return str(raised.value)


def test_shorthand_takes_hook_keys_out_and_names_bare_checks_default() -> None:
    shorthand = {"endsWith": SUFFIX, "deny": True, "id": "g1", "sequential": True, "stream_mode": "hold"}
    [hook] = parse_hooks({"output_guardrails": [shorthand]}, "config").after or ()
    assert (hook.id, hook.event, hook.type, hook.deny) == ("g1", AFTER_REQUEST, "guardrail", True)
    assert (hook.sequential, hook.stream_mode) == (True, "hold")
    assert [call.spec.id for call in hook.checks] == ["default.endsWith"]


def test_shorthand_with_a_dotted_name_or_an_id_keeps_it() -> None:
    table = {
        "input_guardrails": [
            {"default.wordCount": {"minWords": 1}},
            {"any": {"id": "default.endsWith", **SUFFIX}},
        ]
    }
    hooks = parse_hooks(table, "config").before or ()
    assert [
        hook.checks[0].spec is CHECKS[name]
        for hook, name in zip(hooks, ("default.wordCount", "default.endsWith"), strict=True)
    ] == [True, True]
    assert [hook.id for hook in hooks] == ["input_guardrails[0]", "input_guardrails[1]"]


def test_mutators_are_mutator_hooks_after_the_full_form_and_guardrails() -> None:
    table = {
        "before_request_hooks": [{"id": "full", "checks": [ENDS]}],
        "input_guardrails": [{"endsWith": SUFFIX}],
        "input_mutators": [{"addPrefix": {"prefix": "p "}}],
    }
    hooks = parse_hooks(table, "config").before or ()
    assert [(hook.event, hook.type) for hook in hooks] == [
        (BEFORE_REQUEST, "guardrail"),
        (BEFORE_REQUEST, "guardrail"),
        (BEFORE_REQUEST, "mutator"),
    ]
    assert hooks[0].id == "full"


def test_a_node_without_hooks_inherits_and_disabled_checks_are_dropped() -> None:
    assert parse_hooks({}, "config").before is None
    table = {"after_request_hooks": [{"checks": [{**ENDS, "is_enabled": False}]}]}
    [hook] = parse_hooks(table, "config").after or ()
    assert hook.checks == ()


def test_parameters_are_prepared_once_at_parse() -> None:
    [hook] = parse_hooks({"input_guardrails": [{"regexMatch": {"rule": "a+"}}]}, "config").before or ()
    assert hook.checks[0].prepared is not None


def test_the_header_shorthand_parses_alone() -> None:
    [hook] = parse_shorthand(
        [{"endsWith": SUFFIX, "deny": True}], "x-portkey-default-input-guardrails", BEFORE_REQUEST
    )
    assert (hook.event, hook.deny, hook.checks[0].spec.id) == (BEFORE_REQUEST, True, "default.endsWith")


def test_too_many_hooks_or_checks_are_refused() -> None:
    many_hooks = {"input_guardrails": [{"endsWith": SUFFIX}] * (MAX_HOOKS + 1)}
    assert f"the limit is {MAX_HOOKS}" in error_of(many_hooks)
    half = MAX_CHECKS // 2 + 1
    many_checks = {
        "before_request_hooks": [{"checks": [ENDS] * half}],
        "after_request_hooks": [{"checks": [ENDS] * half}],
    }
    assert f"the limit is {MAX_CHECKS}" in error_of(many_checks)


@pytest.mark.parametrize(
    ("table", "path"),
    [
        (
            {"before_request_hooks": [{"checks": [{"id": "default.nosuch"}]}]},
            "config.before_request_hooks[0].checks[0].id",
        ),
        (
            {"input_guardrails": [{"regexMatch": {"rule": "a("}}]},
            "config.input_guardrails[0].regexMatch.parameters.rule",
        ),
        ({"output_guardrails": [{"addPrefix": {"prefix": "x"}}]}, "config.output_guardrails[0].addPrefix"),
        (
            {"output_guardrails": [{"endsWith": SUFFIX, "deny": True, "stream_mode": "report"}]},
            "config.output_guardrails[0].stream_mode",
        ),
        (
            {"output_guardrails": [{"endsWith": SUFFIX, "stream_mode": "later"}]},
            "config.output_guardrails[0].stream_mode",
        ),
        (
            {"input_guardrails": [{"endsWith": SUFFIX, "deny": True, "async": True}]},
            "config.input_guardrails[0].async",
        ),
        ({"input_guardrails": [{"endsWith": SUFFIX, "deny": "yes"}]}, "config.input_guardrails[0].deny"),
        ({"input_guardrails": [{"endsWith": SUFFIX, "type": "filter"}]}, "config.input_guardrails[0].type"),
        ({"input_guardrails": ["pg-saved-1"]}, "config.input_guardrails[0]"),
        ({"input_guardrails": {"endsWith": SUFFIX}}, "config.input_guardrails"),
        (
            {"after_request_hooks": [{"checks": ENDS}]},
            "config.after_request_hooks[0].checks",
        ),
        (
            {"after_request_hooks": [{"checks": [{**ENDS, "is_enabled": 1}]}]},
            "config.after_request_hooks[0].checks[0].is_enabled",
        ),
    ],
)
def test_bad_hooks_name_their_config_path(table: dict[str, Any], path: str) -> None:
    assert path in error_of(table)
