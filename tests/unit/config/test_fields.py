"""Routing-config shape checks: a 400 that names the dotted path and never repeats the value."""

from __future__ import annotations

import pytest

from gateway.config.fields import ConfigError, as_object, as_text, bad, limit


def test_an_object_and_a_non_empty_string_pass_through_unchanged() -> None:
    value = {"provider": "openai"}
    assert as_object(value, "config") is value
    assert as_text("openai", "config.provider") == "openai"


@pytest.mark.parametrize("raw", [[], "x", 3, None])
def test_anything_but_an_object_is_a_400_naming_its_path(raw: object) -> None:
    with pytest.raises(ConfigError) as caught:
        as_object(raw, "config.targets[1]")
    error = caught.value
    assert (error.status, error.code, error.param) == (400, "invalid_config", "x-portkey-config")
    assert error.message == "Invalid routing config: config.targets[1]: expected a JSON object."


@pytest.mark.parametrize("raw", ["", 7, None, ["sk-secret"]])
def test_an_empty_or_non_string_text_is_refused_without_echoing_it(raw: object) -> None:
    with pytest.raises(ConfigError) as caught:
        as_text(raw, "config.api_key")
    assert caught.value.message == "Invalid routing config: config.api_key: expected a non-empty string."
    assert "sk-secret" not in caught.value.message


def test_bad_and_limit_build_openai_shaped_400s() -> None:
    assert bad("config.weight", "expected a number").body() == {
        "error": {
            "message": "Invalid routing config: config.weight: expected a number.",
            "type": "invalid_request_error",
            "param": "x-portkey-config",
            "code": "invalid_config",
        }
    }
    assert limit("nested deeper than 8 levels").message == (
        "Invalid routing config: nested deeper than 8 levels."
    )
