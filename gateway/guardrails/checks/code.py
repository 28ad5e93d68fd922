"""``default.containsCode``: the text has a fenced code block (```` ```python ````) in a format.

The fence's language tag names the format (``py``, ``python`` and ``gyp`` are Python, as in
Portkey's table; an unknown tag stands for itself). The block pattern runs in RE2: Python's ``re``
would rescan to the end for every unclosed fence, quadratic in the text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, cast

from gateway.config.regex import compile_regex
from gateway.guardrails.check import AFTER_REQUEST, CheckResult, CheckSpec, HookContext
from gateway.guardrails.checks import parameters
from gateway.guardrails.checks.report import excerpt, undecided
from gateway.guardrails.text import text_of

__all__ = [
    "FORMATS",
    "SPECS",
]

#: The formats a config may name (Portkey's manifest).
FORMATS = (
    "SQL", "Python", "TypeScript", "JavaScript", "Java", "C#", "C++", "C", "Ruby", "PHP", "Swift",
    "Kotlin", "Go", "Rust", "Scala", "R", "Perl", "Shell", "HTML", "CSS", "XML", "JSON", "YAML",
    "Markdown", "Dockerfile",
)  # fmt: skip
#: Fence tag (lower case) → format.
_TAGS = {
    "sql": "SQL", "py": "Python", "python": "Python", "gyp": "Python", "ts": "TypeScript",
    "tsx": "TypeScript", "typescript": "TypeScript", "js": "JavaScript", "jsx": "JavaScript",
    "javascript": "JavaScript", "java": "Java", "cs": "C#", "cpp": "C++", "c": "C", "rb": "Ruby",
    "php": "PHP", "swift": "Swift", "kt": "Kotlin", "go": "Go", "rs": "Rust", "scala": "Scala",
    "r": "R", "pl": "Perl", "sh": "Shell", "html": "HTML", "css": "CSS", "xml": "XML",
    "json": "JSON", "yml": "YAML", "md": "Markdown", "dockerfile": "Dockerfile",
}  # fmt: skip


class _Fence(Protocol):
    def group(self, index: int) -> str: ...


class _Blocks(Protocol):
    def finditer(self, text: str) -> list[_Fence]: ...


_BLOCK = cast(_Blocks, compile_regex(r"```(\w+)\n[\s\S]*?\n```"))


@dataclass(frozen=True, slots=True)
class ContainsCode:
    format: str
    invert: bool


def prepare(params: Mapping[str, Any]) -> ContainsCode:
    return ContainsCode(parameters.choice(params, "format", FORMATS), parameters.flag(params, "not"))


def run(context: HookContext, prepared: ContainsCode) -> CheckResult:
    """Passes when a block in the format is found (``not``: when none is). A text without any
    block passes only with ``not``; no text cannot be decided."""
    text, wanted, invert = text_of(context), prepared.format, prepared.invert
    details: dict[str, Any] = {"searchedFormat": wanted, "not": invert}
    if not text:
        return undecided("No text content to analyze", "Error while checking for code blocks", text, details)
    found = [_TAGS.get(tag, tag) for tag in (fence.group(1).lower() for fence in _BLOCK.finditer(text))]
    if not found:
        data = {"explanation": "No code blocks found in the text", **details, "foundFormats": []}
        return CheckResult(verdict=invert, data={**data, "textExcerpt": excerpt(text)})
    verdict = (wanted in found) != invert
    if verdict:
        explanation = (
            f"No code blocks in {wanted} format found as expected"
            if invert
            else f"Found code block(s) in {wanted} format"
        )
    else:
        explanation = (
            f"Found code block(s) in {wanted} format when none were expected"
            if invert
            else f"No code blocks in {wanted} format found"
        )
    data = {"explanation": explanation, **details, "foundFormats": found, "textExcerpt": excerpt(text)}
    return CheckResult(verdict=verdict, data=data)


SPECS = (CheckSpec("default.containsCode", prepare, run, events=frozenset({AFTER_REQUEST})),)
