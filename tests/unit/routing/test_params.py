"""A config's body edits: defaults lose to the request, overrides win, dropped fields go last."""

from __future__ import annotations

from gateway.routing.params import changes_body, edited_params

BODY = {"model": "gpt-4o", "temperature": 0.2, "user": "u1"}


def test_defaults_fill_gaps_and_lose_to_the_requests_own_fields() -> None:
    edited = edited_params(BODY, {}, {"temperature": 0.9, "max_tokens": 10}, frozenset())
    assert edited == {**BODY, "max_tokens": 10}


def test_overrides_win_over_the_request() -> None:
    assert edited_params(BODY, {"model": "gpt-4o-mini"}, {}, frozenset())["model"] == "gpt-4o-mini"


def test_dropped_fields_are_removed_whoever_set_them() -> None:
    edited = edited_params(BODY, {"seed": 1}, {"top_p": 1}, frozenset({"user", "seed", "top_p", "absent"}))
    assert edited == {"model": "gpt-4o", "temperature": 0.2}


def test_the_request_body_itself_is_never_changed() -> None:
    body = dict(BODY)
    edited_params(body, {"model": "x"}, {"n": 2}, frozenset({"user"}))
    assert body == BODY


def test_changes_body_is_true_exactly_when_the_edit_changes_something() -> None:
    none: frozenset[str] = frozenset()
    assert not changes_body(BODY, {}, {}, none)
    assert not changes_body(BODY, {}, {"temperature": 1.0}, none)  # the request's own value wins
    assert not changes_body(BODY, {}, {}, frozenset({"absent"}))
    assert changes_body(BODY, {}, {"max_tokens": 5}, none)
    assert changes_body(BODY, {"model": "gpt-4o"}, {}, none)
    assert changes_body(BODY, {}, {}, frozenset({"user"}))
