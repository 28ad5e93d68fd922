"""gateway/streaming/sse.py: whole events out of reads that may end anywhere."""

from __future__ import annotations

import pytest

from gateway.streaming.sse import SseDecoder, SseEvent

#: An Anthropic-like stream: named events, a comment, JSON padded with spaces, a multi-line event.
LF = (
    b": keep-alive\n"
    b"event: message_start\n"
    b'data: {"type":"message_start"}    \n'
    b"\n"
    b"data: first line\n"
    b"data:second line\n"
    b"data:  two spaces\n"
    b"\n"
    b"event: ping\n"
    b"data: {}\n"
    b"\n"
)
EXPECTED = [
    SseEvent(b"message_start", b'{"type":"message_start"}    '),
    SseEvent(b"", b"first line\nsecond line\n two spaces"),
    SseEvent(b"ping", b"{}"),
]
ENDINGS = {"lf": LF, "crlf": LF.replace(b"\n", b"\r\n"), "cr": LF.replace(b"\n", b"\r")}


def decode(*reads: bytes) -> tuple[list[SseEvent], SseDecoder]:
    decoder = SseDecoder()
    events = [event for data in reads for event in decoder.feed(data)]
    return events, decoder


@pytest.mark.parametrize("body", ENDINGS.values(), ids=ENDINGS.keys())
def test_events_are_the_same_whatever_the_line_endings(body: bytes) -> None:
    events, decoder = decode(body)
    assert events == EXPECTED
    assert not decoder.pending


@pytest.mark.parametrize("body", ENDINGS.values(), ids=ENDINGS.keys())
def test_a_read_split_at_any_byte_gives_the_same_events(body: bytes) -> None:
    for cut in range(len(body) + 1):
        events, decoder = decode(body[:cut], body[cut:])
        assert events == EXPECTED, cut
        assert not decoder.pending, cut


@pytest.mark.parametrize("body", ENDINGS.values(), ids=ENDINGS.keys())
def test_byte_by_byte_reads_give_the_same_events(body: bytes) -> None:
    events, _ = decode(*(body[i : i + 1] for i in range(len(body))))
    assert events == EXPECTED


def test_crlf_split_between_cr_and_lf_is_one_line_ending() -> None:
    decoder = SseDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\n\r") == [SseEvent(b"", b"a")]  # CRLF, then the blank line's CR
    assert decoder.feed(b"\ndata: b\r\n\r\n") == [SseEvent(b"", b"b")]  # that CR's LF: no second blank line
    assert not decoder.pending


def test_a_lone_cr_at_the_end_of_a_read_still_ends_its_line() -> None:
    decoder = SseDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\r") == [SseEvent(b"", b"a")]
    assert decoder.feed(b"data: b\r\r") == [SseEvent(b"", b"b")]


def test_events_of_one_read_come_out_in_order() -> None:
    body = b"".join(b"event: e%d\ndata: %d\n\n" % (i, i) for i in range(5))
    assert decode(body)[0] == [SseEvent(b"e%d" % i, b"%d" % i) for i in range(5)]


def test_comments_and_unknown_fields_are_ignored() -> None:
    body = b": ping\n:\nid: 7\nretry: 100\nfoo: bar\ndata: x\n\n: trailing comment\n\n"
    events, decoder = decode(body)
    assert events == [SseEvent(b"", b"x")]
    assert not decoder.pending


def test_a_field_without_a_colon_and_an_empty_data_line() -> None:
    assert decode(b"data\n\n")[0] == [SseEvent(b"", b"")]
    assert decode(b"data:\ndata:\n\n")[0] == [SseEvent(b"", b"\n")]


def test_an_event_without_data_is_not_dispatched() -> None:
    # WHATWG: a block with an empty data buffer dispatches nothing, its event name included.
    events, decoder = decode(b"event: ping\n\ndata: x\n\n")
    assert events == [SseEvent(b"", b"x")]
    assert not decoder.pending


def test_bytes_are_kept_as_sent() -> None:
    data = '{"text":"été ✓"}'.encode()
    assert decode(b"data: " + data + b"\n\n")[0] == [SseEvent(b"", data)]


@pytest.mark.parametrize(
    "cut",
    [b"event: message_stop\n", b'data: {"type":"mess', b"data: {}\n", b"event: x\ndata: {}\n"],
    ids=["event_line", "mid_data", "data_line", "no_blank_line"],
)
def test_pending_tells_an_event_was_cut(cut: bytes) -> None:
    events, decoder = decode(b"data: whole\n\n", cut)
    assert events == [SseEvent(b"", b"whole")]
    assert decoder.pending


def test_nothing_is_pending_between_events_or_after_blank_lines() -> None:
    assert not decode(b"data: whole\n\n")[1].pending
    assert not decode(b"data: whole\n\n\n\n")[1].pending
    assert not decode(b"")[1].pending
