"""DESIGN.md §3: a module imports only gateway modules of its own layer or lower.

The map below is the design's module map. Modules the design does not name are placed here
explicitly, each with its reason, and a module missing from the map fails the test: a new module
gets its layer by a decision, not by accident. Imports under ``if TYPE_CHECKING:`` are type-only
(nothing is imported at run time) and exempt.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "gateway"

#: Straight from DESIGN.md §3. A trailing ``.*`` places a whole package.
DESIGN_LAYERS: dict[str, int] = {
    "errors": 0,
    "appkeys": 0,
    "streaming.sse": 0,
    "upstream.headers": 0,
    "cache.keys": 0,
    "limits.gcra": 0,
    "config.*": 1,
    "upstream.session": 1,
    "providers.base": 1,
    "providers.catalog": 1,
    "routing.health": 1,
    "cache.memory": 1,
    "limits.memory": 1,
    "guardrails.checks.*": 1,
    "observability.logging": 1,
    "observability.metrics": 1,
    "observability.tracing": 1,
    "observability.prices": 1,
    "providers.registry": 2,
    "providers.openai_compat": 2,
    "providers.option_url": 2,
    "providers.databricks": 2,
    "providers.azure_ai": 2,
    "providers.predibase": 2,
    "providers.openai": 2,
    "providers.azure_openai": 2,
    "providers.anthropic": 2,
    "providers.gemini": 2,
    "providers.vertex": 2,
    "providers.bedrock": 2,
    "providers.cohere": 2,
    "providers.triton": 2,
    "providers.fake": 2,
    "streaming.relay": 2,
    "streaming.websocket": 2,
    "routing.strategies": 2,
    "routing.plan": 2,
    "routing.attempts": 2,
    "cache.redis": 2,
    "limits.redis": 2,
    "limits.keys": 2,
    "limits.tokens": 2,
    "guardrails.hooks": 2,
    "guardrails.runner": 2,
    "observability.usage": 2,
    "formats.*": 2,
    "middleware.*": 4,
    "api.*": 4,
    "app": 5,
    "server": 5,
    "cli": 5,
    "__main__": 5,
}

#: Modules the design does not name: the lowest layer their imports and purpose allow.
PLACED_HERE: dict[str, tuple[int, str]] = {
    "upstream.failures": (0, "pure mapping of aiohttp exceptions to errors.py, like upstream/headers"),
    "routing.metadata": (0, "pure parser of one header into a dict, like streaming/sse"),
    "upstream.sigv4": (0, "pure request signing, like upstream/headers"),
    "on_first_use": (0, "imports a module named by a constant string, for the registries and routes"),
    "streaming.eventstream": (0, "pure incremental frame decoder, like streaming/sse"),
    "routing.identity": (1, "a target's identity and credential fingerprint, the key of routing/health"),
    "upstream.answer": (0, "a typing Protocol of what the relay reads of an upstream answer"),
    "upstream.lean": (1, "the lean HTTP/1.1 client; uses the SSRF guard, like upstream/session"),
    "upstream.lean_connection": (1, "one connection of the lean client: aiohttp's parser on a protocol"),
    "upstream.host_cap": (1, "the lean client's limit_per_host: places per origin, waited for in turn"),
    "upstream.hostguard": (1, "SSRF guard: custom-host checks and the connector's resolver/socket factory"),
    "upstream.addresses": (0, "pure IP parsing and classification, no imports of the gateway"),
    "upstream.hostpolicy": (0, "pure custom-host policy built from settings values, like upstream/addresses"),
    "routing.target": (2, "turns routing/plan's legs into targets with providers/registry adapters"),
    "routing.retry": (2, "retry waits from settings and provider headers, beside routing/plan"),
    "routing.deadlines": (2, "the request's deadline and each attempt's, beside routing/retry"),
    "routing.refusals": (2, "content-policy refusals read from an upstream answer, beside routing/retry"),
    "routing.params": (0, "pure merge of a config's default, override and drop params into a body"),
    "routing.sticky": (1, "sticky loadbalance choice (rendezvous hashing) over parsed config nodes"),
    "observability.record": (0, "the record of one exchange and the sink interface; pure data"),
    "observability.recorder": (2, "the records' queue to the sinks, built on observability/usage"),
    "observability.requestlog": (2, "the access-log and failure-warning sink of observability/recorder"),
    "observability.spans": (2, "the OpenTelemetry spans: a middleware, an attempt stage, a recorder sink"),
    "observability.otel": (2, "whether to trace, from OTEL_* variables; imports observability/spans lazily"),
    "observability.console": (1, "the live console's rolling aggregates, a sink of observability/record"),
    "providers.google_auth": (2, "service-account token exchange used by providers/vertex"),
    "providers.azure_auth": (2, "Entra ID token exchange used by providers/azure_openai"),
    "providers.aws_roles": (2, "STS AssumeRole used by providers/bedrock"),
    "providers.cloud_auth": (2, "the per-process holder of providers/azure_auth and providers/aws_roles"),
    "upstream.expiring": (0, "cache of expiring values and the OAuth token answer; imports only errors"),
    "providers.openai_format": (2, "OpenAI-format answers shared by the translating providers/* adapters"),
    "providers.extras": (
        2,
        "Portkey's non-strict answer extras shared by the translating providers/* adapters",
    ),
    "providers.openai_request": (2, "OpenAI request reading shared by the translating providers/* adapters"),
    "providers.anthropic_answers": (2, "the half of providers/anthropic that reads Anthropic's answers"),
    "providers.cohere_answers": (2, "the half of providers/cohere that reads Cohere's answers"),
    "providers.oracle": (2, "OCI Generative AI chat, a translated adapter like providers/cohere"),
    "providers.oracle_answers": (2, "the half of providers/oracle that reads OCI's answers"),
    "upstream.oci_signature": (0, "pure OCI request signing, like upstream/sigv4"),
    "providers.triton_answers": (2, "the half of providers/triton that reads Triton's answers"),
    "providers.gemini_answers": (2, "the half of providers/gemini that reads Gemini's answers"),
    "providers.bedrock_answers": (2, "the half of providers/bedrock that reads Bedrock's answers"),
    "providers.bedrock_access": (2, "where a Bedrock request goes and its SigV4, for providers/bedrock*"),
    "providers.bedrock_messages": (2, "Anthropic's Messages API on Bedrock, beside providers/bedrock"),
    "providers.vertex_access": (2, "where a Vertex request goes and its token, for providers/vertex*"),
    "providers.vertex_jobs": (2, "Vertex's adapter with files and batches, built by providers/vertex"),
    "providers.vertex_files": (2, "/v1/files on Vertex: Cloud Storage uploads, beside providers/vertex"),
    "providers.vertex_batches": (2, "/v1/batches on Vertex: batch prediction jobs, beside providers/vertex"),
    "providers.gcs": (2, "Cloud Storage object ids and URLs, for providers/vertex_files"),
    "providers.form_upload": (2, "a streamed multipart upload's fields and file, for file adapters"),
    "providers.bedrock_files": (2, "/v1/files on Bedrock: batch input files in S3"),
    "providers.bedrock_batches": (2, "/v1/batches on Bedrock: model invocation jobs"),
    "providers.bedrock_batch_input": (2, "OpenAI batch lines into Bedrock batch records"),
    "providers.bedrock_batch_output": (2, "Bedrock batch output records into OpenAI batch output lines"),
    "providers.jsonl": (2, "JSON Lines split as they stream, for providers/bedrock_batch_*"),
    "providers.s3": (2, "S3 locations, URLs and SigV4, for providers/bedrock_files"),
    "providers.form_parts": (2, "a multipart upload read part by part, for providers/bedrock_files"),
    "providers.upload_spool": (2, "an upload read whole before sending, for bedrock/fireworks_files"),
    "providers.batch_objects": (2, "OpenAI Batch/list shaping for vertex/fireworks_batches"),
    "providers.fireworks": (2, "Fireworks AI: its catalog row plus files and batches on the account API"),
    "providers.fireworks_access": (2, "Fireworks' account API: its base, ids and auth"),
    "providers.fireworks_files": (2, "/v1/files on Fireworks: datasets of the account"),
    "providers.fireworks_batches": (2, "/v1/batches on Fireworks: batch inference jobs"),
    "providers.option_headers": (1, "data: which provider options are headers of the provider's API"),
    "providers.mistral": (2, "Mistral's FIM variant of its catalog row, like providers/azure_openai"),
    "providers.pass_through": (2, "providers whose own API passes through, like providers/openai_compat"),
    "providers.sagemaker": (2, "SageMaker's pass-through with SigV4 on providers/bedrock_access"),
    "providers.translated_stream": (
        2,
        "the set-up every translated stream shares, on openai_format's ChunkWriter",
    ),
    "providers.model_lists": (2, "translated providers' model lists, for providers/translated's adapters"),
    "providers.translated": (2, "the adapter shape of translating providers, beside providers/registry"),
    "providers.image_format": (2, "OpenAI image requests and answers shared by the image adapters"),
    "providers.stability": (2, "Stability AI's image APIs, a translated provider like providers/cohere"),
    "providers.nomic": (2, "Nomic's embeddings, a translated provider like providers/cohere"),
    "providers.segmind": (2, "Segmind's image models, a translated provider like providers/cohere"),
    "providers.cohere_rerank": (2, "Cohere's v2 rerank, beside providers/cohere"),
    "providers.bedrock_images": (2, "Bedrock's image models through invoke, beside providers/bedrock"),
    "providers.vertex_images": (2, "Imagen's predict body and answer, for providers/vertex"),
    "streaming.translated": (2, "streaming/relay's subclass for translated streams"),
    "streaming.reformat": (2, "the response a relay writes a client format's answer to, on formats/"),
    "observability.realtime": (0, "plain counters with no imports, read by observability/metrics"),
    "observability.admission": (0, "plain counters with no imports, read by observability/metrics"),
    "api.bodies": (4, "request-body reading for the api handlers (api/* by the design)"),
    "cache.replay": (0, "pure conversions between a cached stream and JSON answer, on streaming/sse"),
    "cache.store": (0, "the CacheStore protocol the backends keep; imports nothing"),
    "cache.redis_store": (2, "the design's cache/redis, named so it never reads as the redis package"),
    "cache.entry": (0, "one cached answer's encoding for the stores; pure data"),
    "cache.capture": (0, "an attempt's answer recorded for the cache; pure data"),
    "cache.key": (1, "the cache key from routing/identity's target identity and the body"),
    "cache.stage": (2, "the cache's before and after stage over the cache stores"),
    "cache.semantic": (2, "the design's cache/semantic: embedder, vector index and feed together"),
    "cache.embedder": (2, "the semantic cache's embedding call through a provider adapter"),
    "cache.vector_feed": (2, "semantic vectors shared through a Redis stream, beside cache/redis_store"),
    "cache.vectors": (1, "the semantic cache's in-memory vector index (numpy, usearch)"),
    "limits.caller": (0, "who is calling: a gateway key's grants, limits and budgets; pure data"),
    "limits.limiter": (0, "the rate limiter's checks and its backends' protocol; pure data"),
    "limits.stage": (2, "rate limits as a before and after stage over limits/memory and limits/redis"),
    "limits.grants": (2, "a gateway key's grants checked on routing's planned targets"),
    "limits.key_store": (2, "the settings' keys over the admin API's backend, beside limits/keys"),
    "limits.redis_key_store": (2, "the key store's Redis backend, beside cache/redis_store"),
    "limits.periods": (0, "pure budget-window arithmetic on Unix time"),
    "limits.spend": (1, "spend and usage per key and window: the data, the protocol, the memory store"),
    "limits.redis_spend": (2, "the spend store in Redis, on cache/redis_store's client and warnings"),
    "limits.budgets": (2, "the budget check as a pipeline before stage, and the usage reader"),
    "limits.charges": (2, "the recorder's sink that charges each key, beside limits/budgets"),
    "observability.key_metrics": (1, "usage per gateway key as Prometheus series on observability/metrics"),
    "cache.vector_graph": (1, "the vector index's HNSW graphs, built and updated on a worker thread"),
    "redis_link": (0, "one Redis client per job: bounded, no retry, warnings throttled"),
    "providers.shut_down": (0, "providers whose service has shut down, as data"),
    "guardrails.check": (0, "the contract every guardrail check keeps; pure data"),
    "guardrails.text": (0, "pure reading and replacing of a body's checked text"),
    "guardrails.registry": (1, "the table of checks from guardrails/checks/*, the design's L1"),
    "guardrails.stage": (2, "input hooks as a pipeline before stage, beside the hooks and runner"),
    "guardrails.answer": (2, "output hooks on a relayed answer (held or reported), beside the runner"),
}


def module_name(path: Path) -> str:
    """``gateway/providers/catalog.py`` → ``providers.catalog``; a package's ``__init__`` → its name."""
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def gateway_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str, packages: set[str]) -> int | None:
    """The module's layer, ``None`` when the map does not place it.

    A package's ``__init__`` is a marker: layer 0, so any import it gains (a re-export that would
    hide the real dependency) is checked like every other.
    """
    if module in PLACED_HERE:
        return PLACED_HERE[module][0]
    if module in DESIGN_LAYERS:
        return DESIGN_LAYERS[module]
    if module == "" or module in packages:
        return 0
    package = module.rpartition(".")[0]
    return DESIGN_LAYERS.get(f"{package}.*")


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _ImportScanner(ast.NodeVisitor):
    def __init__(self, module: str, is_package: bool, known: set[str]) -> None:
        self.module, self.is_package, self.known = module, is_package, known
        self.found: list[tuple[int, str]] = []

    def visit_If(self, node: ast.If) -> None:
        if not _is_type_checking(node.test):
            self.generic_visit(node)
            return
        for child in node.orelse:
            self.visit(child)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(node.lineno, alias.name, [])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        source = _absolute(node, self.module, self.is_package)
        self._add(node.lineno, source, [alias.name for alias in node.names])

    def _add(self, line: int, dotted: str, names: list[str]) -> None:
        if dotted != "gateway" and not dotted.startswith("gateway."):
            return
        base = dotted.removeprefix("gateway").lstrip(".")
        # ``from gateway.providers import catalog`` imports the module providers.catalog.
        submodules = [full for name in names if (full := f"{base}.{name}".lstrip(".")) in self.known]
        self.found.extend((line, target) for target in submodules or [base])


