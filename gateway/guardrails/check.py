"""The contract every guardrail check keeps (Portkey's plugin handler, in Python).

A check is named ``<plugin>.<function>`` (``default.regexMatch``, ``gateway.pii``) and has two parts:

- ``prepare(parameters)`` runs once, when the routing config is parsed (configs are cached): it
  validates the check's ``parameters`` and returns whatever ``run`` needs (a compiled regex, a
  parsed schema). Bad parameters raise :class:`CheckParametersError`, which the config parser turns
  into a 400 naming the check and the parameter.
- ``run(context, prepared)`` runs per request, on the event loop, and returns a :class:`CheckResult`.
  Pure checks are plain functions, bounded in time by what they are given (regexes are RE2); checks
  that call out (webhook, log, jwt) are coroutines that use ``context.services`` and never raise for
  a failure of the thing they call: they answer a result with ``error`` set.

``verdict`` is whether the check *passed* (Portkey's meaning): ``True`` lets the request through.
A check that cannot decide (text missing, a webhook that timed out) returns ``verdict=False`` with
``error`` set; the hook decides what that means (deny, or a failed check).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiohttp import ClientSession

    from gateway.upstream.hostpolicy import HostPolicy

__all__ = [
    "AFTER_REQUEST",
    "BEFORE_REQUEST",
    "CheckParametersError",
    "CheckResult",
    "CheckServices",
    "CheckSpec",
    "HookContext",
]

#: Portkey's event names, as ``hook_results`` and the check functions see them.
BEFORE_REQUEST = "beforeRequestHook"
AFTER_REQUEST = "afterRequestHook"


class CheckParametersError(ValueError):
    """A check's parameters are wrong. ``param`` names the parameter (``rule``, ``schema``);
    ``str()`` says what is wrong without echoing a value that may hold a secret."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True, slots=True)
class CheckServices:
    """What checks that call out get: the gateway's upstream session (every address it dials
    passes the SSRF guard, no redirect followed), the host policy to vet a URL before calling it
    (``upstream/hostguard.py``), and the longest a call may take."""

    session: ClientSession
    host_policy: HostPolicy
    timeout: float


@dataclass(slots=True)
class HookContext:
    """What a check sees of one exchange."""

    #: :data:`BEFORE_REQUEST` or :data:`AFTER_REQUEST`.
    event: str
    #: Portkey's request types: ``chatComplete``, ``complete``, ``embed``, ``messages``; other
    #: endpoints carry their family name (``images``, ``responses``, ...).
    request_type: str
    #: The provider slug of the target (``openai``, ``anthropic``, ...).
    provider: str
    #: The request's ``x-portkey-metadata`` (and, later, the gateway key's).
    metadata: Mapping[str, str]
    #: The request body as the target gets it (after the config's params and earlier checks'
    #: transforms).
    request_json: dict[str, Any]
    #: The caller's request headers, for checks that read one (jwt's ``headerKey``). A check never
    #: sends them anywhere or puts them in its data: they hold credentials.
    request_headers: Mapping[str, str] = field(default_factory=dict)
    #: After the model: the answer's JSON (a stream's assembled answer) and status.
    response_json: dict[str, Any] | None = None
    response_status: int | None = None
    #: Set for checks that call out; ``None`` in pure-check unit tests.
    services: CheckServices | None = None


@dataclass(slots=True)
class CheckResult:
    #: ``True``: the check passed.
    verdict: bool
    #: What the check found, shaped as Portkey's check shapes it (``explanation``, details).
    data: Any = None
    #: Why the check could not decide (a message, never a secret); ``None`` when it decided.
    error: str | None = None
    #: A changed request body (before) or answer body (after) when the check transforms
    #: (redaction, prefixes): the hook puts it in place and reports ``transformed: true``.
    transformed_request: dict[str, Any] | None = None
    transformed_response: dict[str, Any] | None = None

    @property
    def transformed(self) -> bool:
        return self.transformed_request is not None or self.transformed_response is not None


PrepareCheck = Callable[[Mapping[str, Any]], Any]
RunCheck = Callable[[HookContext, Any], CheckResult]
RunAsyncCheck = Callable[[HookContext, Any], Awaitable[CheckResult]]


@dataclass(frozen=True, slots=True)
class CheckSpec:
    """One check as the registry (``guardrails/registry.py``) lists it."""

    #: ``default.regexMatch``: the id a config names.
    id: str
    prepare: PrepareCheck
    #: Exactly one of ``run`` (pure, synchronous) and ``run_async`` (calls out) is set.
    run: RunCheck | None = None
    run_async: RunAsyncCheck | None = None
    #: The events it supports (Portkey's manifest ``supportedHooks``); a config attaching it to
    #: another event is a 400.
    events: frozenset[str] = frozenset({BEFORE_REQUEST, AFTER_REQUEST})
