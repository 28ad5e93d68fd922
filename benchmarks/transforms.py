"""``python -m benchmarks.transforms``: what each stream translation costs per chunk.

Feeds a provider-format stream to its translator one event per call (as events arrive from the
network) and reports the CPU time per event, next to the SSE splitter alone. A pass-through stream
costs none of this: its bytes are forwarded as read. Streams are built here in each provider's
documented format: text deltas of a few tokens each, and a tool call whose arguments arrive in
pieces. The inbound-format cases (``FORMAT_CASES``) start from the chat form a provider's
translation writes and measure the client format's side: each chat event parsed and translated.
The native cases (``NATIVE_CASES``) re-frame a provider's own carriage of the client's format:
Claude on Bedrock's InvokeModelWithResponseStream frames (each a base64 Anthropic event) as
Anthropic's SSE, as ``/v1/messages`` sends them on.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from gateway.formats.anthropic_messages import AnthropicMessages
from gateway.formats.base import InboundFormat
from gateway.formats.responses import ResponsesFormat
from gateway.providers.base import StreamTranslator
from gateway.providers.openai_format import ChunkWriter, usage
from gateway.streaming.reformat import FormatEvents
from gateway.streaming.sse import SseDecoder

#: A typical text delta: a few tokens.
WORDS = "The quick brown fox jumps over the lazy dog, again and again. "


def _sse(event: str, payload: object) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def anthropic_events(deltas: int) -> list[bytes]:
    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude", "content": []}
    events = [
        _sse(
            "message_start", {"type": "message_start", "message": {**message, "usage": {"input_tokens": 9}}}
        ),
        _sse(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}},
        ),
    ]
    for i in range(deltas):
        delta = {"type": "text_delta", "text": WORDS[i % 40 : i % 40 + 12]}
        events.append(
            _sse("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
        )
    events += [
        _sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn"},
                "usage": {"output_tokens": deltas},
            },
        ),
        _sse("message_stop", {"type": "message_stop"}),
    ]
    return events


def anthropic_tool_events(deltas: int) -> list[bytes]:
    start = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}
    events = anthropic_events(0)[:1]
    events.append(
        _sse("content_block_start", {"type": "content_block_start", "index": 0, "content_block": start})
    )
    for i in range(deltas):
        delta = {"type": "input_json_delta", "partial_json": f'"k{i}": "v", '}
        events.append(
            _sse("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
        )
    return events + anthropic_events(0)[-3:]


def gemini_events(deltas: int) -> list[bytes]:
    def event(payload: object) -> bytes:
        return b"data: " + orjson.dumps(payload) + b"\r\n\r\n"

    def candidate(text: str, **more: object) -> dict[str, object]:
        return {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0, **more}

    events = [event({"candidates": [candidate(WORDS[i % 40 : i % 40 + 12])]}) for i in range(deltas)]
    usage = {"promptTokenCount": 9, "candidatesTokenCount": deltas, "totalTokenCount": deltas + 9}
    last = {"candidates": [candidate("", finishReason="STOP")], "usageMetadata": usage}
    return [*events, event(last)]


def bedrock_events(deltas: int) -> list[bytes]:
    from gateway.streaming.eventstream import encode_frame

    def frame(kind: str, payload: object) -> bytes:
        headers = {":message-type": "event", ":event-type": kind, ":content-type": "application/json"}
        return encode_frame(headers, orjson.dumps(payload))

    padding = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKL"  # ConverseStream pads each payload (``p``)
    events = [frame("messageStart", {"role": "assistant", "p": padding})]
    for i in range(deltas):
        delta = {"text": WORDS[i % 40 : i % 40 + 12]}
        events.append(frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": delta, "p": padding}))
    usage = {"inputTokens": 9, "outputTokens": deltas, "totalTokens": deltas + 9}
    return [
        *events,
        frame("contentBlockStop", {"contentBlockIndex": 0, "p": padding}),
        frame("messageStop", {"stopReason": "end_turn", "p": padding}),
        frame("metadata", {"usage": usage, "metrics": {"latencyMs": 100}, "p": padding}),
    ]


def bedrock_invoke_events(deltas: int) -> list[bytes]:
    """Anthropic's events as InvokeModelWithResponseStream carries them: one ``chunk`` frame each,
    its payload ``{"bytes": <base64 of the event's JSON>, "p": <padding>}``."""
    from base64 import b64encode

    from gateway.streaming.eventstream import encode_frame

    headers = {":message-type": "event", ":event-type": "chunk", ":content-type": "application/json"}
    padding = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKL"
    frames = []
    for event in anthropic_events(deltas):
        data = event.split(b"\ndata: ", 1)[1].rstrip(b"\n")
        payload = {"bytes": b64encode(data).decode(), "p": padding}
        frames.append(encode_frame(headers, orjson.dumps(payload)))
    return frames


def cohere_events(deltas: int) -> list[bytes]:
    def event(kind: str, payload: dict[str, object]) -> bytes:
        return _sse(kind, {"type": kind, **payload})

    events = [
        event("message-start", {"id": "c1", "delta": {"message": {"role": "assistant"}}}),
        event("content-start", {"index": 0, "delta": {"message": {"content": {"type": "text", "text": ""}}}}),
    ]
    for i in range(deltas):
        content = {"text": WORDS[i % 40 : i % 40 + 12]}
        events.append(event("content-delta", {"index": 0, "delta": {"message": {"content": content}}}))
    tokens = {"input_tokens": 9, "output_tokens": deltas}
    end = {"delta": {"finish_reason": "COMPLETE", "usage": {"billed_units": tokens, "tokens": tokens}}}
    return [*events, event("content-end", {"index": 0}), event("message-end", end), b"data: [DONE]\n\n"]


def oracle_events(deltas: int) -> list[bytes]:
    """OCI Generative AI's GENERIC chat stream: data-only events, each one choice's delta; then the
    finish event and the usage event ``streamOptions.isIncludeUsage`` asks for."""

    def event(payload: object) -> bytes:
        return b"data: " + orjson.dumps(payload) + b"\n\n"

    def message(text: str) -> dict[str, object]:
        return {"role": "ASSISTANT", "content": [{"type": "TEXT", "text": text}]}

    events = [event({"index": 0, "message": message(WORDS[i % 40 : i % 40 + 12])}) for i in range(deltas)]
    counts = {"promptTokens": 9, "completionTokens": deltas, "totalTokens": deltas + 9}
    finish = {"index": 0, "message": {"role": "ASSISTANT"}, "finishReason": "stop"}
    return [*events, event(finish), event({"usage": counts})]


def triton_events(deltas: int) -> list[bytes]:
    """Triton's generate_stream: one ``data:`` object per piece of text, and no end event."""
    return [
        b"data: "
        + orjson.dumps(
            {"model_name": "ensemble", "model_version": "1", "text_output": WORDS[i % 40 : i % 40 + 12]}
        )
        + b"\n\n"
        for i in range(deltas)
    ]


def chat_events(deltas: int) -> list[bytes]:
    """The chat stream a translated provider's answer becomes: text deltas, usage, ``[DONE]``."""
    writer = ChunkWriter("claude", include_usage=True)
    events = [writer.role(), *(writer.text(WORDS[i % 40 : i % 40 + 12]) for i in range(deltas))]
    writer.usage = usage(9, deltas)
    return [*events, writer.finish("stop"), writer.close()]


def chat_tool_events(deltas: int) -> list[bytes]:
    writer = ChunkWriter("claude", include_usage=True)
    events = [writer.role(), writer.tool_start(0, "call_1", "get_weather")]
    events += [writer.tool_arguments(0, f'"k{i}": "v", ') for i in range(deltas)]
    writer.usage = usage(9, deltas)
    return [*events, writer.finish("tool_calls"), writer.close()]


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    events: Callable[[int], list[bytes]]
    translator: Callable[[], StreamTranslator]


def _anthropic() -> StreamTranslator:
    from gateway.providers.anthropic_answers import MessagesStream

    return MessagesStream("anthropic", "claude", include_usage=True)


def _gemini() -> StreamTranslator:
    from gateway.providers.gemini_answers import GenerateContentStream

    return GenerateContentStream("google", "gemini", include_usage=True)


def _bedrock() -> StreamTranslator:
    from gateway.providers.bedrock_answers import ConverseStream

    return ConverseStream("claude", include_usage=True)


def _cohere() -> StreamTranslator:
    from gateway.providers.cohere_answers import ChatStream

    return ChatStream("command", include_usage=True)


def _oracle() -> StreamTranslator:
    from gateway.providers.oracle_answers import ChatStream

    return ChatStream("meta.llama-3.3-70b-instruct", include_usage=True)


def _triton() -> StreamTranslator:
    from gateway.providers.triton_answers import GenerateStream

    return GenerateStream("ensemble", include_usage=True)


def _bedrock_invoke() -> StreamTranslator:
    from gateway.providers.bedrock_messages import InvokeStream

    return InvokeStream()


class ToFormat:
    """Chat events → a client format's events, as an inbound endpoint writes them for a chat
    provider: the SSE split, the JSON decode and the format's events (``streaming/reformat.py``);
    the whole per-event cost of ``/v1/messages`` or ``/v1/responses`` after the provider's own
    translation."""

    def __init__(self, format: InboundFormat, request: dict[str, object]) -> None:
        self._events = FormatEvents(format.stream(request))

    def feed(self, data: bytes) -> bytes:
        return self._events.feed(data)

    def end(self) -> bytes:
        return b""  # the stream's [DONE] ended it


class SplitterOnly:
    """The SSE splitter with nothing after it: the floor every SSE translation starts from."""

    usage = None

    def __init__(self) -> None:
        self._sse = SseDecoder()

    def feed(self, data: bytes) -> bytes:
        self._sse.feed(data)
        return b""

    def end(self) -> bytes:
        return b""


CASES = (
    Case("sse splitter only", anthropic_events, SplitterOnly),
    Case("anthropic text", anthropic_events, _anthropic),
    Case("anthropic tool arguments", anthropic_tool_events, _anthropic),
    Case("gemini text", gemini_events, _gemini),
    Case("bedrock text (eventstream)", bedrock_events, _bedrock),
    Case("cohere text", cohere_events, _cohere),
    Case("oracle text", oracle_events, _oracle),
)
#: Streams translated into ``/v1/completions`` chunks (``text_completion`` objects).
COMPLETION_CASES = (Case("triton text (generate_stream → completions)", triton_events, _triton),)
_MESSAGES_REQUEST: dict[str, object] = {"model": "gpt-4o-mini"}
_RESPONSES_REQUEST: dict[str, object] = {"model": "claude", "input": "Hi", "stream": True}
FORMAT_CASES = (
    Case(
        "chat → messages text",
        chat_events,
        functools.partial(ToFormat, AnthropicMessages(), _MESSAGES_REQUEST),
    ),
    Case(
        "chat → responses text",
        chat_events,
        functools.partial(ToFormat, ResponsesFormat(), _RESPONSES_REQUEST),
    ),
    Case(
        "chat → responses tool arguments",
        chat_tool_events,
        functools.partial(ToFormat, ResponsesFormat(), _RESPONSES_REQUEST),
    ),
)


NATIVE_CASES = (
    Case("bedrock messages (eventstream → anthropic sse)", bedrock_invoke_events, _bedrock_invoke),
)


def measure(case: Case, deltas: int, rounds: int) -> float:
    """µs per event of the fastest of ``rounds`` streams of ``deltas`` deltas each: on a shared,
    noisy machine the fastest run is the one least disturbed, and the most repeatable."""
    events = case.events(deltas)
    samples = []
    for _ in range(rounds):
        translator = case.translator()
        started = time.perf_counter_ns()
        for event in events:
            translator.feed(event)
        translator.end()
        samples.append((time.perf_counter_ns() - started) / len(events) / 1000)
    return min(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--deltas", type=int, default=500, help="text deltas per stream")
    parser.add_argument("--rounds", type=int, default=40, help="streams per case (the fastest is reported)")
    args = parser.parse_args(argv)
    print(f"| stream transform | µs per event (best of {args.rounds} streams of {args.deltas} events) |")
    print("|---|---|")
    for case in CASES + COMPLETION_CASES + FORMAT_CASES + NATIVE_CASES:
        print(f"| {case.name} | {measure(case, args.deltas, args.rounds):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
