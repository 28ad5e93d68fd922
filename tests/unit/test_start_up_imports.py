"""What a started gateway holds in memory: the libraries only some requests use are not imported
until one does (docs/benchmarks.md, "Memory"), and the providers the settings name are."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

#: Loaded only by what names them: JWT and JSON-schema checks (PyJWT, cryptography, jsonschema),
#: RE2 patterns, Vertex and Oracle signing (cryptography), --version, --workers; any guardrail
#: check; Azure's and AWS's credential exchanges; the Anthropic Messages and Responses endpoints;
#: the realtime websocket; a settings file (tomllib); an unknown provider's "did you mean"
#: (difflib); package files read through importlib.resources (zipfile); the Redis backends and
#: the semantic cache, when the settings do not choose them.
ON_FIRST_USE = (
    "cryptography",
    "jwt",
    "jsonschema",
    "rpds",
    "re2",
    "importlib.metadata",
    "multiprocessing",
    "gateway.providers.anthropic",
    "gateway.providers.bedrock",
    "gateway.providers.vertex",
    "gateway.providers.oracle",
    "gateway.providers.model_lists",
    "gateway.guardrails.checks.patterns",
    "gateway.guardrails.checks.pii",
    "gateway.providers.azure_auth",
    "gateway.providers.aws_roles",
    "xml.etree.ElementTree",
    "gateway.formats.anthropic_messages",
    "gateway.formats.responses",
    "gateway.api.realtime",
    "gateway.streaming.websocket",
    "tomllib",
    "difflib",
    "zipfile",
    "gateway.redis_link",
    "gateway.cache.semantic",
)

_STARTED = """
import json, sys
import gateway.cli
from gateway.app import create_app
from gateway.config.settings import load_settings
create_app(load_settings(sys.argv[1] or None))
print(json.dumps(sorted(sys.modules)))
"""


def started_modules(settings_file: str = "") -> set[str]:
    """The modules of a process that built the app as ``python -m gateway`` does."""
    command = [sys.executable, "-c", _STARTED, settings_file]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    return set(json.loads(result.stdout))


def test_a_started_gateway_has_not_imported_what_only_some_requests_use() -> None:
    modules = started_modules()
    assert "gateway.providers.openai_compat" in modules  # guards the scan: the default path is there
    assert sorted(name for name in ON_FIRST_USE if name in modules) == []


def test_the_providers_the_settings_name_are_built_at_start_up(tmp_path: Path) -> None:
    settings = tmp_path / "gateway.toml"
    settings.write_text(
        '[providers.anthropic]\napi_key = "sk-ant-test"\n\n'
        '[configs.fallback]\nstrategy = { mode = "fallback" }\n'
        'targets = [{ provider = "bedrock" }, { provider = "openai" }]\n'
    )
    modules = started_modules(str(settings))
    assert {"gateway.providers.anthropic", "gateway.providers.bedrock"} <= modules
    assert "gateway.providers.vertex" not in modules
