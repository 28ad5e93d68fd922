"""Linear-time regular expressions for routing conditions (RE2), with bounded size and memory.

A config's ``$regex`` comes from the caller and runs against caller-supplied values on the event
loop. Python's ``re`` backtracks: ``(a+)+$`` against 27 characters takes seconds and doubles per
character, freezing every request of the process. RE2 matches in time linear in the input and
refuses the features that need backtracking (backreferences, lookaround), so a pattern either
compiles into something bounded or is a clear error when the config is parsed.

RE2 (its extension and libstdc++, ~1.7 MB resident) is imported by the first pattern compiled, so
a gateway whose configs hold none does not load it.
"""

from __future__ import annotations

import functools
import importlib
from types import ModuleType
from typing import Protocol, cast

__all__ = [
    "MAX_PATTERN_LENGTH",
    "MAX_PATTERN_MEMORY",
    "Regex",
    "RegexRefused",
    "compile_regex",
]

#: Longest pattern accepted, in characters.
MAX_PATTERN_LENGTH = 1000
#: RE2's memory budget per compiled pattern (program and DFA cache), in bytes. RE2's default is
#: 8 MiB; a pattern past this budget fails to compile instead of growing (``\pL{1000}`` does).
MAX_PATTERN_MEMORY = 1 << 20


class Regex(Protocol):
    """The compiled pattern: only what conditions need."""

    def search(self, text: str) -> object | None: ...


class RegexRefused(ValueError):
    """A pattern that is too long, too large, or uses what RE2 does not do; ``str()`` says why."""


def compile_regex(pattern: str) -> Regex:
    """``pattern`` compiled once by RE2; :class:`RegexRefused` when it is too long or refused."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise RegexRefused(f"pattern is {len(pattern)} characters; the limit is {MAX_PATTERN_LENGTH}")
    re2 = _re2()
    options = re2.Options()
    options.max_mem = MAX_PATTERN_MEMORY
    # RE2 writes its own errors to stderr otherwise; ours go into the 400's message.
    options.log_errors = False
    try:
        return cast(Regex, re2.compile(pattern, options))
    except re2.error as exc:
        raise RegexRefused(_reason(exc)) from None


@functools.cache
def _re2() -> ModuleType:
    """google-re2 (it ships no type information, so its attributes are ``Any``)."""
    return importlib.import_module("re2")


def _reason(exc: Exception) -> str:
    """What RE2 refused (bytes in this binding): its message names the kind of problem before a
    colon and quotes the pattern after it (``invalid perl operator: (?=``); only the kind is
    kept, since a pattern may hold what its author would not want in an error or a log."""
    reason = exc.args[0] if exc.args else exc
    text = reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)
    if "pattern too large" in text:
        return f"pattern needs more than RE2's memory limit of {MAX_PATTERN_MEMORY} bytes"
    kind = text.partition(":")[0].strip()
    return f"not supported by RE2 (linear-time matching; no backreferences or lookaround): {kind}"
