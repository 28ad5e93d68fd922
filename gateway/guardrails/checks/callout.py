"""What the checks that post the exchange to an operator's URL share (``webhook``, ``log``).

- :func:`prepare_endpoint` reads the URL parameter (its name is the check's: ``webhookURL``,
  ``logURL``), ``headers`` (an object, or its JSON text) and ``timeout`` (ms, default 3000).
- :func:`exchange_body` is Portkey's plugin context as JSON: the request (``json``, ``text``), the
  response (after the model), ``provider``, ``requestType``, ``metadata``, ``eventType``. The
  caller's request headers are never in it: they hold credentials.
- :func:`post` sends it: the URL passes the same SSRF guard as custom hosts, when called (its
  shape and host) and when dialled (every address, by the upstream session); no redirect is
  followed; the call is bounded by the check's timeout and the settings' ``webhook_timeout``.
  Failures raise :class:`CalloutFailed` with a message that never repeats the URL (it may hold a
  password or a token).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from gateway.errors import GatewayError
from gateway.guardrails.check import AFTER_REQUEST, BEFORE_REQUEST, CheckParametersError, HookContext
from gateway.guardrails.text import text_of
from gateway.upstream.hostguard import check_custom_host

__all__ = [
    "DEFAULT_TIMEOUT_MS",
    "CalloutFailed",
    "Endpoint",
    "exchange_body",
    "post",
    "prepare_endpoint",
]

DEFAULT_TIMEOUT_MS = 3000
_MAX_HEADERS = 32


class CalloutFailed(Exception):
    """The call did not give an answer; ``str()`` says why, without the URL."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    url: str
    #: The parameter naming the URL, for messages (``webhookURL``).
    param: str
    headers: Mapping[str, str]
    #: Seconds.
    timeout: float


def prepare_endpoint(parameters: Mapping[str, Any], url_param: str) -> Endpoint:
    url = parameters.get(url_param)
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise CheckParametersError(url_param, "expected an http(s) URL")
    timeout = parameters.get("timeout", DEFAULT_TIMEOUT_MS)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 600_000:
        raise CheckParametersError("timeout", "expected milliseconds from 1 to 600000")
    return Endpoint(url, url_param, _headers(parameters.get("headers")), timeout / 1000)


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


async def post(context: HookContext, endpoint: Endpoint, body: bytes, max_answer: int) -> tuple[int, bytes]:
    """POST ``body`` to ``endpoint``; its status and at most ``max_answer + 1`` bytes of its answer
    (more than ``max_answer`` tells the caller it was too long)."""
    services = context.services
    if services is None:
        raise CalloutFailed(f"the {endpoint.param} check has no session to call out with")
    try:
        url = check_custom_host(endpoint.url, services.host_policy, endpoint.param, endpoint.param)
        async with (
            asyncio.timeout(min(endpoint.timeout, services.timeout)),
            services.session.post(
                url,
                data=body,
                headers={**endpoint.headers, "Content-Type": "application/json"},
                allow_redirects=False,
            ) as response,
        ):
            return response.status, await response.content.read(max_answer + 1)
    except GatewayError:
        raise CalloutFailed(f"the {endpoint.param} is refused by the host policy") from None
    except TimeoutError:
        raise CalloutFailed(f"the {endpoint.param} did not answer in time") from None
    except (aiohttp.ClientError, OSError):
        raise CalloutFailed(f"the {endpoint.param} could not be reached") from None


def exchange_body(context: HookContext) -> bytes:
    """Portkey's plugin context, as webhooks and log collectors get it; never the request's headers."""
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
