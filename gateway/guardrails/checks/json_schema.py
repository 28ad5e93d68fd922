"""``default.jsonSchema``: the answer holds JSON that a JSON Schema (2020-12) accepts.

As Portkey's: the answer's text is searched for JSON (fenced blocks, else bare objects:
``json_text.py``); the first value the schema accepts decides, else the first value found (its
errors reported); no JSON at all fails (``not`` or not). ``data`` is Portkey's: ``matchedJson``,
``not``, ``explanation``, ``validationErrors`` (``path`` a JSON pointer into ``matchedJson``,
``message``). Portkey's ``path`` is always empty (it reads a field its validator does not set);
here it points at the failing value.

The schema comes from the caller's config and runs on the event loop, so it is bounded:
- ``pattern`` and ``patternProperties`` (and ``additionalProperties`` next to them) match with RE2
  (``config/regex.py``): linear time, no backreferences or lookaround. A pattern RE2 refuses is a
  400 at config parse. ``unevaluatedProperties`` next to ``patternProperties`` is refused (the
  library would match those patterns with Python's backtracking ``re``);
- ``$ref`` / ``$dynamicRef`` must be local (``#...``): nothing is ever fetched;
- the schema's JSON is at most :data:`MAX_SCHEMA_BYTES`; ``format`` is not asserted (as by default
  in JSON Schema 2020-12).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError, best_match
from jsonschema.protocols import Validator
from referencing import Registry
from referencing.exceptions import Unresolvable

from gateway.config.regex import Regex, RegexRefused, compile_regex
from gateway.guardrails.check import AFTER_REQUEST, CheckParametersError, CheckResult, CheckSpec, HookContext
from gateway.guardrails.checks.json_text import json_values
from gateway.guardrails.text import text_of

__all__ = [
    "MAX_SCHEMA_BYTES",
    "SPECS",
]

#: Largest schema accepted, as compact JSON.
MAX_SCHEMA_BYTES = 64 * 1024
#: Most validation errors reported, and the longest message kept (they quote the answer's values).
_MAX_ERRORS = 20
_MAX_MESSAGE = 300


@dataclass(frozen=True, slots=True)
class _Prepared:
    validator: Validator
    negate: bool


def _prepare(parameters: Mapping[str, Any]) -> _Prepared:
    schema = parameters.get("schema")
    if not isinstance(schema, dict):
        raise CheckParametersError("schema", "schema must be a JSON Schema object.")
    negate = parameters.get("not", False)
    if not isinstance(negate, bool):
        raise CheckParametersError("not", "not must be true or false.")
    _check_size(schema)
    _check_against_meta_schema(schema)
    walk = _SchemaWalk()
    walk.visit(schema)
    if walk.remote_refs:
        raise CheckParametersError(
            "schema", "schema may only use local references ($ref: '#/...'); remote ones are never fetched."
        )
    if walk.unevaluated and walk.pattern_keys:
        raise CheckParametersError(
            "schema", "schema cannot combine unevaluatedProperties with patternProperties here."
        )
    patterns = _compiled(walk.patterns | walk.pattern_keys)
    validator_class = validators.extend(Draft202012Validator, _re2_keywords(patterns))
    return _Prepared(validator_class(schema, registry=Registry()), negate)


def _check_size(schema: dict[str, Any]) -> None:
    try:
        size = len(orjson.dumps(schema))
    except orjson.JSONEncodeError:
        size = MAX_SCHEMA_BYTES + 1  # nested past orjson's depth limit
    if size > MAX_SCHEMA_BYTES:
        raise CheckParametersError("schema", f"schema is larger than {MAX_SCHEMA_BYTES} bytes (or too deep).")


def _check_against_meta_schema(schema: dict[str, Any]) -> None:
    meta = Draft202012Validator(Draft202012Validator.META_SCHEMA)
    error = best_match(meta.iter_errors(schema))
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path) or "its root"
        raise CheckParametersError(
            "schema", f"schema is not a valid 2020-12 JSON Schema: at {where} it fails {error.validator!r}."
        )


class _SchemaWalk:
    """What the schema's keywords need checked, collected from every object in it (a superset:
    a property merely *named* ``pattern`` is collected too, which only costs a compile)."""

    def __init__(self) -> None:
        self.patterns: set[str] = set()
        self.pattern_keys: set[str] = set()
        self.remote_refs = False
        self.unevaluated = False

    def visit(self, node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                self.visit(item)
        elif isinstance(node, dict):
            self._note(node)
            for value in node.values():
                self.visit(value)

    def _note(self, node: dict[str, Any]) -> None:
        if isinstance(node.get("pattern"), str):
            self.patterns.add(node["pattern"])
        if isinstance(node.get("patternProperties"), dict):
            self.pattern_keys.update(node["patternProperties"])
        for keyword in ("$ref", "$dynamicRef"):
            reference = node.get(keyword)
            if isinstance(reference, str) and not reference.startswith("#"):
                self.remote_refs = True
        self.unevaluated = self.unevaluated or "unevaluatedProperties" in node


def _compiled(patterns: set[str]) -> dict[str, Regex]:
    compiled: dict[str, Regex] = {}
    for pattern in patterns:
        try:
            compiled[pattern] = compile_regex(pattern)
        except RegexRefused as exc:
            raise CheckParametersError("schema", f"schema has a pattern that is refused: {exc}") from None
    return compiled


Keyword = Callable[[Validator, Any, Any, dict[str, Any]], Iterator[ValidationError]]


def _re2_keywords(patterns: Mapping[str, Regex]) -> dict[str, Keyword]:
    """The keywords that match patterns, matching with the prepared RE2 patterns."""

    def pattern(
        validator: Validator, pattern: Any, instance: Any, schema: dict[str, Any]
    ) -> Iterator[ValidationError]:
        if validator.is_type(instance, "string") and patterns[pattern].search(instance) is None:
            yield ValidationError(f"{instance!r} does not match {pattern!r}")

    def pattern_properties(
        validator: Validator, by_pattern: Any, instance: Any, schema: dict[str, Any]
    ) -> Iterator[ValidationError]:
        if not validator.is_type(instance, "object"):
            return
        for key_pattern, subschema in by_pattern.items():
            for key, value in instance.items():
                if patterns[key_pattern].search(key) is not None:
                    yield from validator.descend(value, subschema, path=key, schema_path=key_pattern)

    def additional_properties(
        validator: Validator, allowed: Any, instance: Any, schema: dict[str, Any]
    ) -> Iterator[ValidationError]:
        if not validator.is_type(instance, "object"):
            return
        declared = schema.get("properties", {})
        regexes = [patterns[key_pattern] for key_pattern in schema.get("patternProperties", {})]
        extras = sorted(
            key for key in instance if key not in declared and not any(r.search(key) for r in regexes)
        )
        if validator.is_type(allowed, "object"):
            for extra in extras:
                yield from validator.descend(instance[extra], allowed, path=extra)
        elif allowed is False and extras:
            listed = ", ".join(repr(extra) for extra in extras)
            yield ValidationError(f"Additional properties are not allowed ({listed} unexpected)")

    return {
        "pattern": pattern,
        "patternProperties": pattern_properties,
        "additionalProperties": additional_properties,
    }


def _run(context: HookContext, prepared: _Prepared) -> CheckResult:
    negate = prepared.negate
    values = json_values(text_of(context), bare_only_without_fences=True)
    if not values:
        return CheckResult(False, {"explanation": "No valid JSON found in the response.", "not": negate})
    try:
        matched, errors = _best_match(prepared.validator, values)
    except (Unresolvable, RecursionError):
        data = {"explanation": "An error occurred while processing the JSON.", "not": negate}
        return CheckResult(False, data, error="the JSON could not be validated (nested too deep)")
    valid = not errors
    verdict = valid != negate
    return CheckResult(
        verdict,
        {
            "matchedJson": matched,
            "not": negate,
            "explanation": _explanation(verdict, negate),
            "validationErrors": [_error_entry(error) for error in errors[:_MAX_ERRORS]],
        },
    )


def _best_match(validator: Validator, values: list[Any]) -> tuple[Any, list[ValidationError]]:
    """The first value the schema accepts (no errors), else the first value and its errors."""
    first: tuple[Any, list[ValidationError]] | None = None
    for value in values:
        errors = sorted(validator.iter_errors(value), key=lambda error: list(map(str, error.absolute_path)))
        if not errors:
            return value, []
        first = first or (value, errors)
    assert first is not None
    return first


def _error_entry(error: ValidationError) -> dict[str, str]:
    path = "".join(f"/{part}" for part in error.absolute_path)
    message = error.message
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 3] + "..."
    return {"path": path, "message": message}


def _explanation(verdict: bool, negate: bool) -> str:
    if verdict:
        if negate:
            return "Successfully validated JSON does not match the schema as expected."
        return "Successfully validated JSON against the provided schema."
    if negate:
        return "JSON matches the schema when it should not."
    return "Failed to validate JSON against the provided schema."


SPECS = (CheckSpec("default.jsonSchema", _prepare, run=_run, events=frozenset({AFTER_REQUEST})),)
