"""A run in progress: the systems under comparison, one load job with /proc sampling, A B pairs, medians."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from benchmarks.processes import LoadWorker, Sampler
from benchmarks.profiles import Profile

Job = dict[str, Any]
Result = dict[str, Any]

#: Headers that send a request through a Portkey-compatible gateway to the mock (``{mock}`` = its URL),
#: forwarding the mock's knobs (gateways drop unknown headers unless told to forward them).
KNOBS = ("x-mock-latency-ms", "x-mock-body-bytes", "x-mock-chunks", "x-mock-interval-ms", "x-mock-usage")
GATEWAY_HEADERS = {
    "Authorization": "Bearer sk-bench",
    "x-portkey-provider": "openai",
    "x-portkey-custom-host": "{mock}/v1",
    "x-portkey-forward-headers": ",".join(KNOBS),
}


@dataclass
class System:
    """Something load is sent to: ``direct`` (the mock itself), ``gateway`` (ours) or ``target``."""

    name: str
    base_url: str  # ends with /v1
    headers: dict[str, str]
    pids: list[int] = field(default_factory=list)  # sampled from /proc; empty for a remote target
    #: Put before each job header (the mock's knobs): a proxy that forwards only headers so named.
    knob_prefix: str = ""


@dataclass
class Bench:
    profile: Profile
    load: LoadWorker
    direct: System
    system: System
    mock_pid: int
    #: ``start_gateway(workers, env=None)``: another gateway of ours; None with --target.
    start_gateway: Callable[..., AbstractContextManager[System]] | None
    on_run: Callable[[str], None] = lambda label: None

    def run(self, system: System, job: Job, label: str = "") -> Result:
        """One load job against ``system``, with the system's and the mock's CPU and RSS sampled."""
        self.on_run(f"{label} {system.name}".strip())
        job = {**job, "url": system.base_url + job.get("path", "/chat/completions")}
        knobs = {system.knob_prefix + k: v for k, v in job.get("headers", {}).items()}
        job["headers"] = {**system.headers, **knobs}
        job.pop("path", None)
        samplers = {"system": Sampler(system.pids), "mock": Sampler([self.mock_pid])}
        timeout = job.get("duration", 1.0) + job.get("hold", 0.0) + 120

        def tick() -> None:
            for sampler in samplers.values():
                sampler.tick()

        result = self.load.run(job, tick, timeout)
        if "failed" in result:
            raise RuntimeError(f"load job failed: {result['failed']}")
        return (
            result
            | usage_of(samplers["system"], "system", result)
            | usage_of(samplers["mock"], "mock", result)
        )

    def pairs(
        self, job_for: Callable[[System], Job], label: str, rounds: int | None = None
    ) -> dict[str, list[Result]]:
        """A B A B ...: direct then system, ``rounds`` times, so drift and noise hit both alike."""
        runs: dict[str, list[Result]] = {"direct": [], "system": []}
        for _ in range(rounds or self.profile.rounds):
            runs["direct"].append(self.run(self.direct, job_for(self.direct), label))
            runs["system"].append(self.run(self.system, job_for(self.system), label))
        return runs


def usage_of(sampler: Sampler, prefix: str, result: Result) -> Result:
    """CPU per request and RSS (start, max, end, series) of a sampled process tree during one job."""
    samples = sampler.samples
    if not sampler.pids or len(samples) < 2:
        return {}
    cpu = samples[-1][1] - samples[0][1]
    t0 = samples[0][0]
    return {
        f"{prefix}_cpu_s": cpu,
        f"{prefix}_cpu_us_per_req": cpu / max(1, result.get("completed", 0)) * 1e6,
        f"{prefix}_rss_mb": {
            "start": samples[0][2] / 2**20,
            "max": max(s[2] for s in samples) / 2**20,
            "end": samples[-1][2] / 2**20,
        },
        f"{prefix}_rss_series": [(round(t - t0, 2), round(rss / 2**20, 2)) for t, _, rss in samples[::5]],
        f"{prefix}_samples": [(t, rss, cpu) for t, cpu, rss in samples],
    }


def metric(result: Result, path: str) -> float | None:
    """``result["latency_ms"]["p50"]`` for ``"latency_ms.p50"``; None when absent."""
    value: Any = result
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return float(value) if isinstance(value, int | float) else None


def medians(runs: list[Result], keys: Iterator[str] | tuple[str, ...]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for key in keys:
        values = [v for r in runs if (v := metric(r, key)) is not None]
        out[key] = statistics.median(values) if values else None
    return out


def compare(runs: dict[str, list[Result]], keys: tuple[str, ...]) -> Result:
    """Medians per system and the system's difference to direct, for the report's tables."""
    direct, system = medians(runs["direct"], keys), medians(runs["system"], keys)
    delta = {
        k: (system[k] - d) if system[k] is not None and d is not None else None for k, d in direct.items()
    }
    return {"direct": direct, "system": system, "delta": delta}


def strip_bulky(runs: dict[str, list[Result]]) -> None:
    """Drop raw /proc samples (kept only for the plots) before results go to JSON."""
    for results in runs.values():
        for result in results:
            result.pop("system_samples", None)
            result.pop("mock_samples", None)


def now() -> float:
    return time.monotonic()
