"""One built-in guardrail check's pass or fail, as data the wire test runs through the gateway.

Each check module's cases live in ``tests/functional/guardrail_cases_*.py`` as ``CASES``; the wire
test (``test_guardrail_checks.py``) puts the check in a denying hook of a routing config, sends
``request`` to ``/v1/chat/completions`` (or the ``endpoint`` given) with the fake provider answering
``answer_text``, and expects 200 when the check passes and 446 when it fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class GuardrailCase:
    #: What the case shows, for the test id: ``regexMatch-fails-without-a-match``.
    name: str
    #: The check id (``default.regexMatch``) and its parameters.
    check: str
    parameters: dict[str, Any]
    #: ``"input"`` (before_request_hooks) or ``"output"`` (after_request_hooks).
    side: str
    #: Whether the check passes (200) or fails (446).
    passes: bool
    #: The request body; the model defaults to ``gpt-4o-mini`` and messages to one user message.
    request: dict[str, Any] = field(default_factory=dict)
    #: What the fake provider's chat answer says (its first choice's message content).
    answer_text: str = "Hello from the model."
    #: The endpoint under /v1 (``chat/completions``, ``completions``, ``embeddings``).
    endpoint: str = "chat/completions"
    #: Request headers to add (``x-portkey-metadata``, an ``Authorization`` for jwt).
    headers: dict[str, str] = field(default_factory=dict)
