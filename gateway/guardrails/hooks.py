"""Which hooks one request runs, and its guardrail state on the way through the pipeline.

A request's hooks are the ``x-portkey-default-input-guardrails`` / ``-output-guardrails``
headers' (Portkey's shorthand; parsed once per distinct value) followed by its target's. Input
hooks run once, before any attempt: those of every planned target, each distinct hook once (a
fallback target's input hooks are checked before the first target is tried, which is stricter
than Portkey's per-attempt run). Output hooks are those of the target whose answer the client gets.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from gateway.config.fields import ConfigError
from gateway.config.hooks import MAX_HOOKS, Hook, parse_shorthand
from gateway.guardrails.check import AFTER_REQUEST, BEFORE_REQUEST, HookContext

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from gateway.guardrails.runner import CheckTiming, EventOutcome
    from gateway.observability.record import RequestRecord
    from gateway.routing.target import Target

__all__ = [
    "INPUT_HEADER",
    "OUTPUT_HEADER",
    "Guard",
    "header_hooks",
    "planned_before",
    "request_type",
]

INPUT_HEADER = "x-portkey-default-input-guardrails"
OUTPUT_HEADER = "x-portkey-default-output-guardrails"
#: Endpoint family → Portkey's request type (what checks and ``text.py`` read).
_REQUEST_TYPES = {
    "chat": "chatComplete",
    "completions": "complete",
    "embeddings": "embed",
    "messages": "messages",
}


@dataclass(slots=True)
class Guard:
    """One request's guardrail state (``RequestContext.guard``): the input hooks' results and the
    output hooks still to run."""

    #: The checks' view of the request (its body after the input hooks' transforms).
    context: HookContext
    #: The output headers' hooks (the answering target's own are added per attempt).
    header_after: tuple[Hook, ...]
    #: Runs ``async: true`` hooks off the request path (``guardrails/stage.py``).
    background: Callable[[Sequence[Hook], HookContext], None]
    before: EventOutcome | None = None
    after: EventOutcome | None = None
    #: Each check's run, for the metrics.
    timings: list[CheckTiming] = field(default_factory=list)

    def after_hooks(self, target: Target) -> tuple[Hook, ...]:
        return (*target.after_hooks, *self.header_after)

    def results(self) -> dict[str, Any]:
        """Portkey's ``hook_results``."""
        return {
            "before_request_hooks": self.before.results if self.before is not None else [],
            "after_request_hooks": self.after.results if self.after is not None else [],
        }

    @property
    def failed(self) -> bool:
        return any(event is not None and event.failed for event in (self.before, self.after))

    @property
    def seconds(self) -> float:
        return sum(event.seconds for event in (self.before, self.after) if event is not None)

    def verdict(self) -> str:
        """For the access log: ``denied``, ``failed`` or ``passed``."""
        if self.denied_event():
            return "denied"
        return "failed" if self.failed else "passed"

    def denied_event(self) -> str:
        """The event whose hooks denied (:data:`BEFORE_REQUEST` or :data:`AFTER_REQUEST`), else ``""``."""
        for event, outcome in ((BEFORE_REQUEST, self.before), (AFTER_REQUEST, self.after)):
            if outcome is not None and outcome.denied:
                return event
        return ""

    def record(self, record: RequestRecord) -> None:
        """Put the hooks' verdict, time and checks' runs in ``record`` (the access log, metrics)."""
        record.guardrails = self.verdict()
        record.guardrail_denied = self.denied_event()
        record.guardrail_ms = self.seconds * 1000
        record.guardrail_checks = list(self.timings)


def request_type(family: str | None) -> str:
    return _REQUEST_TYPES.get(family or "", family or "other")


def header_hooks(headers: Mapping[str, str]) -> tuple[tuple[Hook, ...], tuple[Hook, ...]]:
    """The default guardrail headers' (input, output) hooks; a 400 naming the header when bad."""
    return _parsed_header(headers.get(INPUT_HEADER, ""), INPUT_HEADER, BEFORE_REQUEST), _parsed_header(
        headers.get(OUTPUT_HEADER, ""), OUTPUT_HEADER, AFTER_REQUEST
    )


@functools.lru_cache(maxsize=256)
def _parsed_header(value: str, name: str, event: str) -> tuple[Hook, ...]:
    """Parsed once per distinct value: clients send the same header on every request."""
    if not value.strip():
        return ()
    try:
        raw = orjson.loads(value)
    except orjson.JSONDecodeError:
        raise ConfigError(f"{name} is not valid JSON.", param=name) from None
    try:
        hooks = parse_shorthand(raw, name, event)
    except ConfigError as error:
        error.param = name
        raise
    if len(hooks) > MAX_HOOKS:
        raise ConfigError(f"{name}: {len(hooks)} hooks; the limit is {MAX_HOOKS}.", param=name)
    return hooks


def planned_before(header_before: Sequence[Hook], targets: Sequence[Target]) -> tuple[Hook, ...]:
    """The input hooks of a request: each planned target's, then the header's (Portkey's order:
    a provider option's hooks, then the default guardrails), each once."""
    hooks: dict[int, Hook] = {}
    for hook in (*(hook for target in targets for hook in target.before_hooks), *header_before):
        hooks.setdefault(id(hook), hook)
    return tuple(hooks.values())
