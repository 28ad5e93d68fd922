"""Pass and fail cases of the text checks (``guardrails/checks/{patterns,phrases,counts,case,code,
urls,presence,prefix}.py``) for the engine's wire test. Every input case says its user message;
output cases read the fake provider's ``answer_text`` (``Hello from the model.`` by default)."""

from __future__ import annotations

from tests.functional.guardrail_case import GuardrailCase

__all__ = [
    "CASES",
]


def _said(text: str) -> dict[str, object]:
    return {"messages": [{"role": "user", "content": text}]}


CASES = (
    GuardrailCase(
        "regexMatch-passes-on-a-match",
        "default.regexMatch",
        {"rule": r"\d{4}"},
        "input",
        True,
        _said("order 1234"),
    ),
    GuardrailCase(
        "regexMatch-fails-without-a-match",
        "default.regexMatch",
        {"rule": r"\d{4}"},
        "input",
        False,
        _said("no order"),
    ),
    GuardrailCase(
        "regexMatch-not-fails-on-a-match",
        "default.regexMatch",
        {"rule": "model", "not": True},
        "output",
        False,
    ),
    GuardrailCase(
        "regexReplace-redacts-and-passes",
        "default.regexReplace",
        {"rule": r"\d{3}-\d{4}"},
        "input",
        True,
        _said("call 555-0100"),
    ),
    GuardrailCase(
        "regexReplace-fails-on-detection",
        "default.regexReplace",
        {"rule": r"\d{3}-\d{4}", "failOnDetection": True},
        "input",
        False,
        _said("call 555-0100"),
    ),
    GuardrailCase(
        "contains-any-passes", "default.contains", {"words": ["model"], "operator": "any"}, "output", True
    ),
    GuardrailCase(
        "contains-none-fails", "default.contains", {"words": ["model"], "operator": "none"}, "output", False
    ),
    GuardrailCase(
        "endsWith-passes-with-a-trailing-period", "default.endsWith", {"suffix": "model"}, "output", True
    ),
    GuardrailCase("endsWith-fails", "default.endsWith", {"suffix": "goodbye"}, "output", False),
    GuardrailCase(
        "wordCount-passes-in-range", "default.wordCount", {"minWords": 1, "maxWords": 5}, "output", True
    ),
    GuardrailCase(
        "wordCount-fails-out-of-range", "default.wordCount", {"minWords": 10, "maxWords": 20}, "output", False
    ),
    GuardrailCase(
        "sentenceCount-passes-in-range",
        "default.sentenceCount",
        {"minSentences": 1, "maxSentences": 1},
        "input",
        True,
        _said("Hello there."),
    ),
    GuardrailCase(
        "sentenceCount-fails-out-of-range",
        "default.sentenceCount",
        {"minSentences": 2},
        "input",
        False,
        _said("Hello there."),
    ),
    GuardrailCase(
        "characterCount-passes-in-range",
        "default.characterCount",
        {"maxCharacters": 100},
        "input",
        True,
        _said("Hello there."),
    ),
    GuardrailCase(
        "characterCount-fails-out-of-range",
        "default.characterCount",
        {"maxCharacters": 5},
        "input",
        False,
        _said("Hello there."),
    ),
    GuardrailCase("alluppercase-passes", "default.alluppercase", {}, "input", True, _said("HELLO THERE.")),
    GuardrailCase("alluppercase-fails", "default.alluppercase", {}, "input", False, _said("Hello there.")),
    GuardrailCase(
        "alllowercase-passes", "default.alllowercase", {}, "output", True, answer_text="all quiet."
    ),
    GuardrailCase("alllowercase-fails", "default.alllowercase", {}, "output", False),
    GuardrailCase(
        "containsCode-passes-with-a-python-block",
        "default.containsCode",
        {"format": "Python"},
        "output",
        True,
        answer_text="```python\nprint(1)\n```",
    ),
    GuardrailCase(
        "containsCode-fails-without-a-block", "default.containsCode", {"format": "Python"}, "output", False
    ),
    GuardrailCase("validUrls-fails-without-urls", "default.validUrls", {}, "output", False),
    GuardrailCase(
        "validUrls-fails-on-a-refused-metadata-url",
        "default.validUrls",
        {"onlyDNS": True},
        "output",
        False,
        answer_text="See http://169.254.169.254/latest",
    ),
    GuardrailCase(
        "validUrls-dns-passes-for-localhost",
        "default.validUrls",
        {"onlyDNS": True},
        "output",
        True,
        answer_text="See http://localhost:9/page",
    ),
    GuardrailCase("notNull-passes-with-text", "default.notNull", {}, "output", True),
    GuardrailCase(
        "notNull-fails-on-a-blank-answer", "default.notNull", {}, "output", False, answer_text="   "
    ),
    GuardrailCase(
        "addPrefix-passes-and-prefixes",
        "default.addPrefix",
        {"prefix": "Be brief. "},
        "input",
        True,
        _said("Hello there."),
    ),
)
