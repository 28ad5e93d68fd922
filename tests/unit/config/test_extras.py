"""Config keys beside routing: cache, forward_headers, params edits, sticky, unsupported and unknown keys."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.config.extras import (
    MAX_STICKY_TTL,
    Cache,
    Sticky,
    parse_cache,
    parse_default_params,
    parse_drop_params,
    parse_forward_headers,
    parse_sticky,
    refuse_unsupported,
    unknown_paths,
)
from gateway.config.fields import ConfigError


def refused(call: Any, *args: Any) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        call(*args)
    return caught.value


def test_cache_takes_a_mode_and_max_age_in_seconds() -> None:
    assert parse_cache(None, "config.cache") is None
    assert parse_cache({"mode": "simple"}, "config.cache") == Cache("simple", None)
    assert parse_cache({"mode": "semantic", "max_age": 60}, "config.cache") == Cache("semantic", 60.0)
    assert "config.cache.mode" in refused(parse_cache, {"mode": "exact"}, "config.cache").message
    assert (
        "config.cache.max_age"
        in refused(parse_cache, {"mode": "simple", "max_age": -1}, "config.cache").message
    )


def test_cache_takes_a_semantic_threshold_and_the_json_paths_it_keeps() -> None:
    parsed = parse_cache(
        {"mode": "semantic", "semantic_threshold": 0.9, "paths": ["moderations", "/v1/images/generations"]},
        "config.cache",
    )
    assert parsed == Cache("semantic", None, 0.9, frozenset({"/v1/moderations", "/v1/images/generations"}))
    for threshold in (0, 1.5, "0.9", True):
        message = refused(
            parse_cache, {"mode": "semantic", "semantic_threshold": threshold}, "config.cache"
        ).message
        assert "config.cache.semantic_threshold" in message
    assert (
        "config.cache.paths" in refused(parse_cache, {"mode": "simple", "paths": 3}, "config.cache").message
    )
    too_many = [f"p{i}" for i in range(33)]
    assert "at most 32" in refused(parse_cache, {"mode": "simple", "paths": too_many}, "config.cache").message


def test_forward_headers_are_lower_cased_and_may_not_name_the_forward_header() -> None:
    assert parse_forward_headers(["X-Trace ", "Accept"], "p") == {"x-trace", "accept"}
    assert parse_forward_headers(None, "p") is None
    assert (
        "x-portkey-forward-headers"
        in refused(parse_forward_headers, ["X-Portkey-Forward-Headers"], "p").message
    )
    assert "at most" in refused(parse_forward_headers, [f"h{i}" for i in range(65)], "p").message
    assert "non-empty strings" in refused(parse_forward_headers, ["ok", " "], "p").message


def test_default_and_drop_params() -> None:
    assert parse_default_params(None, "p") == {}
    assert parse_default_params({"temperature": 0}, "p") == {"temperature": 0}
    assert parse_drop_params(None, "p") == frozenset()
    assert parse_drop_params(["user", "seed"], "p") == {"user", "seed"}
    assert "expected a JSON object" in refused(parse_default_params, [1], "p").message


def test_sticky_names_metadata_params_or_the_url_path() -> None:
    raw = {"hash_fields": ["metadata.user", "params.user.id", "url.pathname"], "ttl": 60}
    assert parse_sticky(raw, "s") == Sticky(
        (("metadata", ("user",)), ("params", ("user", "id")), ("url", ("pathname",))), 60
    )
    assert parse_sticky(None, "s") is None


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"hash_fields": []}, "s.hash_fields"),
        ({"hash_fields": ["headers.x"]}, "s.hash_fields[0]"),
        ({"hash_fields": ["url.host"]}, "s.hash_fields[0]"),
        ({"hash_fields": ["metadata.u"], "ttl": MAX_STICKY_TTL + 1}, "s.ttl"),
        ({"hash_fields": ["metadata.u"], "ttl": 0}, "s.ttl"),
    ],
)
def test_bad_sticky_is_a_400_naming_the_field(raw: dict[str, Any], field: str) -> None:
    assert f"{field}:" in refused(parse_sticky, raw, "s").message


def test_features_not_built_yet_are_refused_when_they_ask_for_anything() -> None:
    refuse_unsupported({"id": "cfg-1", "default_input_guardrails": []}, "config")  # asks for nothing
    error = refused(refuse_unsupported, {"default_input_guardrails": ["pii"]}, "config")
    assert (error.status, error.code) == (400, "unsupported_config_key")
    assert "config.default_input_guardrails" in error.message


def test_unknown_paths_name_every_key_outside_the_schema_at_any_depth() -> None:
    raw = {
        "strategy": {"mode": "fallback", "colour": 1, "cb_config": {"bogus": 1}},
        "targets": [{"provider": "openai", "extra": 1, "retry": {"attempts": 1, "tries": 2}}],
        "unknown": True,
    }
    paths = set(
        unknown_paths(
            raw,
            "config",
            frozenset({"strategy", "targets", "provider", "retry"}),
            frozenset({"mode", "cb_config"}),
        )
    )
    assert paths == {
        "config.unknown",
        "config.strategy.colour",
        "config.strategy.cb_config.bogus",
        "config.targets[0].extra",
        "config.targets[0].retry.tries",
    }
