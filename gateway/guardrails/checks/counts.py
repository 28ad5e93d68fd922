"""``default.wordCount``, ``default.sentenceCount``, ``default.characterCount``: the text's size
within ``[min, max]`` (``not``: outside it).

Words are runs of non-space; sentences are the ``.``, ``!`` and ``?`` in the text (Portkey counts
the pieces between them, minus one); characters are code points (Portkey counts UTF-16 units, so
an emoji counts two there and one here).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.guardrails.check import CheckResult, CheckSpec, HookContext
from gateway.guardrails.checks import parameters
from gateway.guardrails.checks.report import excerpt, undecided
from gateway.guardrails.text import text_of

__all__ = [
    "SPECS",
]


@dataclass(frozen=True, slots=True)
class Range:
    low: float
    high: float
    invert: bool


def _range_of(
    low_name: str, high_name: str, high_default: int, *, whole: bool
) -> Callable[[Mapping[str, Any]], Range]:
    def prepare(params: Mapping[str, Any]) -> Range:
        low = parameters.number(params, low_name, 0, whole=whole)
        high = parameters.number(params, high_name, high_default, whole=whole)
        return Range(low, high, parameters.flag(params, "not"))

    return prepare


def _verdict(count: int, prepared: Range) -> bool:
    return (prepared.low <= count <= prepared.high) != prepared.invert


def _range_explanation(count: int, unit: str, prepared: Range, verdict: bool) -> str:
    """Portkey's words: ``The text contains 3 words, which is within the specified range of 1-5 words.``"""
    where = _where(f"{prepared.low}-{prepared.high} {unit}", prepared, verdict)
    return f"The text contains {count} {unit}, which is {where}."


def _where(span: str, prepared: Range, verdict: bool) -> str:
    if prepared.invert:
        return (
            f"outside the specified range of {span} as expected"
            if verdict
            else (f"within the specified range of {span} when it should not be")
        )
    return f"within the specified range of {span}" if verdict else f"outside the specified range of {span}"


def run_words(context: HookContext, prepared: Range) -> CheckResult:
    """Counts the trimmed text's words; no text cannot be decided."""
    text = text_of(context).strip()
    names = {"minWords": prepared.low, "maxWords": prepared.high, "not": prepared.invert}
    if not text:
        return undecided(
            "Missing text to analyze", "An error occurred while processing word count", text, names
        )
    count = len(text.split())
    verdict = _verdict(count, prepared)
    data: dict[str, Any] = {"wordCount": count, **names, "verdict": verdict}
    data["explanation"] = _range_explanation(count, "words", prepared, verdict)
    data["textExcerpt"] = excerpt(text)
    return CheckResult(verdict=verdict, data=data)


def run_characters(context: HookContext, prepared: Range) -> CheckResult:
    """Counts the text's characters, spaces included; no text cannot be decided."""
    text = text_of(context)
    names = {"minCharacters": prepared.low, "maxCharacters": prepared.high, "not": prepared.invert}
    if not text:
        return undecided(
            "Missing text to analyze", "An error occurred while counting characters", text, names
        )
    count = len(text)
    verdict = _verdict(count, prepared)
    data: dict[str, Any] = {"characterCount": count, **names, "verdict": verdict}
    data["explanation"] = _range_explanation(count, "characters", prepared, verdict)
    data["textExcerpt"] = excerpt(text)
    return CheckResult(verdict=verdict, data=data)


def run_sentences(context: HookContext, prepared: Range) -> CheckResult:
    """Counts sentence ends; no text is zero sentences (as in Portkey), not an error."""
    text = text_of(context)
    count = sum(text.count(mark) for mark in ".!?")
    verdict = _verdict(count, prepared)
    where = _where(f"{prepared.low} to {prepared.high}", prepared, verdict)
    return CheckResult(
        verdict=verdict,
        data={
            "sentenceCount": count,
            "minCount": prepared.low,
            "maxCount": prepared.high,
            "not": prepared.invert,
            "verdict": verdict,
            "explanation": f"The sentence count ({count}) is {where}.",
            "textExcerpt": excerpt(text),
        },
    )


SPECS = (
    CheckSpec("default.wordCount", _range_of("minWords", "maxWords", 99999, whole=True), run_words),
    CheckSpec(
        "default.sentenceCount", _range_of("minSentences", "maxSentences", 99999, whole=False), run_sentences
    ),
    CheckSpec(
        "default.characterCount",
        _range_of("minCharacters", "maxCharacters", 9999999, whole=True),
        run_characters,
    ),
)
