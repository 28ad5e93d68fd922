"""Routing configs parsed once into a tree: inheritance at parse, limits, and 400s naming the path."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.config.fields import ConfigError
from gateway.config.routing import MAX_CONFIG_BYTES, MAX_TARGETS, parse_config, parse_config_value


def parsed(config: dict[str, Any], strict: bool = False) -> Any:
    return parse_config(json.dumps(config), strict)


def refusal(config: Any, strict: bool = False) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(config if isinstance(config, str) else json.dumps(config), strict)
    assert (caught.value.status, caught.value.param) == (400, "x-portkey-config")
    return caught.value.message


def test_a_target_config_is_one_node_with_its_options() -> None:
    node = parsed({"provider": "azure-openai", "api_key": "k", "resource_name": "r", "deployment_id": "d"})
    assert node.is_target
    assert (node.path, node.provider, node.api_key) == ("config", "azure-openai", "k")
    assert dict(node.options) == {"azure-resource-name": "r", "azure-deployment-id": "d"}


def test_children_inherit_custom_host_forward_headers_and_params_edits_at_parse() -> None:
    root = parsed(
        {
            "strategy": {"mode": "fallback"},
            "custom_host": "http://127.0.0.1:1/v1",
            "forward_headers": ["X-A"],
            "default_params": {"temperature": 0},
            "drop_params": ["user"],
            "targets": [
                {"provider": "openai", "default_params": {"top_p": 1}, "drop_params": ["seed"]},
                {"provider": "openai", "custom_host": "http://127.0.0.1:2/v1", "forward_headers": []},
            ],
        }
    )
    first, second = root.targets
    assert first.path == "config.targets[0]"
    assert first.custom_host == "http://127.0.0.1:1/v1"
    assert first.forward_headers == {"x-a"}
    assert dict(first.default_params) == {"temperature": 0, "top_p": 1}
    assert first.drop_params == {"user", "seed"}
    assert second.custom_host == "http://127.0.0.1:2/v1"
    assert second.forward_headers == frozenset()
    assert [node.path for node in root.walk()] == ["config", "config.targets[0]", "config.targets[1]"]


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({"strategy": {"mode": "roundrobin"}, "targets": [{"provider": "openai"}]}, "config.strategy.mode"),
        ({"targets": [{"provider": "openai"}, {"provider": "openai"}]}, "config.strategy"),
        (
            {"strategy": {"mode": "fallback"}, "targets": [{"provider": "openai", "weight": "x"}]},
            "config.targets[0].weight",
        ),
        (
            {"provider": "openai", "targets": [{"provider": "openai"}], "strategy": {"mode": "single"}},
            "config.provider",
        ),
        ({"provider": "openai", "request_timeout": -5}, "config.request_timeout"),
        ({"provider": 7}, "config.provider"),
    ],
)
def test_a_bad_field_is_named_by_its_dotted_path(config: dict[str, Any], named: str) -> None:
    assert f"{named}:" in refusal(config)


def test_a_bad_value_is_never_echoed() -> None:
    assert "sk-secret-value" not in refusal({"provider": "openai", "api_key": ["sk-secret-value"]})


def test_not_json_and_the_limits_are_400s() -> None:
    assert refusal("{nope") == "x-portkey-config is not valid JSON."
    big = {"provider": "openai", "override_params": {"pad": "x" * MAX_CONFIG_BYTES}}
    assert "the limit is" in refusal(big)
    many = {"strategy": {"mode": "fallback"}, "targets": [{"provider": "openai"}] * (MAX_TARGETS + 1)}
    assert f"the limit is {MAX_TARGETS}" in refusal(many)


def test_unknown_keys_are_kept_as_ignored_paths_or_refused_when_strict() -> None:
    node = parsed({"provider": "openai", "colour": "blue"})
    assert node.ignored == ("config.colour",)
    assert "config.colour:" in refusal({"provider": "openai", "colour": "blue"}, strict=True)


def test_a_named_config_is_checked_like_an_inline_one() -> None:
    node = parse_config_value({"provider": "openai"}, where="configs.main")
    assert node.provider == "openai"
    with pytest.raises(ConfigError):
        parse_config_value({"provider": "openai", "weight": -1})
