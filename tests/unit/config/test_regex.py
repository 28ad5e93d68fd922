from __future__ import annotations

import pytest

from gateway.config.regex import RegexRefused, compile_regex


@pytest.mark.parametrize("pattern", ["sk-SECRET-123(", "(?=sk-SECRET-123)", "(sk-SECRET-123)\\1"])
def test_a_refused_pattern_says_why_without_quoting_the_pattern(pattern: str) -> None:
    with pytest.raises(RegexRefused) as refused:
        compile_regex(pattern)
    reason = str(refused.value)
    assert reason.startswith("not supported by RE2")
    assert "SECRET" not in reason
