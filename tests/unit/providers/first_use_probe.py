"""An adapter factory for the registry's tests: it notes the thread that built each adapter."""

from __future__ import annotations

import threading

from gateway.providers.catalog import PROVIDERS
from gateway.providers.openai_compat import OpenAICompatible

#: The name of the thread each build ran in, in order.
BUILT_IN: list[str] = []


def provider() -> OpenAICompatible:
    BUILT_IN.append(threading.current_thread().name)
    return OpenAICompatible(PROVIDERS[0])
