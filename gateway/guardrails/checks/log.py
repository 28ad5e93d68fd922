"""``default.log``: post the exchange to an operator's collector (Portkey's log plugin).

Parameters: ``logURL`` (required), ``headers`` (an object, or its JSON text), ``timeout``
(milliseconds, default 3000, never past ``[guardrails] webhook_timeout``).

The collector gets the same body as a webhook (``callout.exchange_body``: never the caller's
headers), through the same SSRF guard and session. The check always passes (Portkey's verdict
``true``): logging is not a judgement. A post that failed (a refused URL, a timeout, a status other
than 2xx, a body over 1 MiB, which is not sent) is reported in ``error`` and ``data.explanation``.
Runs on both events (Portkey's manifest lists ``afterRequest`` for its UI; its runtime runs it on
either).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.guardrails.check import CheckResult, CheckSpec, HookContext
from gateway.guardrails.checks.callout import CalloutFailed, Endpoint, exchange_body, post, prepare_endpoint

__all__ = [
    "MAX_LOG_BYTES",
    "SPECS",
]

#: The largest body posted: an exchange past it (a long conversation, a big answer) is not logged.
MAX_LOG_BYTES = 1024 * 1024
#: The collector's answer is not used, only its status.
_ANSWER_BYTES = 0


def prepare(parameters: Mapping[str, Any]) -> Endpoint:
    return prepare_endpoint(parameters, "logURL")


async def run(context: HookContext, endpoint: Endpoint) -> CheckResult:
    body = exchange_body(context)
    if len(body) > MAX_LOG_BYTES:
        return _not_logged(f"the exchange is {len(body)} bytes; at most {MAX_LOG_BYTES} are posted")
    try:
        status, _ = await post(context, endpoint, body, _ANSWER_BYTES)
    except CalloutFailed as failure:
        return _not_logged(str(failure))
    if not 200 <= status < 300:
        return _not_logged(f"the logURL answered {status}")
    return CheckResult(verdict=True, data={"message": "Logged the request to the logURL"})


def _not_logged(error: str) -> CheckResult:
    return CheckResult(verdict=True, data={"explanation": error}, error=error)


SPECS = (CheckSpec(id="default.log", prepare=prepare, run_async=run),)
