from __future__ import annotations

import pytest

from gateway.guardrails.check import CheckParametersError
from gateway.guardrails.checks.code import SPECS
from tests.unit.guardrails.checks.context import answer, checked

(CODE,) = SPECS
PYTHON = "Here:\n```py\nprint('hi')\n```\nand\n```sql\nSELECT 1\n```"


def test_contains_code_finds_a_block_by_its_tag() -> None:
    result = checked(CODE, answer(PYTHON), format="Python")
    assert result.verdict is True
    assert result.data["foundFormats"] == ["Python", "SQL"]
    assert result.data["explanation"] == "Found code block(s) in Python format"


def test_contains_code_fails_without_a_block_in_the_format_and_not_inverts_it() -> None:
    assert checked(CODE, answer(PYTHON), format="Go").verdict is False
    assert checked(CODE, answer(PYTHON), format="Go", **{"not": True}).verdict is True


def test_text_without_blocks_passes_only_with_not() -> None:
    assert checked(CODE, answer("just prose"), format="SQL").verdict is False
    result = checked(CODE, answer("just prose"), format="SQL", **{"not": True})
    assert result.verdict is True
    assert result.data["explanation"] == "No code blocks found in the text"


def test_many_unclosed_fences_are_read_in_linear_time() -> None:
    assert checked(CODE, answer("```py\nx" * 50_000), format="Python").verdict is False


def test_contains_code_without_text_cannot_decide() -> None:
    result = checked(CODE, answer(None), format="SQL")
    assert result.verdict is False
    assert result.error == "No text content to analyze"


@pytest.mark.parametrize("parameters", [{}, {"format": "python"}, {"format": "Cobol"}])
def test_contains_code_refuses_a_format_outside_portkeys_list(parameters: dict[str, object]) -> None:
    with pytest.raises(CheckParametersError) as raised:
        CODE.prepare(parameters)
    assert raised.value.param == "format"
