"""``default.regexMatch`` and ``default.regexReplace``: a config's regex against the checked text.

Patterns are compiled once, by RE2 (``config/regex.py``): linear time whatever the text, so a
config cannot freeze the event loop (Portkey runs JavaScript's backtracking ``RegExp``). A pattern
RE2 refuses (backreferences, lookaround) is a 400 naming ``rule``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, cast

from gateway.config.regex import RegexRefused, compile_regex
from gateway.guardrails.check import BEFORE_REQUEST, CheckParametersError, CheckResult, CheckSpec, HookContext
from gateway.guardrails.checks import parameters
from gateway.guardrails.checks.report import excerpt, undecided
from gateway.guardrails.text import text_of, texts_of, with_texts

__all__ = [
    "SPECS",
]

#: Longest ``redactText``.
MAX_REDACT_LENGTH = 1000
#: ``/pattern/flags``, Portkey's regexReplace notation for JavaScript flags.
_LITERAL = re.compile(r"/(.+?)/([a-z]*)", re.DOTALL)
#: JavaScript flags RE2 has an inline form for; ``u`` and ``d`` change nothing here (RE2 matches
#: code points; match indices are not reported), ``g`` is handled by the replacement count.
_INLINE_FLAGS = {"i": "i", "m": "m", "s": "s"}
_MISSING = "Missing text to match"
_TROUBLE = "An error occurred while processing the regex"


class _Match(Protocol):
    def group(self, index: int = 0) -> str: ...
    def start(self) -> int: ...
    def groups(self) -> tuple[str | None, ...]: ...
    def groupdict(self) -> dict[str, str | None]: ...


class _Pattern(Protocol):
    """What google-re2's compiled pattern offers beyond ``config/regex.py``'s search."""

    def search(self, text: str) -> _Match | None: ...
    def subn(self, replacement: Any, text: str, count: int = 0) -> tuple[str, int]: ...


def _compiled(pattern: str) -> _Pattern:
    try:
        return cast(_Pattern, compile_regex(pattern))
    except RegexRefused as exc:
        raise CheckParametersError("rule", f"rule is refused: {exc}.") from None


@dataclass(frozen=True, slots=True)
class Match:
    rule: str
    regex: _Pattern
    invert: bool


def prepare_match(params: Mapping[str, Any]) -> Match:
    rule = parameters.text(params, "rule", limit=1000)
    return Match(rule, _compiled(rule), parameters.flag(params, "not"))


def run_match(context: HookContext, prepared: Match) -> CheckResult:
    """Passes when the rule finds a match in the text (``not``: when it finds none)."""
    text, rule, invert = text_of(context), prepared.rule, prepared.invert
    if not text:
        return undecided(_MISSING, _TROUBLE, text, {"regexPattern": rule, "not": invert})
    match = prepared.regex.search(text)
    verdict = (match is not None) != invert
    return CheckResult(
        verdict=verdict,
        data={
            "regexPattern": rule,
            "not": invert,
            "verdict": verdict,
            "explanation": _match_explanation(rule, verdict, invert),
            "matchDetails": _details(match),
            "textExcerpt": excerpt(text),
        },
    )


def _match_explanation(rule: str, verdict: bool, invert: bool) -> str:
    if verdict:
        happened = "did not match the text as expected" if invert else "successfully matched the text"
    else:
        happened = "matched the text when it should not have" if invert else "did not match the text"
    return f"The regex pattern '{rule}' {happened}."


def _details(match: _Match | None) -> dict[str, Any] | None:
    if match is None:
        return None
    return {
        "matchedText": match.group(0),
        "index": match.start(),
        "groups": match.groupdict(),
        "captures": list(match.groups()),
    }


@dataclass(frozen=True, slots=True)
class Replace:
    rule: str
    regex: _Pattern
    #: How many matches per text: 0 for all.
    count: int
    redact: str
    fail_on_detection: bool


def prepare_replace(params: Mapping[str, Any]) -> Replace:
    """``rule`` is a pattern or ``/pattern/flags`` (flags ``gimsud``; ``y`` has no RE2 form).

    A bare pattern replaces every match: Portkey's replaces only the first of each text (a
    JavaScript ``RegExp`` without ``g``), which leaves the second secret of a redaction in
    place. The ``/pattern/flags`` form keeps JavaScript's meaning (``g``: all, else the first).
    ``redactText`` is put in literally (no ``$1`` or ``\\1`` expansion).
    """
    rule = parameters.text(params, "rule", limit=1000)
    pattern, count = rule, 0
    literal = _LITERAL.fullmatch(rule)
    if literal is not None:
        body, flags = literal.groups()
        if set(flags) - set("gimsuyd") or "y" in flags:
            raise CheckParametersError("rule", "rule's flags must be among g, i, m, s, u, d.")
        inline = "".join(sorted({_INLINE_FLAGS[flag] for flag in flags if flag in _INLINE_FLAGS}))
        pattern, count = (f"(?{inline}){body}" if inline else body), (0 if "g" in flags else 1)
    redact = parameters.text(params, "redactText", limit=MAX_REDACT_LENGTH, default="[REDACTED]")
    fail = parameters.flag(params, "failOnDetection")
    return Replace(rule, _compiled(pattern), count, redact, fail)


def run_replace(context: HookContext, prepared: Replace) -> CheckResult:
    """Replaces matches with ``redactText`` in each text part; passes unless something matched
    and ``failOnDetection`` is set."""
    texts = texts_of(context)
    rule = prepared.rule
    if not any(texts):
        return undecided(_MISSING, _TROUBLE, "", {"regexPattern": rule})
    replaced: list[str | None] = []
    found = 0
    for text in texts:
        new, hits = (
            prepared.regex.subn(lambda _: prepared.redact, text, prepared.count) if text else (text, 0)
        )
        replaced.append(new if text else None)
        found += hits
    verdict = not (found and prepared.fail_on_detection)
    explanation = (
        f"Pattern '{rule}' matched and was replaced with '{prepared.redact}'"
        if found
        else f"The regex pattern '{rule}' did not match any text."
    )
    result = CheckResult(
        verdict=verdict, data={"regexPattern": rule, "verdict": verdict, "explanation": explanation}
    )
    if found:
        body = with_texts(context, replaced)
        if context.event == BEFORE_REQUEST:
            result.transformed_request = body
        else:
            result.transformed_response = body
    return result


SPECS = (
    CheckSpec("default.regexMatch", prepare_match, run_match),
    CheckSpec("default.regexReplace", prepare_replace, run_replace),
)
