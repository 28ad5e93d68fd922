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

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from gateway.errors import GatewayError
from gateway.guardrails.check import (
    AFTER_REQUEST,
    BEFORE_REQUEST,
    CheckParametersError,
    CheckResult,
    CheckSpec,
    HookContext,
)
from gateway.guardrails.text import text_of
from gateway.upstream.hostguard import check_custom_host

__all__ = [
    "MAX_ANSWER_BYTES",
    "SPECS",
]

#: The largest webhook answer read.
MAX_ANSWER_BYTES = 64 * 1024
DEFAULT_TIMEOUT_MS = 3000
_MAX_HEADERS = 32


@dataclass(frozen=True, slots=True)
class Webhook:
    url: str
    headers: Mapping[str, str]
    timeout: float
    fail_open: bool


def prepare(parameters: Mapping[str, Any]) -> Webhook:
    url = parameters.get("webhookURL")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise CheckParametersError("webhookURL", "expected an http(s) URL")
    timeout = parameters.get("timeout", DEFAULT_TIMEOUT_MS)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 600_000:
        raise CheckParametersError("timeout", "expected milliseconds from 1 to 600000")
    fail_open = parameters.get("fail_open", False)
    if not isinstance(fail_open, bool):
        raise CheckParametersError("fail_open", "expected true or false")
    return Webhook(url, _headers(parameters.get("headers")), timeout / 1000, fail_open)


def _headers(raw: Any) -> Mapping[str, str]:
    if isinstance(raw, str):
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise CheckParametersError("headers", "expected an object or its JSON text") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict) or len(raw) > _MAX_HEADERS:
        raise CheckParametersError("headers", f"expected an object of at most {_MAX_HEADERS} headers")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
        raise CheckParametersError("headers", "expected string names and values")
    return dict(raw)


async def run(context: HookContext, hook: Webhook) -> CheckResult:
    services = context.services
    if services is None:
        return _failed(hook, "the webhook check has no session to call out with")
    try:
        url = check_custom_host(hook.url, services.host_policy, "webhookURL", "webhookURL")
        answer = await _call(services.session, url, hook, _body(context), min(hook.timeout, services.timeout))
    except GatewayError:
        return _failed(hook, "the webhook URL is refused by the host policy")
    except TimeoutError:
        return _failed(hook, "the webhook did not answer in time")
    except (aiohttp.ClientError, OSError):
        return _failed(hook, "the webhook could not be reached")
    if answer is None:
        return _failed(hook, "the webhook's answer is not a JSON object with a boolean verdict")
    return _result(context, answer)


async def _call(
    session: aiohttp.ClientSession, url: str, hook: Webhook, body: bytes, seconds: float
) -> dict[str, Any] | None:
    async with asyncio.timeout(seconds):
        async with session.post(
            url,
            data=body,
            headers={**hook.headers, "Content-Type": "application/json"},
            allow_redirects=False,
        ) as response:
            if not 200 <= response.status < 300:
                return None
            raw = await response.content.read(MAX_ANSWER_BYTES + 1)
    if len(raw) > MAX_ANSWER_BYTES:
        return None
    try:
        answer = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(answer, dict) or not isinstance(answer.get("verdict"), bool):
        return None
    return answer


def _body(context: HookContext) -> bytes:
    """Portkey's webhook body; the request's headers are never sent."""
    return orjson.dumps(
        {
            "request": {"json": context.request_json, "text": _text(context, BEFORE_REQUEST)},
            "response": {
                "json": context.response_json or {},
                "text": _text(context, AFTER_REQUEST) if context.response_json is not None else "",
                "statusCode": context.response_status,
            },
            "provider": context.provider,
            "requestType": context.request_type,
            "metadata": dict(context.metadata),
            "eventType": context.event,
        }
    )


def _text(context: HookContext, event: str) -> str:
    if context.event == event:
        return text_of(context)
    view = HookContext(event, context.request_type, context.provider, context.metadata, context.request_json)
    return text_of(view)


def _result(context: HookContext, answer: dict[str, Any]) -> CheckResult:
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
