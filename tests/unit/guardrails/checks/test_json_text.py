from __future__ import annotations

from gateway.guardrails.checks.json_text import fenced_blocks, json_values


def test_fenced_blocks_drop_the_json_tag_and_surrounding_space() -> None:
    text = 'Here:\n```json\n{"a": 1}\n```\nand\n````\n[1, 2]\n````'
    assert fenced_blocks(text) == ['{"a": 1}', "[1, 2]"]


def test_an_unclosed_fence_is_no_block() -> None:
    assert fenced_blocks('```json\n{"a": 1}') == []


def test_nested_bare_objects_are_read_whole() -> None:
    # Portkey's lazy {...} regex stops at the first '}' and never parses this one.
    assert json_values('Result: {"a": {"b": 1}} done', bare_only_without_fences=True) == [{"a": {"b": 1}}]


def test_fences_hide_bare_objects_only_when_asked() -> None:
    text = '```\n{"fenced": true}\n``` and {"bare": true}'
    assert json_values(text, bare_only_without_fences=True) == [{"fenced": True}]
    assert json_values(text, bare_only_without_fences=False) == [
        {"fenced": True},
        {"fenced": True},
        {"bare": True},
    ]


def test_unparsable_candidates_are_skipped() -> None:
    assert json_values('{not json} then {"ok": 1}', bare_only_without_fences=True) == [{"ok": 1}]


def test_text_full_of_braces_decodes_a_bounded_number_of_candidates() -> None:
    text = "{" * 100_000 + '{"late": 1}'
    assert json_values(text, bare_only_without_fences=True) == []
