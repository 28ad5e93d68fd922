"""The price table: US dollars per million tokens, per provider and model, shipped as data.

``gateway/data/prices.json`` holds the providers' public list prices; an operator's file of the
same shape (``[pricing] file``) is merged over it at start-up, so prices can change without a
release. Shape::

    {"<provider slug>": {"source": "<where the prices come from>", "date": "YYYY-MM-DD",
                         "models": {"<model>": {"input": 2.5, "output": 10.0,
                                                "cached_input": 1.25, "cache_write": 3.75}}}}

``input`` and ``output`` are required; ``cached_input`` (input tokens read from the provider's
prompt cache) and ``cache_write`` (input tokens written to it: Anthropic, Bedrock) default to the
input price. A model is found by its exact name, then without a dated-snapshot suffix
(``gpt-4o-2024-08-06`` → ``gpt-4o``, ``claude-3-5-haiku-20241022`` → ``claude-3-5-haiku``,
``claude-sonnet-4@20250514`` → ``claude-sonnet-4``), then without a Bedrock cross-region prefix
(``us.anthropic...`` → ``anthropic...``).
"""

from __future__ import annotations

import math
import pkgutil
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = [
    "Price",
    "PriceTable",
    "Tokens",
    "load_prices",
]

#: A dated snapshot at the end of a model name: -2024-08-06, -20241022, @20250514, -2411.
_SNAPSHOT = re.compile(r"(?:-\d{4}-\d{2}-\d{2}|-\d{8}|@\d{8}|-\d{4})$")
#: Bedrock's cross-region inference profiles put the region group before the model id.
_REGION_GROUP = re.compile(r"^(?:us|eu|apac|us-gov|global)\.(?=[a-z]+\.)")
_PER_TOKEN = 1e-6
_FIELDS = ("input", "output", "cached_input", "cache_write")


@dataclass(slots=True)
class Tokens:
    """One answer's token counts. ``input`` counts every input token, cached ones included (as
    OpenAI counts them); ``cached`` and ``cache_write`` are the parts of it read from and written
    to the provider's prompt cache. Never changed once built; not frozen because one is built per
    record and a frozen dataclass sets each field through ``object.__setattr__``."""

    input: int
    output: int
    cached: int = 0
    cache_write: int = 0


@dataclass(frozen=True, slots=True)
class Price:
    """US dollars per million tokens."""

    input: float
    output: float
    cached_input: float
    cache_write: float

    def cost(self, tokens: Tokens) -> float:
        uncached = max(tokens.input - tokens.cached - tokens.cache_write, 0)
        return _PER_TOKEN * (
            uncached * self.input
            + tokens.cached * self.cached_input
            + tokens.cache_write * self.cache_write
            + tokens.output * self.output
        )


#: Lookups remembered per table: model names come from callers, so the memo is bounded (and
#: simply emptied when full: the names a deployment really uses fill it again at once).
_MEMO_SIZE = 4096


@dataclass(frozen=True, slots=True)
class PriceTable:
    #: provider slug → model → price.
    prices: dict[str, dict[str, Price]]
    _found: dict[tuple[str, str], Price | None] = field(default_factory=dict, compare=False, repr=False)

    def find(self, provider: str, model: str) -> Price | None:
        """The price of ``model`` at ``provider`` (matching as the module says), or ``None``."""
        key = (provider, model)
        try:
            return self._found[key]
        except KeyError:
            pass
        if len(self._found) >= _MEMO_SIZE:
            self._found.clear()
        price = self._found[key] = self._match(provider, model)
        return price

    def _match(self, provider: str, model: str) -> Price | None:
        models = self.prices.get(provider)
        if not models or not model:
            return None
        for name in _candidates(model):
            price = models.get(name)
            if price is not None:
                return price
        return None


def _candidates(model: str) -> tuple[str, ...]:
    undated = _SNAPSHOT.sub("", model)
    unprefixed = _REGION_GROUP.sub("", model)
    return (model, undated, unprefixed, _SNAPSHOT.sub("", unprefixed))


def load_prices(path: str = "") -> PriceTable:
    """The shipped table, with the file at ``path`` (if any) merged over it, provider by provider
    and model by model. Raises ``ValueError`` naming the file and the key at fault."""
    # pkgutil, not importlib.resources: that would load the zipfile module (~0.3 MB) for good.
    shipped = pkgutil.get_data("gateway.data", "prices.json")
    if shipped is None:
        raise RuntimeError("gateway/data/prices.json is missing from the installed package")
    prices = _parse(orjson.loads(shipped), "gateway/data/prices.json")
    if path:
        for provider, models in _parse(_read(path), path).items():
            prices.setdefault(provider, {}).update(models)
    return PriceTable(prices)


def _read(path: str) -> Any:
    try:
        with open(path, "rb") as file:
            return orjson.loads(file.read())
    except OSError as exc:
        raise ValueError(f"cannot read pricing file {path}: {exc.strerror}") from None
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"pricing file {path} is not valid JSON: {exc}") from None


def _parse(raw: Any, where: str) -> dict[str, dict[str, Price]]:
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected an object of providers")
    table = {}
    for provider, entry in raw.items():
        models = entry.get("models") if isinstance(entry, dict) else None
        if not isinstance(models, dict):
            raise ValueError(f"{where}: {provider}.models: expected an object of models")
        table[provider] = {
            model: _price(row, f"{where}: {provider}.models.{model}") for model, row in models.items()
        }
    return table


def _price(row: Any, where: str) -> Price:
    if not isinstance(row, dict):
        raise ValueError(f"{where}: expected an object with input and output prices")
    for key in row:
        if key not in _FIELDS:
            raise ValueError(f"{where}.{key}: unknown field (expected {', '.join(_FIELDS)})")
    values = {key: _dollars(row.get(key), f"{where}.{key}") for key in _FIELDS}
    if values["input"] is None or values["output"] is None:
        missing = "input" if values["input"] is None else "output"
        raise ValueError(f"{where}.{missing}: required")
    base = values["input"]
    return Price(
        base,
        values["output"],
        base if values["cached_input"] is None else values["cached_input"],
        base if values["cache_write"] is None else values["cache_write"],
    )


def _dollars(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{where}: expected a non-negative number of dollars per million tokens")
    return float(value)
