"""``python -m benchmarks compare --stages``: what each optional stage of this gateway costs.

Each stage runs in a gateway process of its own, started with the settings that turn it on, beside
one started as ``make run`` starts it (the default); every round measures each of them in turn with
the same load (non-streamed chat at 64 connections), so a stage's price is its CPU µs per request
minus the default's, from the same run. A stage whose tool is absent (``redis-server``, the ``redis``
or ``otel`` extra) is reported "not installed" and not run.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import contenders
from benchmarks.bench import Bench, Result, System, strip_bulky
from benchmarks.processes import Child, free_port, wait_port
from benchmarks.profiles import CompareProfile
from benchmarks.scenarios import FIVE_CHECKS

KEY = "gk-bench-stages-0123456789abcdef"


@dataclass(frozen=True, slots=True)
class Stage:
    """One gateway process: the settings (environment) and per-request headers that turn a stage on.
    ``needs`` names what must be installed; ``config`` is a TOML file's text (``{redis}`` = its URL)."""

    name: str
    env: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    config: str = ""
    needs: tuple[str, ...] = ()


def _keys_config(backend: str) -> str:
    """A gateway key with limits never reached, counted in ``backend``; the provider's key in settings."""
    redis = '\nredis_url = "{redis}"' if backend == "redis" else ""
    return (
        f'[keys]\nenabled = true{redis}\n[rate_limits]\nbackend = "{backend}"\n'
        f'[gateway_keys.bench]\nkey = "{KEY}"\n'
        "limits = { requests_per_minute = 1000000000, concurrent_requests = 100000 }\n"
        '[providers.openai]\napi_key = "sk-bench"\n'
    )


_GATEWAY_KEY = {"Authorization": f"Bearer {KEY}"}
STAGES = (
    Stage("default settings (metrics, admission, breakers)"),
    Stage("access log, one line per request", env={"GATEWAY_ACCESS_LOG": "1"}),
    Stage("gateway keys + rate limits, in memory", headers=_GATEWAY_KEY, config=_keys_config("memory")),
    Stage(
        "gateway keys + rate limits, in Redis",
        headers=_GATEWAY_KEY,
        config=_keys_config("redis"),
        needs=("redis-server", "redis"),
    ),
    # max_age 0: every lookup misses and nothing is stored (the answer is still captured for it)
    Stage("cache lookup, MISS", env={"GATEWAY_CACHE_MODE": "simple", "GATEWAY_CACHE_MAX_AGE": "0"}),
    Stage("cache lookup, HIT (no upstream call)", env={"GATEWAY_CACHE_MODE": "simple"}),
    Stage("five guardrail checks", headers={"x-portkey-config": json.dumps(FIVE_CHECKS)}),
    # the mock answers the OTLP export too (any POST gets a 200), so spans are built, batched and sent
    Stage("tracing (OpenTelemetry)", env={"OTEL_TRACES_EXPORTER": "otlp"}, needs=("opentelemetry.sdk",)),
)


def available(need: str) -> bool:
    """A command on PATH (``redis-server``) or an importable module (``redis``, ``opentelemetry.sdk``)."""
    if "-" in need:
        return shutil.which(need) is not None
    try:
        return importlib.util.find_spec(need) is not None
    except ModuleNotFoundError:  # a missing parent package
        return False


@contextlib.contextmanager
def redis_server(log_dir: Path) -> Iterator[str]:
    """A throwaway ``redis-server`` on 127.0.0.1 (nothing saved), stopped on exit; yields its URL."""
    port = free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    log = (log_dir / "redis.log").open("ab")
    popen = subprocess.Popen(
        [*command, "--dir", str(log_dir)], stdout=log, stderr=log, start_new_session=True
    )
    log.close()
    child = Child("redis", popen)
    try:
        wait_port(port, child)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        child.stop()


def _start(stage: Stage, where: contenders.Where, redis_url: str, index: int) -> Any:
    env = contenders.NO_LAG_SHEDDING | stage.env  # in every process: a stage is priced by its work
    if stage.name.startswith("tracing"):
        env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = f"{where.mock_url}/v1/traces"
    if stage.config:
        path = where.log_dir / f"stage-{index}.toml"
        path.write_text(stage.config.replace("{redis}", redis_url))
        env["GATEWAY_CONFIG"] = str(path)
    return contenders.gateway(where, 1, env, name=f"gateway-stage-{index}")


def run_stages(bench: Bench, timing: CompareProfile, where: contenders.Where) -> dict[str, Any]:
    """Every stage that can run here, interleaved with the default; the rows of the stages table."""
    missing = [s.name for s in STAGES if not all(available(n) for n in s.needs)]
    runnable = [s for s in STAGES if s.name not in missing]
    runs: dict[str, list[Result]] = {s.name: [] for s in runnable}
    with contextlib.ExitStack() as stack:
        redis_url = stack.enter_context(redis_server(where.log_dir)) if available("redis-server") else ""
        systems: dict[str, System] = {}
        for index, stage in enumerate(runnable):
            systems[stage.name] = stack.enter_context(_start(stage, where, redis_url, index))
        job = {"concurrency": 64, "duration": timing.seconds, "warmup": timing.warmup}
        for stage in runnable:
            bench.run(
                systems[stage.name], {"concurrency": 8, "duration": 0.3, "headers": stage.headers}, "warm-up"
            )
        for _ in range(timing.rounds):
            for stage in runnable:
                result = bench.run(systems[stage.name], job | {"headers": stage.headers}, stage.name)
                runs[stage.name].append(result)
    strip_bulky(runs)
    return {"stages": runs, "missing": missing}
