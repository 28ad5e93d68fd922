"""The price table: lookup by provider and model (exact, dated snapshot, Bedrock region group),
the cost of a usage, and an operator's file merged over the shipped table."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gateway.observability.prices import Price, Tokens, load_prices
from gateway.observability.usage import token_counts

SHIPPED = load_prices()


@pytest.mark.parametrize(
    ("provider", "model", "listed"),
    [
        ("openai", "gpt-4o", "gpt-4o"),
        ("openai", "gpt-4o-2024-08-06", "gpt-4o"),
        ("openai", "gpt-4-0613", "gpt-4"),
        ("anthropic", "claude-3-5-haiku-20241022", "claude-3-5-haiku"),
        ("vertex-ai", "claude-sonnet-4@20250514", "claude-sonnet-4"),
        ("bedrock", "us.anthropic.claude-sonnet-4-20250514-v1:0", "anthropic.claude-sonnet-4-20250514-v1:0"),
        ("mistral-ai", "mistral-large-2411", "mistral-large"),
    ],
)
def test_a_model_is_found_exactly_or_without_its_snapshot_suffix(
    provider: str, model: str, listed: str
) -> None:
    assert SHIPPED.find(provider, model) is SHIPPED.prices[provider][listed]


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("openai", "gpt-unknown"),
        ("openai", ""),
        ("nowhere", "gpt-4o"),
        ("anthropic", "gpt-4o"),
        ("openai", "gpt-4o-mini-x"),
    ],
)
def test_an_unknown_model_or_provider_has_no_price(provider: str, model: str) -> None:
    assert SHIPPED.find(provider, model) is None


def test_every_shipped_provider_names_its_source_and_date() -> None:
    raw = json.loads((Path(__file__).parents[3] / "gateway" / "data" / "prices.json").read_text())
    expected = {
        "openai",
        "anthropic",
        "google",
        "vertex-ai",
        "bedrock",
        "cohere",
        "mistral-ai",
        "groq",
        "deepseek",
    }
    assert expected | {"together-ai", "fireworks-ai"} <= set(raw)
    for entry in raw.values():
        assert entry["source"]
        assert len(entry["date"]) == 10


def test_cached_and_cache_written_tokens_are_priced_apart_from_the_rest_of_the_input() -> None:
    price = Price(input=3.0, output=15.0, cached_input=0.3, cache_write=3.75)
    tokens = Tokens(input=1_000_000, output=100_000, cached=400_000, cache_write=100_000)
    assert price.cost(tokens) == pytest.approx(0.5 * 3.0 + 0.4 * 0.3 + 0.1 * 3.75 + 0.1 * 15.0)


def test_a_row_without_cache_prices_charges_cached_tokens_at_the_input_price(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"openai": {"models": {"m": {"input": 1.0, "output": 2.0}}}}))
    price = load_prices(str(path)).find("openai", "m")
    assert price == Price(1.0, 2.0, 1.0, 1.0)


def test_a_pricing_file_overrides_and_adds_models_and_keeps_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    override = {
        "openai": {"models": {"gpt-4o": {"input": 1.0, "output": 4.0}}},
        "vllm": {"models": {"mine": {"input": 0, "output": 0}}},
    }
    path.write_text(json.dumps(override))
    table = load_prices(str(path))
    assert table.find("openai", "gpt-4o") == Price(1.0, 4.0, 1.0, 1.0)
    assert table.find("openai", "gpt-4o-mini") == SHIPPED.find("openai", "gpt-4o-mini")
    assert table.find("vllm", "mine") == Price(0.0, 0.0, 0.0, 0.0)


@pytest.mark.parametrize(
    ("content", "names"),
    [
        ("{not json", "is not valid JSON"),
        ("[]", "expected an object of providers"),
        ('{"openai": {"models": []}}', "openai.models: expected an object of models"),
        ('{"openai": {"models": {"m": {"input": 1}}}}', "openai.models.m.output: required"),
        (
            '{"openai": {"models": {"m": {"input": -1, "output": 1}}}}',
            "openai.models.m.input: expected a non-negative",
        ),
        (
            '{"openai": {"models": {"m": {"input": "1", "output": 1}}}}',
            "openai.models.m.input: expected a non-negative",
        ),
        (
            '{"openai": {"models": {"m": {"input": 1, "output": 1, "cache": 1}}}}',
            "openai.models.m.cache: unknown field",
        ),
    ],
)
def test_a_bad_pricing_file_is_refused_naming_the_file_and_the_key(
    tmp_path: Path, content: str, names: str
) -> None:
    path = tmp_path / "prices.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=re.escape(names)) as refused:
        load_prices(str(path))
    assert str(path) in str(refused.value)


def test_a_missing_pricing_file_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=f"cannot read pricing file {tmp_path}/absent.json"):
        load_prices(str(tmp_path / "absent.json"))


@pytest.mark.parametrize(
    ("usage", "tokens"),
    [
        ({"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}, Tokens(10, 5)),
        (
            {"prompt_tokens": 10, "completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": 4}},
            Tokens(10, 5, 4),
        ),
        (
            {"input_tokens": 10, "output_tokens": 5, "input_tokens_details": {"cached_tokens": 3}},
            Tokens(10, 5, 3),
        ),
        (
            {
                "prompt_tokens": 30,
                "completion_tokens": 5,
                "prompt_tokens_details": {"cached_tokens": 10, "cache_creation_tokens": 8},
            },
            Tokens(30, 5, 10, 8),
        ),
        ({"prompt_tokens": 7, "total_tokens": 7}, Tokens(7, 0)),  # embeddings: no output
        ({"completion_tokens": 5}, None),
        ({"prompt_tokens": True, "completion_tokens": 5}, None),
        ({}, None),
        (None, None),
    ],
)
def test_tokens_are_read_in_every_naming(usage: dict[str, object] | None, tokens: Tokens | None) -> None:
    assert token_counts(usage) == tokens
