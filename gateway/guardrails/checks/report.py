"""What the text checks put in ``data`` besides their findings, as Portkey's checks shape it."""

from __future__ import annotations

from typing import Any

from gateway.guardrails.check import CheckResult

__all__ = [
    "EXCERPT_LENGTH",
    "excerpt",
    "undecided",
]

#: Portkey's ``textExcerpt``: the first 100 characters, then ``...``.
EXCERPT_LENGTH = 100


def excerpt(text: str) -> str:
    return text[:EXCERPT_LENGTH] + "..." if len(text) > EXCERPT_LENGTH else text


def undecided(problem: str, explanation: str, text: str, details: dict[str, Any]) -> CheckResult:
    """The check could not decide (no text to read): ``verdict`` false, ``error`` set, and
    ``data`` as Portkey's catch block writes it (``explanation``, the parameters, the excerpt)."""
    data = {
        "explanation": f"{explanation}: {problem}",
        **details,
        "textExcerpt": excerpt(text) or "No text available",
    }
    return CheckResult(verdict=False, data=data, error=problem)
