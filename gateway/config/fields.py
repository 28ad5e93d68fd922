"""The shape checks every part of a routing config shares, and the 400 they raise.

Each check names the dotted path of the field it refuses (``config.targets[1].weight``) and never
repeats its value: configs carry keys.
"""

from __future__ import annotations

import re
from typing import Any

from gateway.errors import InvalidRequest

__all__ = [
    "MAX_DEPTH",
    "ConfigError",
    "as_object",
    "as_text",
    "bad",
    "header_value_problem",
    "limit",
]

#: Levels of ``targets`` within ``targets``, and of ``$and``/``$or`` within a condition.
MAX_DEPTH = 8


class ConfigError(InvalidRequest):
    code = "invalid_config"


def as_object(raw: Any, path: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise bad(path, "expected a JSON object")
    return raw


def as_text(raw: Any, path: str) -> str:
    if not isinstance(raw, str) or not raw:
        raise bad(path, "expected a non-empty string")
    return raw


#: What a header value cannot hold: a line break would end the header early (and start another).
_HEADER_BREAK = re.compile(r"[\r\n\x00]")


def header_value_problem(value: str) -> str | None:
    """Why ``value`` (a key, a provider option) cannot go upstream in a header; ``None``: it can."""
    if _HEADER_BREAK.search(value):
        return "must not hold a line break or a NUL character (it is sent in a header)"
    return None


def bad(path: str, problem: str) -> ConfigError:
    return ConfigError(f"Invalid routing config: {path}: {problem}.", param="x-portkey-config")


def limit(problem: str) -> ConfigError:
    return ConfigError(f"Invalid routing config: {problem}.", param="x-portkey-config")
