"""Who is calling, once gateway keys are on: the key's grants, limits and budgets (pure data).

The identify step (``limits/keys.py``) turns ``Authorization: Bearer <gateway key>`` (or
Anthropic's ``x-api-key``, or a realtime client's key) into a :class:`Caller` on the request's
context; every later stage reads it: routing (allowed providers, models, configs, virtual keys;
the default config), the rate limiter (``limits/stage.py``), the budget keeper
(``limits/budgets.py``), the recorder (usage per key). With gateway keys off there is no caller
(``RequestContext.caller is None``) and none of those stages costs anything.

A plain key is never kept: keys are looked up by :func:`key_digest` (SHA-256 of the key; gateway
keys are random and long, so no slow hash is needed against guessing), and only the digest is
stored, in the settings or in Redis.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = [
    "NO_LIMITS",
    "PERIODS",
    "Budget",
    "Caller",
    "GatewayKey",
    "RateLimits",
    "VirtualKey",
    "key_digest",
]

#: A budget's period: the calendar day or month (UTC), or the key's whole life.
PERIODS = ("day", "month", "total")
_NOTHING: Mapping[str, str] = MappingProxyType({})


def key_digest(key: str) -> str:
    """What a gateway key is stored and looked up by (hex SHA-256)."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class RateLimits:
    """``None``: no limit of that kind."""

    requests_per_minute: int | None = None
    #: Input + output tokens per minute: estimated from the body before the call, corrected from
    #: the reported usage after it.
    tokens_per_minute: int | None = None
    #: Requests in flight at once, and streams among them.
    concurrent_requests: int | None = None
    concurrent_streams: int | None = None

    @property
    def any(self) -> bool:
        return any(
            limit is not None
            for limit in (
                self.requests_per_minute,
                self.tokens_per_minute,
                self.concurrent_requests,
                self.concurrent_streams,
            )
        )


NO_LIMITS = RateLimits()


@dataclass(frozen=True, slots=True)
class Budget:
    """At most ``amount`` US dollars (from the price table) per ``period``."""

    amount: float
    period: str = "month"


@dataclass(frozen=True, slots=True)
class GatewayKey:
    """One gateway key as the settings or the admin API define it (never the plain key)."""

    id: str
    name: str
    #: :func:`key_digest` of the key.
    digest: str
    #: Empty: any. Provider slugs, model names (exact), config ids (``[configs.<id>]``), virtual
    #: key names the key may use.
    providers: frozenset[str] = frozenset()
    models: frozenset[str] = frozenset()
    configs: frozenset[str] = frozenset()
    virtual_keys: frozenset[str] = frozenset()
    #: The config id used when a request names none.
    default_config: str = ""
    #: Merged into every request's ``x-portkey-metadata`` (the request's own keys win).
    metadata: Mapping[str, str] = field(default_factory=lambda: _NOTHING)
    limits: RateLimits = RateLimits()
    #: Per model: limits on top of the key's own (``{"gpt-4o": RateLimits(...)}``).
    model_limits: Mapping[str, RateLimits] = field(default_factory=dict)
    budgets: tuple[Budget, ...] = ()
    #: Unix time after which the key is refused (``None``: never).
    expires_at: float | None = None
    revoked: bool = False


@dataclass(frozen=True, slots=True)
class VirtualKey:
    """A provider credential kept in the gateway and named by callers (Portkey's ``virtual_key``):
    callers never hold the secret, and no answer ever shows it."""

    name: str
    provider: str
    api_key: str = field(default="", repr=False)
    #: Provider options (``x-portkey-<name>`` values: Azure resource, AWS keys, ...), secret too.
    options: Mapping[str, str] = field(default_factory=dict, repr=False)
    base_url: str = ""
    limits: RateLimits = RateLimits()


@dataclass(frozen=True, slots=True)
class Caller:
    """The request's identified gateway key."""

    key: GatewayKey