def runtime_imports(source: str, module: str, is_package: bool, known: set[str]) -> list[tuple[int, str]]:
    """(line, gateway module) for every import that runs, ``if TYPE_CHECKING:`` bodies skipped."""
    scanner = _ImportScanner(module, is_package, known)
    scanner.visit(ast.parse(source))
    return scanner.found


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    parts = ["gateway", *filter(None, module.split("."))]
    if not is_package:
        parts.pop()
    parts = parts[: len(parts) - (node.level - 1)]
    return ".".join([*parts, node.module] if node.module else parts)


def violations(modules: dict[str, Path]) -> list[str]:
    known = set(modules)
    packages = {name for name, path in modules.items() if path.name == "__init__.py"}
    problems = []
    for name, path in modules.items():
        own = layer_of(name, packages)
        assert own is not None, f"{name} has no layer"
        source = path.read_text(encoding="utf-8")
        for line, target in runtime_imports(source, name, name in packages, known):
            theirs = layer_of(target, packages)
            if theirs is None or theirs > own:
                problems.append(f"{name}:{line} (L{own}) imports {target} (L{theirs})")
    return problems


def test_every_gateway_module_has_a_layer() -> None:
    modules = gateway_modules()
    packages = {name for name, path in modules.items() if path.name == "__init__.py"}
    unplaced = sorted(name for name in modules if layer_of(name, packages) is None)
    assert not unplaced, f"place these modules in DESIGN_LAYERS or PLACED_HERE (with a reason): {unplaced}"


