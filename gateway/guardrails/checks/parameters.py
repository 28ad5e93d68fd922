"""Reading a check's ``parameters`` at config parse, with Portkey's defaults.

Each reader returns the value or raises :class:`CheckParametersError` naming the parameter; the
message says what is expected, never the value given (a config may carry secrets anywhere).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gateway.guardrails.check import CheckParametersError

__all__ = [
    "choice",
    "flag",
    "number",
    "text",
    "texts",
]

_MISSING = object()


def flag(parameters: Mapping[str, Any], name: str, default: bool = False) -> bool:
    """A boolean (``not``, ``onlyDNS``); absent or null reads as ``default``."""
    value = parameters.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise CheckParametersError(name, f"{name} must be true or false.")
    return value


def number(parameters: Mapping[str, Any], name: str, default: float, *, whole: bool = False) -> float | int:
    """A number (``minWords``); ``whole`` refuses fractions (Portkey's ``Number.isInteger``).
    Whole floats come back as ints, so explanations read ``5`` as JavaScript writes it."""
    value = parameters.get(name)
    if value is None:
        value = default
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise CheckParametersError(name, f"{name} must be a number.")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if whole and not isinstance(value, int):
        raise CheckParametersError(name, f"{name} must be a whole number.")
    return value


def text(parameters: Mapping[str, Any], name: str, *, limit: int, default: str | None = None) -> str:
    """A non-empty string of at most ``limit`` characters; absent reads as ``default``."""
    value = parameters.get(name)
    if value is None and default is not None:
        return default
    if not isinstance(value, str) or not value:
        raise CheckParametersError(name, f"{name} must be a non-empty string.")
    if len(value) > limit:
        raise CheckParametersError(name, f"{name} is {len(value)} characters; the limit is {limit}.")
    return value


def texts(parameters: Mapping[str, Any], name: str, *, count: int, limit: int) -> tuple[str, ...]:
    """A list of at most ``count`` non-empty strings of at most ``limit`` characters each."""
    value = parameters.get(name)
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise CheckParametersError(name, f"{name} must be a list of non-empty strings.")
    if len(value) > count:
        raise CheckParametersError(name, f"{name} has {len(value)} entries; the limit is {count}.")
    if any(len(item) > limit for item in value):
        raise CheckParametersError(name, f"{name} has an entry longer than {limit} characters.")
    return tuple(value)


def choice(
    parameters: Mapping[str, Any], name: str, options: Sequence[str], default: str | None = None
) -> str:
    """One of ``options``; absent reads as ``default`` (required when there is none)."""
    value = parameters.get(name, _MISSING)
    if value in (None, _MISSING) and default is not None:
        return default
    if value not in options:
        raise CheckParametersError(name, f"{name} must be one of: {', '.join(options)}.")
    return str(value)
