"""The ``application/vnd.amazon.eventstream`` decoder: cut points, corruption, real recordings."""

from __future__ import annotations

import json
import struct
import uuid
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.streaming.eventstream import MAX_FRAME, EventStreamDecoder, EventStreamError, Frame, encode_frame

EVENT = {":event-type": "contentBlockDelta", ":content-type": "application/json", ":message-type": "event"}
STREAM = b"".join(
    (
        encode_frame({**EVENT, ":event-type": "messageStart"}, b'{"role":"assistant"}'),
        encode_frame(EVENT, b'{"contentBlockIndex":0,"delta":{"text":"Hi \xc3\xa9"}}'),
        encode_frame({":message-type": "event", ":event-type": "messageStop"}, b""),
    )
)


def frame_around(header_block: bytes, payload: bytes = b"", total: int | None = None) -> bytes:
    """A frame with valid CRCs around a hand-built headers block (``total`` overrides the length)."""
    length = total if total is not None else 16 + len(header_block) + len(payload)
    prelude = struct.pack(">II", length, len(header_block))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + header_block + payload
    return message + struct.pack(">I", zlib.crc32(message))


def header(name: str, kind: int, value: bytes = b"") -> bytes:
    return bytes([len(name)]) + name.encode() + bytes([kind]) + value


def decode_all(chunks: list[bytes]) -> list[Frame]:
    decoder = EventStreamDecoder()
    frames = [frame for chunk in chunks for frame in decoder.feed(chunk)]
    assert decoder.pending == 0
    return frames


def test_encoded_frame_round_trips() -> None:
    [frame] = EventStreamDecoder().feed(encode_frame(EVENT, b'{"p":"x"}'))
    assert frame == Frame(headers=EVENT, payload=b'{"p":"x"}')


def test_several_frames_in_one_chunk_decode_in_order() -> None:
    frames = EventStreamDecoder().feed(STREAM)
    assert [frame.headers[":event-type"] for frame in frames] == [
        "messageStart",
        "contentBlockDelta",
        "messageStop",
    ]
    assert frames[2].payload == b""


def test_every_split_offset_yields_the_same_frames() -> None:
    whole = decode_all([STREAM])
    for offset in range(len(STREAM) + 1):
        assert decode_all([STREAM[:offset], STREAM[offset:]]) == whole, f"split at {offset}"


def test_byte_at_a_time_yields_the_same_frames() -> None:
    assert decode_all([STREAM[i : i + 1] for i in range(len(STREAM))]) == decode_all([STREAM])


def test_pending_counts_the_unfinished_frame() -> None:
    decoder = EventStreamDecoder()
    first = encode_frame(EVENT, b"{}")
    assert decoder.feed(first + STREAM[:5]) == [Frame(EVENT, b"{}")]
    assert decoder.pending == 5
    assert decoder.feed(b"") == []
    assert decoder.pending == 5


def test_header_of_each_type_decodes() -> None:
    an_id = uuid.UUID("12345678-1234-5678-1234-567812345678")
    block = b"".join(
        (
            header("true", 0),
            header("false", 1),
            header("byte", 2, struct.pack(">b", -2)),
            header("short", 3, struct.pack(">h", -300)),
            header("int", 4, struct.pack(">i", 70_000)),
            header("long", 5, struct.pack(">q", -(2**40))),
            header("bytes", 6, struct.pack(">H", 3) + b"\x00\xff\x01"),
            header("string", 7, struct.pack(">H", 2) + "é".encode()),
            header("timestamp", 8, struct.pack(">q", 1_700_000_000_123)),
            header("uuid", 9, an_id.bytes),
        )
    )
    [frame] = EventStreamDecoder().feed(frame_around(block, b"body"))
    assert frame.headers == {
        "true": True,
        "false": False,
        "byte": -2,
        "short": -300,
        "int": 70_000,
        "long": -(2**40),
        "bytes": b"\x00\xff\x01",
        "string": "é",
        "timestamp": datetime(2023, 11, 14, 22, 13, 20, 123_000, tzinfo=UTC),
        "uuid": an_id,
    }
    assert frame.payload == b"body"


def corrupt(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(corrupt(STREAM, 2), "prelude CRC", id="length-bit-flipped"),
        pytest.param(corrupt(STREAM, 9), "prelude CRC", id="prelude-crc-bit-flipped"),
        pytest.param(corrupt(STREAM, 20), "message CRC", id="header-bit-flipped"),
        pytest.param(corrupt(STREAM, len(STREAM) - 1), "message CRC", id="last-crc-bit-flipped"),
        pytest.param(frame_around(b"", total=15), "out of range", id="shorter-than-a-prelude"),
        pytest.param(frame_around(b"", total=MAX_FRAME + 1), "out of range", id="over-16-MiB"),
    ],
)
def test_corrupt_framing_raises(data: bytes, message: str) -> None:
    with pytest.raises(EventStreamError, match=message):
        EventStreamDecoder().feed(data)


def test_headers_length_beyond_the_frame_raises() -> None:
    prelude = struct.pack(">II", 20, 5)
    with pytest.raises(EventStreamError, match="headers length 5 exceeds"):
        EventStreamDecoder().feed(prelude + struct.pack(">I", zlib.crc32(prelude)))


@pytest.mark.parametrize(
    ("block", "message"),
    [
        pytest.param(header("n", 10), "type 10 is unknown", id="unknown-type"),
        pytest.param(header("n", 7, b"\x00\x09abc"), "runs past", id="string-longer-than-block"),
        pytest.param(header("n", 5, b"\x00\x01"), "runs past", id="truncated-long"),
        pytest.param(b"\x09ab", "runs past", id="name-longer-than-block"),
        pytest.param(header("n", 7, b"\x00\x01\xff"), "UTF-8", id="invalid-utf8"),
    ],
)
def test_malformed_headers_raise(block: bytes, message: str) -> None:
    with pytest.raises(EventStreamError, match=message):
        EventStreamDecoder().feed(frame_around(block))


def test_encode_frame_rejects_a_value_too_long_for_its_length_field() -> None:
    with pytest.raises(ValueError, match="too long"):
        encode_frame({"n": "x" * 65_536}, b"")


def bedrock_recordings(fixtures_dir: Path) -> list[Path]:
    recordings = sorted((fixtures_dir / "bedrock").glob("*.bin"))
    if not recordings:
        pytest.fail(
            f"no Bedrock event-stream recordings (*.bin) under {fixtures_dir}/bedrock: check --fixtures-dir"
        )
    return recordings


@pytest.mark.recordings
def test_real_bedrock_recordings_decode_as_recorded(pytestconfig: pytest.Config) -> None:
    # Fed in 61-byte chunks so frames straddle chunk boundaries, as they do off the socket.
    for recording in bedrock_recordings(Path(pytestconfig.getoption("--fixtures-dir"))):
        body = recording.read_bytes()
        frames = decode_all([body[i : i + 61] for i in range(0, len(body), 61)])
        lines = recording.with_suffix(".decoded.jsonl").read_text(encoding="utf-8").splitlines()
        decoded = [{"headers": frame.headers, "payload": json.loads(frame.payload)} for frame in frames]
        assert decoded == [json.loads(line) for line in lines], recording.name
