"""Usage per gateway key as Prometheus series: requests, tokens and dollars by key id.

Fed by the charger (``limits/charges.py``) with the very charges the budgets are kept with, so
the series and the admin API's usage agree. Key ids are the operator's (settings or admin API),
a bounded set, but the label is capped all the same, like the model label: past
``max_keys`` distinct ids, the rest count as ``other``. A key id is a name, never the key.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter

from gateway.observability.metrics import Bounded, Metrics

__all__ = [
    "KeySeries",
]


class KeySeries:
    """``gateway_key_requests_total{key}``, ``gateway_key_tokens_total{key,kind}`` (``input`` /
    ``output``) and ``gateway_key_cost_usd_total{key}``, in ``metrics``' registry, written at its
    flush like every other series."""

    def __init__(self, metrics: Metrics, max_keys: int = 1000) -> None:
        self._metrics = metrics
        self._keys = Bounded(max_keys)
        r = metrics.registry
        self._requests = Counter(
            "gateway_key_requests", "Requests answered, per gateway key.", ("key",), registry=r
        )
        self._tokens = Counter(
            "gateway_key_tokens",
            "Tokens charged per gateway key (reported or estimated).",
            ("key", "kind"),
            registry=r,
        )
        self._cost = Counter(
            "gateway_key_cost_usd", "US dollars charged per gateway key.", ("key",), registry=r
        )
        #: key label → its four children, bound once.
        self._children: dict[str, tuple[Any, Any, Any, Any]] = {}

    def count(self, key_id: str, requests: int, input_tokens: int, output_tokens: int, cost: float) -> None:
        label = self._keys(key_id)
        children = self._children.get(label)
        if children is None:
            children = self._children[label] = (
                self._requests.labels(label),
                self._tokens.labels(label, "input"),
                self._tokens.labels(label, "output"),
                self._cost.labels(label),
            )
        m = self._metrics
        for child, amount in zip(children, (requests, input_tokens, output_tokens, cost), strict=True):
            if amount:
                m.inc(child, amount)
