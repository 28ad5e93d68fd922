"""gateway/guardrails/registry.py: every check id leads to its check, the ones imported on first
use included."""

from __future__ import annotations

from gateway.guardrails.registry import CHECKS


def test_every_check_id_leads_to_the_check_of_that_id() -> None:
    ids = list(CHECKS)
    assert {"default.jwt", "default.jsonSchema", "default.validUrls", "default.regexMatch"} <= set(ids)
    assert [CHECKS[check_id].id for check_id in ids] == ids
    assert len(CHECKS) == len(ids)


def test_an_unknown_check_id_is_not_found() -> None:
    assert CHECKS.get("default.notACheck") is None
    assert "default.notACheck" not in CHECKS
