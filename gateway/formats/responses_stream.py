"""A streamed chat answer as the Responses API's event stream, chunk by chunk.

The first chunk opens the response (``response.created``, ``response.in_progress``). Each run of
one kind of delta is one output item, opened when it starts and closed when another starts or
the choice finishes, as OpenAI streams them: ``reasoning_content`` a reasoning item (its summary
text), ``content`` a message item with one ``output_text`` part, each tool call (by its chat
``index``) a ``function_call`` item with its argument deltas. Every event carries the next
``sequence_number``; item events carry their ``output_index`` and ``item_id`` (and
``content_index`` / ``summary_index``). The terminal event waits for :meth:`end`, since a chat
stream's usage comes after its finish reason: ``response.completed``, ``response.incomplete``
(finish reason ``length`` or ``content_filter``), or ``response.failed`` when the stream failed
or ended before a finish reason (a cut stream never looks complete).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from gateway.errors import UpstreamBroken
from gateway.formats import responses_output as out

__all__ = [
    "ResponsesStream",
]

_MESSAGE, _CALL, _REASONING = "message", "function_call", "reasoning"
#: Each kind of item's delta event and the field that locates the delta inside the item.
_DELTAS = {
    _MESSAGE: (b"response.output_text.delta", b',"content_index":0,"logprobs":[]'),
    _CALL: (b"response.function_call_arguments.delta", b""),
    _REASONING: (b"response.reasoning_summary_text.delta", b',"summary_index":0'),
}
#: A failed Response's ``error.code`` is one of OpenAI's listed codes (the SDK accepts no other):
#: a provider's rate limit keeps its meaning, anything else is a server error.
_RATE_LIMITED = frozenset({"rate_limit_error", "rate_limit_exceeded"})


@dataclass(slots=True)
class _Item:
    kind: str
    index: int
    id: str
    #: The encoded start of each delta event: everything but the delta and the sequence number.
    delta_head: bytes
    pieces: list[str] = field(default_factory=list)
    call_id: str = ""
    name: str = ""
    #: Set when the item closes: ``completed``, or ``incomplete`` for text cut by the finish.
    status: str = ""


class ResponsesStream:
    """One streamed answer's translator (a :class:`~gateway.formats.base.FormatStream`).

    ``feed`` raises :class:`UpstreamBroken` for a chat stream the Responses stream cannot express:
    an argument delta for a tool call whose item was already closed (calls interleaved).
    """

    __slots__ = ("_calls", "_finish", "_items", "_open", "_request", "_response", "_sequence", "_usage")

    def __init__(self, request: Mapping[str, Any]) -> None:
        self._request = request
        self._sequence = 0
        self._response: dict[str, Any] | None = None
        self._items: list[_Item] = []
        self._open: _Item | None = None
        self._calls: dict[int, _Item] = {}
        self._finish: str | None = None
        self._usage: dict[str, Any] | None = None

    def feed(self, chunk: dict[str, Any]) -> bytes:
        events = [] if self._response is not None else self._start(chunk)
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        for choice in chunk.get("choices") or ():  # one: the chat request asks for n=1
            delta = choice.get("delta") or {}
            if delta.get("reasoning_content"):
                events += self._delta(_REASONING, delta["reasoning_content"])
            if delta.get("content"):
                events += self._delta(_MESSAGE, delta["content"])
            for call in delta.get("tool_calls") or ():
                events += self._tool_call(call)
            if choice.get("finish_reason"):
                events += self._finished(choice["finish_reason"])
        return b"".join(events)

    def end(self, error: dict[str, Any] | None = None) -> bytes:
        """The terminal event. ``error``: an OpenAI error body (``{"error": {...}}``) that ended
        the stream; the response then fails with its message."""
        events = [] if self._response is not None else self._start({})
        response = self._response
        assert response is not None
        if error is None and self._finish is None:
            error = {"error": {"message": "The provider's stream ended before the answer was complete."}}
        if error is not None:
            return b"".join(events) + self._failed(response, error.get("error") or error)
        events += self._close()
        status, details = out.status_of(self._finish)
        response.update(status=status, incomplete_details=details, usage=out.usage_of(self._usage))
        response["output"] = [self._done_item(item) for item in self._items]
        kind = "response.completed" if status == "completed" else "response.incomplete"
        events.append(self._event(kind, {"response": response}))
        return b"".join(events)

    # --- opening and deltas ----------------------------------------------------------------------

    def _start(self, chunk: Mapping[str, Any]) -> list[bytes]:
        created = chunk.get("created") or int(time.time())
        model = chunk.get("model") or self._request.get("model") or ""
        self._response = out.envelope(self._request, out.new_id("resp_"), created, model, "in_progress")
        return [
            self._event("response.created", {"response": self._response}),
            self._event("response.in_progress", {"response": self._response}),
        ]

    def _delta(self, kind: str, text: str) -> list[bytes]:
        item = self._open
        events = []
        if item is None or item.kind != kind:
            events = self._close()
            item = self._open_item(kind)
            events += self._added(item)
        item.pieces.append(text)
        events.append(self._delta_event(item, text))
        return events

    def _tool_call(self, call: Mapping[str, Any]) -> list[bytes]:
        index = call.get("index", 0)
        function = call.get("function") or {}
        item = self._calls.get(index)
        events = []
        if item is None:
            events = self._close()
            item = self._open_item(_CALL)
            item.call_id = call.get("id") or out.new_id("call_")
            item.name = function.get("name") or ""
            self._calls[index] = item
            events += self._added(item)
        elif item.status:
            raise UpstreamBroken(
                "The provider interleaved tool calls, which a Responses stream cannot carry."
            )
        arguments = function.get("arguments")
        if arguments:
            item.pieces.append(arguments)
            events.append(self._delta_event(item, arguments))
        return events

    def _finished(self, reason: str) -> list[bytes]:
        self._finish = reason
        if self._items:
            return self._close()
        # An answer with no content at all is still one (empty) message, as a JSON answer has.
        item = self._open_item(_MESSAGE)
        return self._added(item) + self._close()

    def _open_item(self, kind: str) -> _Item:
        index = len(self._items)
        item_id = out.new_id({_MESSAGE: "msg_", _CALL: "fc_", _REASONING: "rs_"}[kind])
        name, located = _DELTAS[kind]
        head = (
            b"event: "
            + name
            + b'\ndata: {"type":"'
            + name
            + b'","item_id":"'
            + item_id.encode()
            + b'","output_index":'
            + str(index).encode()
            + located
            + b',"delta":'
        )
        item = _Item(kind, index, item_id, head)
        self._items.append(item)
        self._open = item
        return item

    def _added(self, item: _Item) -> list[bytes]:
        at = {"item_id": item.id, "output_index": item.index}
        added = [
            self._event(
                "response.output_item.added", {"output_index": item.index, "item": self._in_progress(item)}
            )
        ]
        if item.kind == _MESSAGE:
            added.append(
                self._event(
                    "response.content_part.added", {**at, "content_index": 0, "part": out.text_part("")}
                )
            )
        elif item.kind == _REASONING:
            part = {"type": "summary_text", "text": ""}
            added.append(
                self._event("response.reasoning_summary_part.added", {**at, "summary_index": 0, "part": part})
            )
        return added

    # --- closing ------------------------------------------------------------------------------

    def _close(self) -> list[bytes]:
        """The done events of the open item, if any."""
        item = self._open
        if item is None:
            return []
        self._open = None
        finished = item.kind != _MESSAGE or out.status_of(self._finish)[0] == "completed"
        item.status = "completed" if finished else "incomplete"
        text = "".join(item.pieces)
        at = {"item_id": item.id, "output_index": item.index}
        if item.kind == _MESSAGE:
            events = [
                self._event(
                    "response.output_text.done", {**at, "content_index": 0, "text": text, "logprobs": []}
                ),
                self._event(
                    "response.content_part.done", {**at, "content_index": 0, "part": out.text_part(text)}
                ),
            ]
        elif item.kind == _CALL:
            done = {**at, "name": item.name, "arguments": text}
            events = [self._event("response.function_call_arguments.done", done)]
        else:
            part = {"type": "summary_text", "text": text}
            events = [
                self._event("response.reasoning_summary_text.done", {**at, "summary_index": 0, "text": text}),
                self._event("response.reasoning_summary_part.done", {**at, "summary_index": 0, "part": part}),
            ]
        done_item = {"output_index": item.index, "item": self._done_item(item)}
        events.append(self._event("response.output_item.done", done_item))
        return events

    def _failed(self, response: dict[str, Any], error: Mapping[str, Any]) -> bytes:
        message = str(error.get("message") or "The provider's stream failed.")
        limited = error.get("type") in _RATE_LIMITED or error.get("code") in _RATE_LIMITED
        code = "rate_limit_exceeded" if limited else "server_error"
        response.update(status="failed", error={"code": code, "message": message, "type": error.get("type")})
        response["output"] = [self._done_item(item) for item in self._items if item.status]
        in_band = {"code": error.get("code"), "message": message, "param": error.get("param")}
        return self._event("error", in_band) + self._event("response.failed", {"response": response})

    # --- items and events -------------------------------------------------------------------------

    def _in_progress(self, item: _Item) -> dict[str, Any]:
        if item.kind == _MESSAGE:
            return out.message_item(item.id, "in_progress", [])
        if item.kind == _CALL:
            return out.function_call_item(item.id, "in_progress", item.call_id, item.name, "")
        return out.reasoning_item(item.id, None)

    def _done_item(self, item: _Item) -> dict[str, Any]:
        text = "".join(item.pieces)
        if item.kind == _MESSAGE:
            return out.message_item(item.id, item.status, [out.text_part(text)])
        if item.kind == _CALL:
            return out.function_call_item(item.id, item.status, item.call_id, item.name, text)
        return out.reasoning_item(item.id, text)

    def _event(self, kind: str, fields: Mapping[str, Any]) -> bytes:
        payload = {"type": kind, **fields, "sequence_number": self._sequence}
        self._sequence += 1
        return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"

    def _delta_event(self, item: _Item, delta: str) -> bytes:
        """The hot path: one delta, with the rest of the event encoded once per item."""
        sequence = self._sequence
        self._sequence += 1
        return (
            item.delta_head + orjson.dumps(delta) + b',"sequence_number":' + str(sequence).encode() + b"}\n\n"
        )