def test_modules_placed_here_exist_and_are_not_in_the_design_map() -> None:
    modules = gateway_modules()
    assert set(PLACED_HERE) <= set(modules), "a module placed here was moved or removed: update PLACED_HERE"
    assert not set(PLACED_HERE) & set(DESIGN_LAYERS)


def test_gateway_imports_only_its_own_layer_or_lower() -> None:
    assert violations(gateway_modules()) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from gateway.api.proxy import proxy\n", ["api.proxy"]),
        ("import gateway.server\n", ["server"]),
        ("from gateway.providers import catalog\n", ["providers.catalog"]),
        ("from . import catalog\n", ["providers.catalog"]),
        ("from ..api import proxy\n", ["api.proxy"]),
        ("def f():\n    from gateway.app import create_app\n", ["app"]),
        ("try:\n    import gateway.cli\nexcept ImportError:\n    pass\n", ["cli"]),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from gateway.app import x\n", []),
        (
            "import typing\nif typing.TYPE_CHECKING:\n    import gateway.app\nelse:\n    import gateway.cli",
            ["cli"],
        ),
        ("import aiohttp\nfrom yarl import URL\n", []),
    ],
)
def test_import_scanner_sees_runtime_imports_only(source: str, expected: list[str]) -> None:
    known = {"api.proxy", "server", "providers.catalog", "app", "cli", "providers"}
    found = [target for _, target in runtime_imports(source, "providers.registry", False, known)]
    assert found == expected


def test_an_upward_import_is_reported(tmp_path: Path) -> None:
    upward = tmp_path / "catalog.py"
    upward.write_text("from gateway.streaming.relay import Relay\n", encoding="utf-8")
    problems = violations({**gateway_modules(), "providers.catalog": upward})
    assert problems == ["providers.catalog:1 (L1) imports streaming.relay (L2)"]


def test_a_module_outside_the_map_has_no_layer() -> None:
    assert layer_of("upstream.retry_budget", packages=set()) is None
    assert layer_of("api.anything_new", packages=set()) == 4
