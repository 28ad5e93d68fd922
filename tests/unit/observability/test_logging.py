"""Log records stay one line: caller input is escaped, never written raw."""

from __future__ import annotations

import logging

import pytest

from gateway.observability.logging import configure_logging, escaped


def test_printable_text_is_returned_as_it_is() -> None:
    text = "/v1/chat/completions?x=é"
    assert escaped(text) is text


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("a\r\nb", "a\\x0d\\x0ab"),
        ("a\x0bb\x0c", "a\\x0bb\\x0c"),
        ("next\x85line", "next\\x85line"),
        ("sep\u2028arator", "sep\\u2028arator"),
        ("lone\udcffsurrogate", "lone\\udcffsurrogate"),
        ("\U000e0001tag", "\\U000e0001tag"),
    ],
)
def test_line_breaks_and_other_non_printables_are_written_as_escapes(raw: str, shown: str) -> None:
    assert escaped(raw) == shown
    assert len(escaped(raw).splitlines()) == 1


def test_configure_logging_sets_one_handler_and_quiets_aiohttps_access_log() -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("warning")
        configure_logging("debug")  # again: still one handler, not two
        assert len(root.handlers) == 1
        assert root.level == logging.DEBUG
        assert logging.getLogger("aiohttp.access").level == logging.WARNING
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
