"""gateway/guardrails/registry.py: every check id leads to its check, the ones imported on first
use included."""

from __future__ import annotations

import importlib
import pkgutil

from gateway.guardrails.registry import CHECKS


def test_every_check_id_leads_to_the_check_of_that_id() -> None:
    ids = list(CHECKS)
    assert {"default.jwt", "default.jsonSchema", "default.validUrls", "default.regexMatch"} <= set(ids)
    assert [CHECKS[check_id].id for check_id in ids] == ids
    assert len(CHECKS) == len(ids)


def test_an_unknown_check_id_is_not_found() -> None:
    assert CHECKS.get("default.notACheck") is None
    assert "default.notACheck" not in CHECKS


def test_every_check_module_s_checks_can_be_named() -> None:
    # The table names each check's module, imported on first use: a check added to a module
    # but not to the table could never be named in a config.
    package = importlib.import_module("gateway.guardrails.checks")
    modules = [
        importlib.import_module(info.name)
        for info in pkgutil.iter_modules(package.__path__, "gateway.guardrails.checks.")
    ]
    ids = {spec.id for module in modules for spec in getattr(module, "SPECS", ())}
    assert len(ids) > 20  # guards the scan
    assert sorted(ids - set(CHECKS)) == []
