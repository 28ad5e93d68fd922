"""What one exchange with a provider (or one answer the gateway gave itself) did: the record every
observer reads, and the interface of those observers.

The request path fills the cheap fields as it goes; the recorder (``observability/recorder.py``)
fills the rest off the request path (the usage decoded from ``tail``, tokens, cost) before any sink
sees the record. Sinks never see a credential: ``provider`` is a known slug, ``target`` a config
path, ``model`` what the request named.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from gateway.guardrails.runner import CheckTiming

__all__ = [
    "RecordSink",
    "RequestRecord",
    "TokenReservation",
]


class TokenReservation(Protocol):
    """Tokens a rate limit charged before the call, on an estimate (``limits/stage.py``)."""

    def settle(self, tokens: int) -> None:
        """The answer used ``tokens``: replace the estimate by them."""
        ...


@dataclass(slots=True)
class RequestRecord:
    method: str
    path: str
    provider: str
    trace_id: str
    #: The caller's x-portkey-metadata labels.
    metadata: dict[str, str]
    status: int = 0
    #: ``ok``, ``upstream_error`` (the upstream failed or timed out), ``client_closed``, and for
    #: config attempts ``retried``, ``fell_back``, ``hedge_lost`` or ``shutdown``; ``rejected``
    #: when the gateway answered without an attempt, ``shed`` for an admission 503,
    #: ``invalid_request`` for a caller's bad target, ``internal_error`` for a bug (a 500).
    outcome: str = "ok"
    #: The endpoint family (``chat``, ``embeddings``, ``realtime``, ... ``providers/base.FAMILIES``),
    #: ``other`` for a path outside them, ``-`` for an answer given before routing.
    family: str = "-"
    #: The model the provider was asked for (after a config's overrides); ``""`` when none.
    model: str = ""
    #: Where the target sits in the routing config (``config.targets[1]``); ``""`` without one.
    target: str = ""
    #: Whether the client asked for an event stream.
    stream: bool = False
    #: Unix time the record was handed to the recorder (the attempt's end): the access log's ``ts``.
    ended_at: float = 0.0
    duration_ms: float = 0.0
    #: From sending to the upstream's response headers, or to its failure (0 when nothing was sent).
    upstream_ms: float = 0.0
    #: Until the answer was ready to go out: a stream's first chunk, a small body's last byte,
    #: else the headers (0 when it never was). Feeds the ``latency`` load balancing.
    first_token_ms: float = 0.0
    #: The gateway's own time before the answer started (the ``Server-Timing`` ``gateway`` figure).
    gateway_ms: float = 0.0
    #: The last bytes relayed, where the usage object lives (decoded off the request path).
    tail: bytes = b""
    #: The caller's gateway key id (``limits/caller.py``); ``""`` with gateway keys off.
    key: str = ""
    #: Bytes of the answer's body that went out to the client, and of the client's JSON body:
    #: what a charge is estimated from when the provider reported no usage (``limits/charges.py``).
    delivered_bytes: int = 0
    request_bytes: int = 0
    usage: dict[str, Any] | None = None
    #: From ``usage``, filled by the recorder: ``None`` when the provider reported none.
    input_tokens: int | None = None
    output_tokens: int | None = None
    #: The part of ``input_tokens`` read from the provider's prompt cache (``None`` like them).
    cached_tokens: int | None = None
    #: In US dollars, from the price table; ``None`` when the tokens or the price are unknown.
    cost: float | None = None
    #: The attempt's open CLIENT span when traces are on (``observability/spans.py``: its sink
    #: ends it once the tokens are known); ``None`` otherwise.
    span: object | None = None
    #: Metrics: ``retry`` or ``fallback`` when the runner tried again after this attempt (its
    #: outcome ``retried``/``fell_back``, or an ``upstream_error`` it retried or moved on from);
    #: ``""`` when this attempt's answer is the one the client got.
    next_step: str = ""
    #: Metrics: this attempt was the hedge, started after the first target's ``hedge_after``.
    hedge: bool = False
    #: Metrics: the longest wait between two reads of a relayed stream (0 for a whole body).
    longest_gap_ms: float = 0.0
    #: ``HIT``, ``SEMANTIC HIT``, ``MISS``, ``SEMANTIC MISS`` or ``REFRESH`` when the response cache
    #: took part (``cache/stage.py``); ``""`` otherwise. A hit's tokens are reported and its cost
    #: is 0: it was paid for once.
    cache_status: str = ""
    #: The attempt's answer as recorded for the cache: (key, seconds to keep, bytes); ``None``
    #: when it is not to be stored. The cache's after stage stores it if the attempt ended well.
    cache_entry: tuple[str, float, bytes] | None = None
    #: ``passed``, ``failed`` or ``denied`` when guardrail hooks ran (``guardrails/hooks.py``);
    #: ``""`` otherwise; the event whose hooks denied (``beforeRequestHook``,
    #: ``afterRequestHook``, else ``""``), their total time, and each check's run for the metrics.
    guardrails: str = ""
    guardrail_denied: str = ""
    guardrail_ms: float = 0.0
    guardrail_checks: list[CheckTiming] | None = None
    #: The token estimate a tokens-per-minute limit charged, on the record of the answer the
    #: client got: the limits' sink settles it from the tokens once they are known.
    tokens_reserved: TokenReservation | None = None


class RecordSink(Protocol):
    """An observer of finished records (the access log, metrics, the console, ...)."""

    def write(self, record: RequestRecord) -> None:
        """Called off the request path, once per record, in order; must not raise or block."""
        ...
