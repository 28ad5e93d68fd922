"""Output guardrails on one attempt's answer, and ``hook_results`` in what the client gets.

A whole (non-streamed) answer is always held: read, checked, then sent as 446 (a denying hook
failed: the answer is withheld), 246 (a hook failed without denying) or its own status, with
``hook_results`` added to its JSON. A stream meets its output hooks as their ``stream_mode`` says:

- ``hold`` (the default; any holding hook holds): nothing is sent until the stream is complete
  and its assembled answer (``cache/replay.py``) is checked; then the events go out (rebuilt from
  the transformed answer if a check changed it), or a 446 instead. The client's time to first
  token becomes the whole answer's time.
- ``report``: the stream goes out as it comes; at its end the assembled text is checked and one
  ``data: {"hook_results": ...}`` event goes out before ``[DONE]``. A denying hook cannot report.

Only 200 answers are checked (as in Portkey); others go out as they are.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web
from multidict import CIMultiDict

from gateway.cache.replay import json_from_stream, stream_from_json
from gateway.errors import UpstreamBroken
from gateway.guardrails.check import AFTER_REQUEST
from gateway.guardrails.runner import run_event

if TYPE_CHECKING:
    from gateway.guardrails.hooks import Guard
    from gateway.observability.record import RequestRecord
    from gateway.routing.target import Target
    from gateway.streaming.relay import Relay

__all__ = [
    "DENIED_MESSAGE",
    "attach",
    "checked",
    "denied_response",
    "discard",
    "finish",
]

DENIED_MESSAGE = (
    "The guardrail checks defined in the config failed. You can find more information in the "
    "`hook_results` object."
)
#: Status of an answer whose hooks failed without denying, and of a denied one (Portkey's).
FAILED_STATUS = 246
DENIED_STATUS = 446
#: The most of an answer held for checking: past it the answer is cut (a guard never sends what
#: it could not check).
MAX_HELD_BYTES = 16 * 1024 * 1024
#: What a reported stream keeps back so ``[DONE]`` can follow the hook_results event.
_HOLD_BACK = 64
_DONE = b"data: [DONE]"


class HeldResponse(web.StreamResponse):
    """Written to by a relay like any stream, but keeps everything: nothing reaches the client
    (:func:`finish` answers with a new response)."""

    def __init__(self, status: int, reason: str | None, headers: CIMultiDict[str]) -> None:
        super().__init__(status=status, reason=reason, headers=headers)
        self.held = bytearray()
        self._opened = False

    @property
    def prepared(self) -> bool:
        return self._opened

    async def prepare(self, request: web.BaseRequest) -> None:
        self._opened = True

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        if len(self.held) + len(data) > MAX_HELD_BYTES:
            raise UpstreamBroken(f"The answer is over {MAX_HELD_BYTES} bytes, too large to check.")
        self.held += data

    async def write_eof(self, data: bytes = b"") -> None:
        """Nothing to end: :func:`finish` sends the answer."""


class ReportingResponse(web.StreamResponse):
    """A stream sent as it comes but for its last bytes and its end, and kept whole for the
    checks: :meth:`end` adds the ``hook_results`` event before ``[DONE]``."""

    def __init__(self, status: int, reason: str | None, headers: CIMultiDict[str]) -> None:
        super().__init__(status=status, reason=reason, headers=headers)
        self.held = bytearray()
        self._pending = b""

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        if len(self.held) + len(data) > MAX_HELD_BYTES:
            raise UpstreamBroken(f"The answer is over {MAX_HELD_BYTES} bytes, too large to check.")
        self.held += data
        data = self._pending + bytes(data)
        cut = max(0, len(data) - _HOLD_BACK)
        self._pending = data[cut:]
        if cut:
            await super().write(data[:cut])

    async def write_eof(self, data: bytes = b"") -> None:
        """Deferred to :meth:`end`, once the checks ran."""

    async def end(self, event: bytes) -> None:
        pending = self._pending
        at = pending.rfind(_DONE)
        pending = pending[:at] + event + pending[at:] if at >= 0 else pending + event
        await super().write(pending)
        await super().write_eof()


def attach(guard: Guard, relay: Relay, target: Target, stream: bool) -> None:
    """Make ``relay`` write a body of open length where :func:`finish` can check it."""
    hooks = [hook for hook in guard.after_hooks(target) if not hook.run_async]
    hold = not stream or any(hook.stream_mode == "hold" for hook in hooks)
    failed = guard.failed

    def respond(status: int, reason: str | None, headers: CIMultiDict[str]) -> web.StreamResponse:
        if hold:
            return HeldResponse(status, reason, headers)
        # Reported: the status goes out now; the input hooks' failure is all it can say.
        headers["X-Accel-Buffering"] = "no"
        return ReportingResponse(FAILED_STATUS if failed and status == 200 else status, reason, headers)

    relay.respond = respond


def discard(relay: Relay) -> None:
    """A held answer that failed was never sent: the attempt fails as if uncommitted (an error
    status, a retry or a fallback), and the unchecked answer is never delivered."""
    if isinstance(relay.response, HeldResponse):
        relay.response = None


async def finish(guard: Guard, relay: Relay, target: Target, status: int, record: RequestRecord) -> None:
    """Run the output hooks on the relayed answer, put the client's answer in ``relay.response``
    and the hooks' verdict and time in ``record``."""
    assert relay.response is not None
    relay.response = await checked(guard, relay.response, target, status)
    guard.record(record)
    if relay.response is not None and relay.response.status in (FAILED_STATUS, DENIED_STATUS):
        record.status = relay.response.status


