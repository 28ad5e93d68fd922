"""A config's edits of the request body: ``default_params``, ``override_params``, ``drop_params``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "changes_body",
    "edited_params",
]


def edited_params(
    body: Mapping[str, Any],
    overrides: Mapping[str, Any],
    defaults: Mapping[str, Any],
    dropped: frozenset[str],
) -> dict[str, Any]:
    """The body a target gets: ``defaults`` lose to the request's own fields, ``overrides`` win
    over them, and ``dropped`` fields are removed last (whoever set them)."""
    params = {**defaults, **body, **overrides} if defaults else {**body, **overrides}
    for name in dropped:
        params.pop(name, None)
    return params


def changes_body(
    body: Mapping[str, Any],
    overrides: Mapping[str, Any],
    defaults: Mapping[str, Any],
    dropped: frozenset[str],
) -> bool:
    """Whether :func:`edited_params` changes ``body`` (else its bytes are sent as they came)."""
    return bool(overrides) or any(k not in body for k in defaults) or any(k in body for k in dropped)
