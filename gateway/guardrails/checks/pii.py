"""``gateway.pii``: the gateway's own PII check, local and pattern-based (no model, no call out).

Parameters: ``categories`` (default: all of :data:`CATEGORIES`), ``redact`` (false) and ``not``
(false). It reads the checked text (``text.py``) before or after the model. Without ``redact`` it
fails when it finds any of the categories; with ``redact`` it replaces each finding with
``[CATEGORY]`` (the request that goes upstream, or the answer that goes back) and passes, as
Portkey's PII checks do. ``not`` passes only when something was found. ``data`` lists the
categories found and how many of each, never the values (nor an excerpt of the text).

What is matched (RE2 patterns, linear in the text; some confirmed by a checksum):
- EMAIL_ADDRESS: ``local@domain.tld``;
- PHONE_NUMBER: ``+`` and 8-15 digits, or groups split by spaces, dots or dashes
  (``+1 415-555-0100``, ``(020) 7946 0958``, ``415.555.0100``);
- CREDIT_CARD: 13-19 digits (spaces or dashes between) that pass the Luhn check;
- IBAN: country code, check digits and 11-30 letters/digits that pass the mod-97 check;
- IP_ADDRESS: dotted IPv4, and IPv6 that parses (``ipaddress``);
- SSN: US ``123-45-6789`` with a possible area, group and serial;
- SECRET: ``sk-…`` (OpenAI, Anthropic), ``AKIA…``/``ASIA…`` (AWS key ids), ``ghp_…`` and the other
  GitHub token prefixes, ``xoxb-``/``xoxp-`` (Slack), PEM private key headers, JWT-shaped tokens.

Limits, honestly: patterns find what looks like PII, not what is. Missed: names, postal
addresses, dates of birth, national ids other than US SSNs, phone numbers written without
separators (unless ``+``-prefixed), numbers spelled in words or split oddly, IPv6 written with a
leading ``::``, secrets of other shapes. False alarms: digit groups that happen to look like a
phone number (order numbers), random numbers that pass Luhn (1 in 10), version strings shaped
like IPv4. Where two findings overlap, the earlier category in :data:`CATEGORIES` keeps it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, cast

from gateway.config.regex import compile_regex
from gateway.guardrails.check import BEFORE_REQUEST, CheckParametersError, CheckResult, CheckSpec, HookContext
from gateway.guardrails.text import texts_of, with_texts

__all__ = [
    "CATEGORIES",
    "SPECS",
]


class _Match(Protocol):
    def span(self) -> tuple[int, int]: ...

    def group(self) -> str: ...


class _Finder(Protocol):
    """An RE2 pattern as this module uses it (``compile_regex`` types only ``search``)."""

    def finditer(self, text: str) -> Iterator[_Match]: ...


def _luhn(candidate: str) -> bool:
    digits = [int(char) for char in candidate if char.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _iban(candidate: str) -> bool:
    compact = candidate.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def _ssn(candidate: str) -> bool:
    area, group, serial = candidate.split("-")
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _ip(candidate: str) -> bool:
    try:
        ipaddress.ip_address(candidate)
    except ValueError:
        return False
    return True


def _always(candidate: str) -> bool:
    return True


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"

#: Category → (pattern, confirmation of a match). Order is priority where findings overlap.
_DETECTORS: dict[str, tuple[str, Callable[[str], bool]]] = {
    "SECRET": (
        r"\bsk-[A-Za-z0-9_-]{20,}|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b|\bgh[pousr]_[A-Za-z0-9]{36,}\b"
        r"|\bxox[bp]-[A-Za-z0-9-]{10,}|-----BEGIN (?:[A-Z0-9]+ )?PRIVATE KEY-----"
        r"|\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{10,}",
        _always,
    ),
    "EMAIL_ADDRESS": (r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b", _always),
    "IBAN": (r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}\b", _iban),
    "CREDIT_CARD": (r"\b(?:[0-9][ -]?){12,18}[0-9]\b", _luhn),
    "SSN": (r"\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b", _ssn),
    "IP_ADDRESS": (
        rf"\b{_OCTET}(?:\.{_OCTET}){{3}}\b|\b(?:[0-9A-Fa-f]{{1,4}}:){{2,7}}[0-9A-Fa-f:]{{0,29}}",
        _ip,
    ),
    "PHONE_NUMBER": (
        r"\+[0-9]{8,15}\b"
        r"|(?:\+[0-9]{1,3}[ .-]?)?(?:\([0-9]{1,4}\)[ .-]?|\b[0-9]{2,4}[ .-])[0-9]{3,4}[ .-][0-9]{3,4}\b",
        _always,
    ),
}

#: Every category, in priority order.
CATEGORIES = tuple(_DETECTORS)


@dataclass(frozen=True, slots=True)
class _Detector:
    category: str
    finder: _Finder
    confirm: Callable[[str], bool]


@dataclass(frozen=True, slots=True)
class _Prepared:
    detectors: tuple[_Detector, ...]
    redact: bool
    negate: bool


def _flag(parameters: Mapping[str, Any], name: str) -> bool:
    value = parameters.get(name, False)
    if not isinstance(value, bool):
        raise CheckParametersError(name, f"{name} must be true or false.")
    return value


def _prepare(parameters: Mapping[str, Any]) -> _Prepared:
    categories = parameters.get("categories", list(CATEGORIES))
    if (
        not isinstance(categories, list)
        or not categories
        or not all(isinstance(category, str) and category in _DETECTORS for category in categories)
    ):
        raise CheckParametersError(
            "categories", f"categories must be a non-empty list of: {', '.join(CATEGORIES)}."
        )
    detectors = tuple(
        _Detector(name, cast(_Finder, compile_regex(pattern)), confirm)
        for name, (pattern, confirm) in _DETECTORS.items()
        if name in categories
    )
    return _Prepared(detectors, _flag(parameters, "redact"), _flag(parameters, "not"))


def _findings(text: str, detectors: tuple[_Detector, ...]) -> list[tuple[int, int, str]]:
    """``(start, end, category)`` of each finding, sorted, none overlapping another."""
    taken: list[tuple[int, int, str]] = []
    for detector in detectors:
        for match in detector.finder.finditer(text):
            start, end = match.span()
            if detector.confirm(match.group()) and all(end <= s or start >= e for s, e, _ in taken):
                taken.append((start, end, detector.category))
    return sorted(taken)


def _redacted(text: str, findings: list[tuple[int, int, str]]) -> str:
    parts: list[str] = []
    position = 0
    for start, end, category in findings:
        parts += [text[position:start], f"[{category}]"]
        position = end
    parts.append(text[position:])
    return "".join(parts)


def _run(context: HookContext, prepared: _Prepared) -> CheckResult:
    counts: dict[str, int] = {}
    replaced: list[str | None] = []
    for text in texts_of(context):
        findings = _findings(text, prepared.detectors)
        for _, _, category in findings:
            counts[category] = counts.get(category, 0) + 1
        replaced.append(_redacted(text, findings) if findings and prepared.redact else None)
    found = [category.category for category in prepared.detectors if category.category in counts]
    transformed = with_texts(context, replaced) if found and prepared.redact else None
    verdict = bool(found) if prepared.negate else (not found or transformed is not None)
    data = {
        "verdict": verdict,
        "not": prepared.negate,
        "explanation": _explanation(found, verdict, prepared.negate, transformed is not None),
        "restrictedCategories": [detector.category for detector in prepared.detectors],
        "detectedCategories": found,
        "counts": {category: counts[category] for category in found},
    }
    if context.event == BEFORE_REQUEST:
        return CheckResult(verdict, data, transformed_request=transformed)
    return CheckResult(verdict, data, transformed_response=transformed)


def _explanation(found: list[str], verdict: bool, negate: bool, transformed: bool) -> str:
    if transformed:
        return f"Found and redacted PII in the text: {', '.join(found)}"
    if verdict:
        return (
            "PII was found in the text as expected." if negate else "No restricted PII was found in the text."
        )
    if negate:
        return "No PII was found in the text when it should have been."
    return f"Found restricted PII in the text: {', '.join(found)}"


SPECS = (CheckSpec("gateway.pii", _prepare, run=_run),)
