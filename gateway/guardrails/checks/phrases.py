"""``default.contains`` (any, all or none of some phrases) and ``default.endsWith`` (a suffix).

Both compare exact, case-sensitive substrings, as Portkey does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.guardrails.check import AFTER_REQUEST, CheckResult, CheckSpec, HookContext
from gateway.guardrails.checks import parameters
from gateway.guardrails.checks.report import excerpt, undecided
from gateway.guardrails.text import text_of

__all__ = [
    "SPECS",
]

#: Bounds on a config's phrases: each is searched for in the whole text per request.
MAX_WORDS = 100
MAX_PHRASE_LENGTH = 1000
_OPERATORS = ("any", "all", "none")
#: What the explanation adds, by operator and verdict (Portkey's words).
_OUTCOMES = {
    ("any", True): "At least one word was found.",
    ("any", False): "No words were found.",
    ("all", True): "All words were found.",
    ("all", False): "Some words were missing.",
    ("none", True): "No words were found.",
    ("none", False): "Some words were found.",
}


@dataclass(frozen=True, slots=True)
class Contains:
    words: tuple[str, ...]
    operator: str


def prepare_contains(params: Mapping[str, Any]) -> Contains:
    words = parameters.texts(params, "words", count=MAX_WORDS, limit=MAX_PHRASE_LENGTH)
    return Contains(words, parameters.choice(params, "operator", _OPERATORS, default="any"))


def run_contains(context: HookContext, prepared: Contains) -> CheckResult:
    """``any``: a phrase is in the text; ``all``: every one is; ``none``: none is. No text
    contains no phrase (Portkey's reading: ``none`` passes, ``any`` and ``all`` fail)."""
    text = text_of(context)
    found = [word for word in prepared.words if word in text]
    missing = [word for word in prepared.words if word not in text]
    operator = prepared.operator
    verdict = {"any": bool(found), "all": not missing, "none": not found}[operator]
    explanation = (
        f"Check {'passed' if verdict else 'failed'} for '{operator}' words. {_OUTCOMES[operator, verdict]}"
    )
    return CheckResult(
        verdict=verdict,
        data={"explanation": explanation, "foundWords": found, "missingWords": missing, "operator": operator},
    )


@dataclass(frozen=True, slots=True)
class EndsWith:
    suffix: str
    invert: bool


def prepare_ends_with(params: Mapping[str, Any]) -> EndsWith:
    return EndsWith(
        parameters.text(params, "suffix", limit=MAX_PHRASE_LENGTH), parameters.flag(params, "not")
    )


def run_ends_with(context: HookContext, prepared: EndsWith) -> CheckResult:
    """The text ends with the suffix, or with the suffix and a period."""
    text, suffix, invert = text_of(context), prepared.suffix, prepared.invert
    if not text:
        return undecided(
            "Missing text to analyze",
            "An error occurred while checking suffix",
            text,
            {"suffix": suffix, "not": invert},
        )
    with_period = text.endswith(f"{suffix}.")
    verdict = (text.endswith(suffix) or with_period) != invert
    if verdict:
        period = " (including trailing period)" if with_period else ""
        explanation = (
            f'The text does not end with "{suffix}" as expected.'
            if invert
            else f'The text ends with "{suffix}"{period}.'
        )
    else:
        explanation = (
            f'The text ends with "{suffix}" when it should not.'
            if invert
            else f'The text does not end with "{suffix}".'
        )
    return CheckResult(
        verdict=verdict,
        data={
            "suffix": suffix,
            "not": invert,
            "verdict": verdict,
            "explanation": explanation,
            "textExcerpt": excerpt(text),
        },
    )


SPECS = (
    CheckSpec("default.contains", prepare_contains, run_contains, events=frozenset({AFTER_REQUEST})),
    CheckSpec("default.endsWith", prepare_ends_with, run_ends_with),
)
