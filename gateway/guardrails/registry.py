"""Every check a config may name, by id (``default.regexMatch``, ``gateway.pii``, ...).

Each check module under ``guardrails/checks/`` exports ``SPECS``, a tuple of its
:class:`~gateway.guardrails.check.CheckSpec`; this table names the module of each check id, and
a module is imported when a config first names one of its checks (``on_first_use.py``): an idle
gateway whose configs run no guardrails holds none of them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from gateway.guardrails.check import CheckSpec
from gateway.on_first_use import load

__all__ = [
    "CHECKS",
]

_CHECKS = "gateway.guardrails.checks"

#: Check id → the module that holds it. The modules of the plain checks hold ~0.4 MB together;
#: PyJWT with cryptography (~10 MB resident, ``default.jwt``) and jsonschema with its referencing
#: and rpds (~3 MB, ``default.jsonSchema``) much more; the URL and code checks compile RE2
#: patterns when imported (``config/regex.py`` loads RE2 on first use).
_MODULES: dict[str, str] = {
    "default.regexMatch": f"{_CHECKS}.patterns",
    "default.regexReplace": f"{_CHECKS}.patterns",
    "default.contains": f"{_CHECKS}.phrases",
    "default.endsWith": f"{_CHECKS}.phrases",
    "default.wordCount": f"{_CHECKS}.counts",
    "default.sentenceCount": f"{_CHECKS}.counts",
    "default.characterCount": f"{_CHECKS}.counts",
    "default.alluppercase": f"{_CHECKS}.case",
    "default.alllowercase": f"{_CHECKS}.case",
    "default.notNull": f"{_CHECKS}.presence",
    "default.addPrefix": f"{_CHECKS}.prefix",
    "default.webhook": f"{_CHECKS}.webhook",
    "default.jsonKeys": f"{_CHECKS}.json_keys",
    "default.modelwhitelist": f"{_CHECKS}.models",
    "default.modelWhitelist": f"{_CHECKS}.models",
    "default.modelRules": f"{_CHECKS}.models",
    "default.allowedRequestTypes": f"{_CHECKS}.request_types",
    "default.requiredMetadataKeys": f"{_CHECKS}.metadata_keys",
    "gateway.pii": f"{_CHECKS}.pii",
    "default.log": f"{_CHECKS}.log",
    "default.jwt": f"{_CHECKS}.jwt_auth",
    "default.jsonSchema": f"{_CHECKS}.json_schema",
    "default.validUrls": f"{_CHECKS}.urls",
    "default.containsCode": f"{_CHECKS}.code",
}


class _Checks(Mapping[str, CheckSpec]):
    """Check id → spec; a check's module is imported by the first lookup of one of its ids and
    its specs kept."""

    __slots__ = ("_specs",)

    def __init__(self, specs: dict[str, CheckSpec]) -> None:
        self._specs = specs

    def __getitem__(self, check_id: str) -> CheckSpec:
        spec = self._specs.get(check_id)
        if spec is None:
            module = load(_MODULES[check_id])  # KeyError: no such check
            self._specs.update((loaded.id, loaded) for loaded in module.SPECS)
            spec = self._specs[check_id]
        return spec

    def __iter__(self) -> Iterator[str]:
        return iter(_MODULES)

    def __len__(self) -> int:
        return len(_MODULES)


#: Check id → its spec.
CHECKS: Mapping[str, CheckSpec] = _Checks({})
