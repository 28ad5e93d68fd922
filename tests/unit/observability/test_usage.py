"""Usage read from the last bytes of an answer: the last complete usage object, nested details
included, and nothing from a cut-off or too deeply nested one."""

from __future__ import annotations

import pytest

from gateway.observability.usage import usage_from_tail


@pytest.mark.parametrize(
    ("tail", "usage"),
    [
        (
            b'"choices":[],"usage":{"prompt_tokens":8,"completion_tokens":1}}',
            {"prompt_tokens": 8, "completion_tokens": 1},
        ),
        (
            b'data: {"usage":null}\n\ndata: {"usage" : {"prompt_tokens":3,'
            b'"prompt_tokens_details":{"cached_tokens":2,"audio":{"n":1}}}}\n\ndata: [DONE]\n\n',
            {"prompt_tokens": 3, "prompt_tokens_details": {"cached_tokens": 2, "audio": {"n": 1}}},
        ),
        (b'{"usage":{"prompt_tokens":1}} {"usage":{"prompt_tokens":2}}', {"prompt_tokens": 2}),
        (b'{"usage":{"prompt_tokens":1}} {"usage":{"prompt_tokens":2', {"prompt_tokens": 1}),
        (b'{"usage":{"a":{"b":{"c":{}}}}}', None),
        (b'{"usage":{"prompt_tokens":' + b'{"a":1,' * 2000, None),
        (b'{"usage":null}', None),
    ],
)
def test_the_last_complete_usage_object_is_read(tail: bytes, usage: dict[str, object] | None) -> None:
    assert usage_from_tail(tail) == usage