async def checked(
    guard: Guard, response: web.StreamResponse, target: Target, status: int
) -> web.StreamResponse:
    """The answer the client gets once ``target``'s output hooks ran on ``response`` (a relayed
    one, held or reported, or a cache HIT's): 446 without it, 246 or ``status`` with
    ``hook_results``. A reported stream is ended here and stays the response."""
    body = _body(response)
    if status != 200 or body is None:
        return await _unchecked(response, body)
    streamed = isinstance(response, ReportingResponse) or response.content_type == "text/event-stream"
    answer = _answer(body, streamed)
    context = dataclasses.replace(
        guard.context, event=AFTER_REQUEST, response_json=answer, response_status=status
    )
    hooks = guard.after_hooks(target)
    guard.background([hook for hook in hooks if hook.run_async], context)
    outcome = guard.after = await run_event([hook for hook in hooks if not hook.run_async], context)
    guard.timings += outcome.timings
    if isinstance(response, ReportingResponse):
        await response.end(_event(guard.results()))
        return response
    headers = CIMultiDict(response.headers)
    headers.popall("Content-Length", None)
    if outcome.denied:
        return denied_response(guard, headers)
    final = FAILED_STATUS if guard.failed else status
    if streamed:
        events = _events(body, context.response_json if outcome.transformed else None, guard)
        return web.Response(body=events, status=final, headers=headers)
    out = dict(context.response_json or answer or {})
    out["hook_results"] = guard.results()
    return web.Response(body=orjson.dumps(out), status=final, headers=headers)


def denied_response(guard: Guard, headers: CIMultiDict[str] | None = None) -> web.Response:
    """Portkey's 446: its error and the ``hook_results``, nothing of the withheld answer."""
    out = CIMultiDict(headers or {})
    out["Content-Type"] = "application/json"
    body = {
        "error": {"message": DENIED_MESSAGE, "type": "hooks_failed", "param": None, "code": None},
        "hook_results": guard.results(),
    }
    return web.Response(body=orjson.dumps(body), status=DENIED_STATUS, headers=out)


def _body(response: web.StreamResponse) -> bytes | None:
    if isinstance(response, HeldResponse | ReportingResponse):
        return bytes(response.held)
    if isinstance(response, web.Response) and isinstance(response.body, bytes):
        return response.body
    return None


async def _unchecked(response: web.StreamResponse, body: bytes | None) -> web.StreamResponse:
    """An answer the output hooks do not read: sent as it is."""
    if isinstance(response, ReportingResponse):
        await response.end(b"")
    elif isinstance(response, HeldResponse):
        headers = CIMultiDict(response.headers)
        headers.popall("Content-Length", None)
        return web.Response(body=body, status=response.status, reason=response.reason, headers=headers)
    return response


def _answer(body: bytes, streamed: bool) -> dict[str, Any] | None:
    """The answer's JSON (a stream's assembled); ``None`` when it has none (checks then see no text)."""
    raw = json_from_stream(body) if streamed else body
    try:
        parsed = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _events(body: bytes, transformed: dict[str, Any] | None, guard: Guard) -> bytes:
    """The held stream's events (rebuilt from a transformed answer), ``hook_results`` before ``[DONE]``."""
    if transformed is not None:
        body = stream_from_json(orjson.dumps(transformed), include_usage=True) or body
    at = body.rfind(_DONE)
    event = _event(guard.results())
    return body[:at] + event + body[at:] if at >= 0 else body + event


def _event(results: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps({"hook_results": results}) + b"\n\n"
