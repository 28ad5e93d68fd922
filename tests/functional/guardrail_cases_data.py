"""Pass and fail cases of the request and data checks, run through the gateway by the wire test."""

from __future__ import annotations

import orjson

from tests.functional.guardrail_case import GuardrailCase

NAME_SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
RULES = {"defaults": ["o1"], "metadata": {"team": {"research": ["gpt-4o-mini"]}}}


def metadata(**values: str) -> dict[str, str]:
    return {"x-portkey-metadata": orjson.dumps(values).decode()}


CASES = [
    GuardrailCase(
        "jsonSchema-passes-a-fenced-answer-the-schema-accepts",
        "default.jsonSchema",
        {"schema": NAME_SCHEMA},
        "output",
        True,
        answer_text='```json\n{"name": "Ada"}\n```',
    ),
    GuardrailCase(
        "jsonSchema-fails-an-answer-without-json",
        "default.jsonSchema",
        {"schema": NAME_SCHEMA},
        "output",
        False,
        answer_text="Hello from the model.",
    ),
    GuardrailCase(
        "jsonKeys-passes-when-all-keys-are-there",
        "default.jsonKeys",
        {"keys": ["name", "age"], "operator": "all"},
        "output",
        True,
        answer_text='Here you go: {"name": "Ada", "age": 36}',
    ),
    GuardrailCase(
        "jsonKeys-fails-when-a-key-is-missing",
        "default.jsonKeys",
        {"keys": ["name", "age"], "operator": "all"},
        "output",
        False,
        answer_text='Here you go: {"name": "Ada"}',
    ),
    GuardrailCase(
        "modelwhitelist-passes-a-listed-model",
        "default.modelwhitelist",
        {"models": ["gpt-4o-mini"]},
        "input",
        True,
        request={"model": "gpt-4o-mini"},
    ),
    GuardrailCase(
        "modelwhitelist-fails-a-model-not-listed",
        "default.modelwhitelist",
        {"models": ["o1"]},
        "input",
        False,
        request={"model": "gpt-4o-mini"},
    ),
    GuardrailCase(
        "modelRules-passes-the-model-the-metadata-allows",
        "default.modelRules",
        {"rules": RULES},
        "input",
        True,
        request={"model": "gpt-4o-mini"},
        headers=metadata(team="research"),
    ),
    GuardrailCase(
        "modelRules-fails-a-model-outside-the-defaults",
        "default.modelRules",
        {"rules": RULES},
        "input",
        False,
        request={"model": "gpt-4o-mini"},
    ),
    GuardrailCase(
        "allowedRequestTypes-passes-an-allowed-chat-request",
        "default.allowedRequestTypes",
        {"allowedTypes": ["chatComplete"]},
        "input",
        True,
    ),
    GuardrailCase(
        "allowedRequestTypes-fails-a-blocked-chat-request",
        "default.allowedRequestTypes",
        {"blockedTypes": ["chatComplete"]},
        "input",
        False,
    ),
    GuardrailCase(
        "requiredMetadataKeys-passes-with-the-keys",
        "default.requiredMetadataKeys",
        {"metadataKeys": ["team"], "operator": "all"},
        "input",
        True,
        headers=metadata(team="research"),
    ),
    GuardrailCase(
        "requiredMetadataKeys-fails-without-the-keys",
        "default.requiredMetadataKeys",
        {"metadataKeys": ["team"], "operator": "all"},
        "input",
        False,
    ),
    GuardrailCase(
        "pii-passes-a-request-without-personal-data",
        "gateway.pii",
        {"categories": ["EMAIL_ADDRESS", "CREDIT_CARD"]},
        "input",
        True,
        request={"messages": [{"role": "user", "content": "What is the capital of France?"}]},
    ),
    GuardrailCase(
        "pii-fails-a-request-with-a-card-number",
        "gateway.pii",
        {"categories": ["EMAIL_ADDRESS", "CREDIT_CARD"]},
        "input",
        False,
        request={"messages": [{"role": "user", "content": "Charge 4111 1111 1111 1111 please."}]},
    ),
    GuardrailCase(
        "pii-fails-an-answer-with-an-email-address",
        "gateway.pii",
        {},
        "output",
        False,
        answer_text="Write to ada@example.com.",
    ),
]
