"""``default.webhook``: the operator's URL decides (Portkey's webhook plugin).

Parameters: ``webhookURL`` (required), ``headers`` (an object, or its JSON text), ``timeout``
(milliseconds, default 3000, never past ``[guardrails] webhook_timeout``), and ``fail_open``
(this gateway's: when the call fails, pass instead of failing; the default fails closed).

The webhook gets a POST of Portkey's body: the request (``json``, ``text``; never its headers,
which hold credentials), the response (after the model), ``provider``, ``requestType``,
``metadata`` and ``eventType``. It answers ``{"verdict": bool, "data"?: any, "transformedData"?:
{"request": {"json"}, "response": {"json"}}}``. The URL passes the same SSRF guard as custom
hosts, when parsed (its shape and host) and when dialled (every address); no redirect is followed.
A refused URL, a timeout, a status other than 2xx, an answer over 64 KiB or one that is not such
JSON sets ``error``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.guardrails.check import BEFORE_REQUEST, CheckParametersError, CheckResult, CheckSpec, HookContext
from gateway.guardrails.checks.callout import CalloutFailed, Endpoint, exchange_body, post, prepare_endpoint

__all__ = [
    "MAX_ANSWER_BYTES",
    "SPECS",
    "answer_result",
    "parse_answer",
]

#: The largest webhook answer read.
MAX_ANSWER_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Webhook:
    endpoint: Endpoint
    fail_open: bool


def prepare(parameters: Mapping[str, Any]) -> Webhook:
    fail_open = parameters.get("fail_open", False)
    if not isinstance(fail_open, bool):
        raise CheckParametersError("fail_open", "expected true or false")
    return Webhook(prepare_endpoint(parameters, "webhookURL"), fail_open)


async def run(context: HookContext, hook: Webhook) -> CheckResult:
    try:
        status, raw = await post(context, hook.endpoint, exchange_body(context), MAX_ANSWER_BYTES)
    except CalloutFailed as failure:
        return _failed(hook, str(failure))
    answer = parse_answer(status, raw)
    if answer is None:
        return _failed(hook, "the webhook's answer is not a JSON object with a boolean verdict")
    return answer_result(context, answer)


def parse_answer(status: int, raw: bytes) -> dict[str, Any] | None:
    """The webhook's answer, or ``None`` when it is not a 2xx JSON object of at most
    :data:`MAX_ANSWER_BYTES` with a boolean ``verdict``."""
    if not 200 <= status < 300 or len(raw) > MAX_ANSWER_BYTES:
        return None
    try:
        answer = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(answer, dict) or not isinstance(answer.get("verdict"), bool):
        return None
    return answer


def answer_result(context: HookContext, answer: dict[str, Any]) -> CheckResult:
    """The check's result from a parsed answer: its verdict and data, and the ``transformedData``
    part of this event (``request`` before the model, ``response`` after) when it is an object."""
    result = CheckResult(verdict=answer["verdict"], data=answer.get("data"))
    transformed = answer.get("transformedData")
    if isinstance(transformed, dict):
        part = transformed.get("request" if context.event == BEFORE_REQUEST else "response")
        json = part.get("json") if isinstance(part, dict) else None
        if isinstance(json, dict):
            if context.event == BEFORE_REQUEST:
                result.transformed_request = json
            else:
                result.transformed_response = json
    return result


def _failed(hook: Webhook, error: str) -> CheckResult:
    """A call that failed: closed (verdict False) unless the check says ``fail_open``."""
    return CheckResult(verdict=hook.fail_open, data={"explanation": error}, error=error)


SPECS = (CheckSpec(id="default.webhook", prepare=prepare, run_async=run),)
