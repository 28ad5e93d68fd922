"""Every check a config may name, by id (``default.regexMatch``, ``gateway.pii``, ...).

Each check module under ``guardrails/checks/`` exports ``SPECS``, a tuple of its
:class:`~gateway.guardrails.check.CheckSpec`; this table gathers them.
"""

from __future__ import annotations

from gateway.guardrails.check import CheckSpec
from gateway.guardrails.checks import webhook

__all__ = [
    "CHECKS",
]

_MODULES: tuple[tuple[CheckSpec, ...], ...] = (webhook.SPECS,)

#: Check id → its spec.
CHECKS: dict[str, CheckSpec] = {spec.id: spec for specs in _MODULES for spec in specs}
