from __future__ import annotations

import pytest

from gateway.guardrails.check import CheckParametersError, CheckSpec
from gateway.guardrails.checks.counts import SPECS
from tests.unit.guardrails.checks.context import answer, checked, request

WORDS, SENTENCES, CHARACTERS = SPECS


def test_word_count_passes_within_the_range_and_fails_outside_it() -> None:
    inside = checked(WORDS, request("  one two\tthree\n"), minWords=1, maxWords=3)
    assert inside.verdict is True
    assert inside.data["wordCount"] == 3
    assert inside.data["explanation"] == (
        "The text contains 3 words, which is within the specified range of 1-3 words."
    )
    assert checked(WORDS, request("one two three four"), minWords=1, maxWords=3).verdict is False
    assert checked(WORDS, request("one two three four"), maxWords=3, **{"not": True}).verdict is True


def test_word_count_defaults_to_portkeys_range() -> None:
    assert checked(WORDS, answer("hi")).data["maxWords"] == 99999


def test_word_count_of_blank_text_cannot_decide() -> None:
    result = checked(WORDS, answer("   "))
    assert result.verdict is False
    assert result.error == "Missing text to analyze"


def test_sentence_count_counts_sentence_ends_and_reads_no_text_as_zero() -> None:
    result = checked(SENTENCES, answer("One. Two! Three?"), minSentences=3, maxSentences=3)
    assert result.verdict is True
    assert result.data["sentenceCount"] == 3
    assert result.data["explanation"] == "The sentence count (3) is within the specified range of 3 to 3."
    empty = checked(SENTENCES, answer(None), minSentences=1)
    assert empty.verdict is False
    assert empty.error is None
    assert empty.data["sentenceCount"] == 0
    assert checked(SENTENCES, answer(None), minSentences=1, **{"not": True}).verdict is True


def test_character_count_counts_code_points() -> None:
    result = checked(CHARACTERS, request("héllo 👋"), minCharacters=7, maxCharacters=7)
    assert result.verdict is True
    assert result.data["characterCount"] == 7
    assert checked(CHARACTERS, request("too long"), maxCharacters=3).verdict is False
    assert checked(CHARACTERS, answer(""), maxCharacters=3).error == "Missing text to analyze"


@pytest.mark.parametrize(
    ("spec", "parameters", "param"),
    [
        (WORDS, {"minWords": 1.5}, "minWords"),
        (WORDS, {"maxWords": "10"}, "maxWords"),
        (CHARACTERS, {"minCharacters": True}, "minCharacters"),
        (SENTENCES, {"maxSentences": "x"}, "maxSentences"),
        (SENTENCES, {"not": 1}, "not"),
    ],
)
def test_counts_refuse_bad_parameters(spec: CheckSpec, parameters: dict[str, object], param: str) -> None:
    with pytest.raises(CheckParametersError) as raised:
        spec.prepare(parameters)
    assert raised.value.param == param


def test_sentence_count_takes_fractional_bounds() -> None:
    assert checked(SENTENCES, answer("One."), maxSentences=1.5).verdict is True
