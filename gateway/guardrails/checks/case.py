"""``default.alluppercase`` and ``default.alllowercase``: no letter of the other case in the text.

Letters of every script count (``école`` is not all uppercase); Portkey looks at ``a-z``/``A-Z``
only, so ``ÉCOLé`` passed its uppercase check. A text without letters passes both, as in Portkey.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gateway.guardrails.check import CheckResult, CheckSpec, HookContext
from gateway.guardrails.checks import parameters
from gateway.guardrails.checks.report import excerpt, undecided
from gateway.guardrails.text import text_of

__all__ = [
    "SPECS",
]


def prepare(params: Mapping[str, Any]) -> bool:
    """The ``not`` flag."""
    return parameters.flag(params, "not")


def run_upper(context: HookContext, invert: bool) -> CheckResult:
    return _run(context, invert, "uppercase", "lowercase", str.islower)


def run_lower(context: HookContext, invert: bool) -> CheckResult:
    return _run(context, invert, "lowercase", "uppercase", str.isupper)


def _run(
    context: HookContext, invert: bool, case: str, other: str, is_other: Callable[[str], bool]
) -> CheckResult:
    text = text_of(context)
    if not text:
        return undecided(
            "Missing text to analyze", f"An error occurred while checking {case}", text, {"not": invert}
        )
    verdict = (not any(is_other(char) for char in text)) != invert
    if verdict:
        explanation = (
            f"The text contains {other} characters as expected."
            if invert
            else f"All alphabetic characters in the text are {case}."
        )
    else:
        explanation = (
            f"All alphabetic characters in the text are {case} when they should not be."
            if invert
            else f"The text contains {other} characters."
        )
    return CheckResult(
        verdict=verdict,
        data={"verdict": verdict, "not": invert, "explanation": explanation, "textExcerpt": excerpt(text)},
    )


SPECS = (
    CheckSpec("default.alluppercase", prepare, run_upper),
    CheckSpec("default.alllowercase", prepare, run_lower),
)
