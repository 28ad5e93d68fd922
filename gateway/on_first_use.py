"""What a default gateway does not hold until a request asks for it, named ``"module:attribute"``
and imported on first use: an idle gateway then holds only the modules every request needs
(docs/benchmarks.md, "Memory"). The provider and guardrail registries, the routes of the
endpoint families most gateways never serve and the cloud credential exchanges use it."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "load",
]


def load(ref: str) -> Any:
    """The attribute ``ref`` names (``"gateway.providers.bedrock:provider"``), importing its
    module the first time; ``"module"`` alone is the module. An unknown name is an ImportError
    or AttributeError: refs are the gateway's own constants, never a caller's value."""
    module, _, name = ref.partition(":")
    loaded = importlib.import_module(module)
    return getattr(loaded, name) if name else loaded
