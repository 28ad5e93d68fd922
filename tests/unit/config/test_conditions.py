"""Conditional-routing queries: parsed once, operators checked, regexes compiled by a linear engine."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.config.conditions import Combined, FieldTest, parse_condition
from gateway.config.fields import ConfigError


def test_a_bare_value_is_eq_and_operators_keep_their_operands() -> None:
    condition = parse_condition(
        {"query": {"metadata.tier": "gold", "params.max_tokens": {"$gt": 10, "$lte": 100}}, "then": "big"},
        "c",
    )
    assert condition.then == "big"
    tier, tokens = condition.query.clauses
    assert isinstance(tier, FieldTest)
    assert isinstance(tokens, FieldTest)
    assert (tier.source, tier.name, [(c.operator, c.operand) for c in tier.comparisons]) == (
        "metadata",
        "tier",
        [("$eq", "gold")],
    )
    assert [(c.operator, c.operand) for c in tokens.comparisons] == [("$gt", 10), ("$lte", 100)]
    assert condition.query.comparisons() == 3


def test_and_or_nest_and_count_their_comparisons() -> None:
    query = {"$or": [{"metadata.a": "1"}, {"$and": [{"metadata.b": "2"}, {"url.pathname": {"$ne": "/x"}}]}]}
    condition = parse_condition({"query": query, "then": "t"}, "c")
    (clause,) = condition.query.clauses
    assert isinstance(clause, Combined)
    assert clause.any_of
    assert condition.query.comparisons() == 3


def test_regex_is_compiled_at_parse() -> None:
    (clause,) = parse_condition(
        {"query": {"metadata.user": {"$regex": "^vip-"}}, "then": "t"}, "c"
    ).query.clauses
    assert isinstance(clause, FieldTest)
    assert clause.comparisons[0].operand.search("vip-7") is not None


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"$xor": []}, "c.query.$xor"),
        ({"$or": []}, "c.query.$or"),
        ({"headers.x": "1"}, "c.query.headers.x"),
        ({"metadata.a": {"$near": 1}}, "c.query.metadata.a.$near"),
        ({"metadata.a": {"$in": "ab"}}, "c.query.metadata.a.$in"),
        ({"metadata.a": {"$regex": "(a"}}, "c.query.metadata.a.$regex"),
        ({"metadata.a": {"$regex": "(a)\\1"}}, "c.query.metadata.a.$regex"),
    ],
)
def test_bad_queries_are_400s_naming_the_field(query: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_condition({"query": query, "then": "t"}, "c")
    assert f"{field}:" in caught.value.message


def test_nesting_is_bounded() -> None:
    query: dict[str, Any] = {"metadata.a": "1"}
    for _ in range(10):
        query = {"$and": [query]}
    with pytest.raises(ConfigError) as caught:
        parse_condition({"query": query, "then": "t"}, "c")
    assert "nest more than" in caught.value.message


def test_then_must_name_a_target() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_condition({"query": {"metadata.a": "1"}}, "c")
    assert "c.then:" in caught.value.message
