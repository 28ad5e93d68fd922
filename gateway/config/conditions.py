"""The ``conditions`` of a ``conditional`` strategy: queries parsed once into an immutable tree.

A query compares fields of the request (``metadata.<key>``, ``params.<field>``, and
``url.pathname``: the request's path, ``/v1/chat/completions``) with operators,
and combines queries with ``$and`` / ``$or``, nested at most ``MAX_DEPTH`` levels. ``$regex``
patterns are compiled here, once, by a linear-time engine (``regex.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.config.fields import MAX_DEPTH, as_object, as_text, bad, limit
from gateway.config.regex import Regex, RegexRefused, compile_regex

__all__ = [
    "Combined",
    "Condition",
    "FieldTest",
    "Query",
    "parse_condition",
]

OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$regex", "$and", "$or")


@dataclass(frozen=True, slots=True)
class Comparison:
    operator: str
    #: The operand as the config gives it; for ``$regex``, the compiled :class:`Regex`.
    operand: Any


@dataclass(frozen=True, slots=True)
class FieldTest:
    """``metadata.<name>``, ``params.<name>`` or ``url.pathname`` against every one of its comparisons."""

    source: str
    name: str
    comparisons: tuple[Comparison, ...]


@dataclass(frozen=True, slots=True)
class Combined:
    """``$or`` (``any_of``) or ``$and`` over queries."""

    any_of: bool
    queries: tuple[Query, ...]


@dataclass(frozen=True, slots=True)
class Query:
    """Holds when every one of its clauses holds."""

    clauses: tuple[FieldTest | Combined, ...]

    def comparisons(self) -> int:
        return sum(
            len(clause.comparisons)
            if isinstance(clause, FieldTest)
            else sum(query.comparisons() for query in clause.queries)
            for clause in self.clauses
        )


@dataclass(frozen=True, slots=True)
class Condition:
    query: Query
    then: str


def parse_condition(raw: Any, path: str) -> Condition:
    table = as_object(raw, path)
    query = _query(table.get("query"), f"{path}.query", 0)
    return Condition(query=query, then=as_text(table.get("then"), f"{path}.then"))


def _query(raw: Any, path: str, depth: int) -> Query:
    if depth > MAX_DEPTH:
        raise limit(f"{path}: $and/$or nest more than {MAX_DEPTH} levels deep; the limit is {MAX_DEPTH}")
    clauses: list[FieldTest | Combined] = []
    for key, value in as_object(raw, path).items():
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                raise bad(f"{path}.{key}", "expected a non-empty list of queries")
            queries = tuple(_query(item, f"{path}.{key}[{i}]", depth + 1) for i, item in enumerate(value))
            clauses.append(Combined(key == "$or", queries))
        elif key.startswith("$"):
            raise bad(f"{path}.{key}", f"unknown operator; expected one of {', '.join(OPERATORS)}")
        elif not key.startswith(("metadata.", "params.")) and key != "url.pathname":
            raise bad(
                f"{path}.{key}", "conditions look at 'metadata.<key>', 'params.<field>' or 'url.pathname'"
            )
        else:
            source, _, name = key.partition(".")
            clauses.append(FieldTest(source, name, _comparisons(value, f"{path}.{key}")))
    return Query(tuple(clauses))


def _comparisons(expected: Any, path: str) -> tuple[Comparison, ...]:
    """``{"$gt": 3}`` as its comparisons; a bare value means ``$eq``."""
    if not isinstance(expected, dict):
        return (Comparison("$eq", expected),)
    comparisons = []
    for operator, operand in expected.items():
        if operator not in OPERATORS or operator in ("$and", "$or"):
            raise bad(f"{path}.{operator}", f"unknown operator; expected one of {', '.join(OPERATORS[:-2])}")
        if operator in ("$in", "$nin") and not isinstance(operand, list):
            raise bad(f"{path}.{operator}", "expected a list")
        if operator == "$regex":
            operand = _regex(operand, f"{path}.{operator}")
        comparisons.append(Comparison(operator, operand))
    return tuple(comparisons)


def _regex(raw: Any, path: str) -> Regex:
    try:
        return compile_regex(as_text(raw, path))
    except RegexRefused as exc:
        raise bad(path, f"invalid regular expression: {exc}") from None
