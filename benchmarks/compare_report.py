"""The tables ``python -m benchmarks compare`` writes, and the README section they go into."""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks.bench import metric

#: Columns of the compare table: system key → heading (2-worker keys are "<key> 2w").
COLUMNS = {
    "nginx": "nginx",
    "bare aiohttp": "bare aiohttp pass-through",
    "portkey": "Portkey",
    "litellm": "LiteLLM",
    "gateway": "this gateway",
    "gateway no lag shedding": "this gateway, loop-lag shedding off",
}
NOT_INSTALLED = "not installed"
#: A cell whose figure had no request answered 200 (see ``unanswered`` in compare's figures).
FAILED = "failed"
README_HEADING = "## Performance"
README_ANCHOR = "[Performance](#performance)"


def _n(value: float | None, pattern: str) -> str | None:
    return None if value is None else pattern.format(value)


_PERCENT = "{:.0%} / {:.0%}"


def rows(held: int) -> list[tuple[str, str, Any]]:
    """(row label, system key suffix, cell maker from a figures row) in the table's order. A cell
    made of a figure that had no request answered 200 says "failed" (its share row says 100 %)."""

    def pair(a: str, b: str, pattern: str) -> Any:
        return lambda f: None if f.get(a) is None or f.get(b) is None else pattern.format(f[a], f[b])

    def of(figure: str, cell: Any) -> Any:
        return lambda f: FAILED if figure in f.get("unanswered", ()) else cell(f)

    def rps(f: dict[str, Any]) -> str | None:
        return _n(f.get("rps"), "{:,.0f}")

    def cpu(f: dict[str, Any]) -> str | None:
        return _n(f.get("cpu_us"), "{:.0f} µs")

    def stream_rps(f: dict[str, Any]) -> str | None:
        return _n(f.get("stream_rps"), "{:,.0f}")

    return [
        ("non-stream req/s, 64 connections", "", of("chat_c64", rps)),
        ("CPU per non-stream request", "", of("chat_c64", cpu)),
        ("20-chunk streams/s, 64 connections", "", of("stream_c64", stream_rps)),
        ("CPU per 20-chunk stream", "", of("stream_c64", lambda f: _n(f.get("stream_cpu_us"), "{:.0f} µs"))),
        (
            "not answered 200 at 64 connections, non-stream / stream",
            "",
            pair("failed", "stream_failed", _PERCENT),
        ),
        (
            "added p50 / p99 at 1 connection",
            "",
            of("chat_c1", pair("added_p50_ms", "added_p99_ms", "{:+.2f} / {:+.2f} ms")),
        ),
        (f"RSS idle / {held} paced streams", "", _rss),
        ("non-stream req/s, 64 connections, 2 workers", " 2w", of("chat_c64", rps)),
        ("CPU per non-stream request, 2 workers", " 2w", of("chat_c64", cpu)),
        ("not answered 200, 2 workers", " 2w", pair("failed", "stream_failed", _PERCENT)),
        ("20-chunk streams/s, 64 connections, 2 workers", " 2w", of("stream_c64", stream_rps)),
    ]


def _rss(f: dict[str, Any]) -> str | None:
    """Idle / held RSS; idle still counts when no stream could be held open (held says "failed")."""
    idle, held = f.get("rss_idle_mb"), f.get("rss_held_mb")
    if idle is not None and "held" in f.get("unanswered", ()):
        return f"{idle:.0f} MB / {FAILED}"
    return None if idle is None or held is None else f"{idle:.0f} / {held:.0f} MB"


def table(document: dict[str, Any], held: int) -> str:
    """The compare table: a row per figure, a column per contender ("not installed" when absent,
    "—" where a figure does not apply, e.g. 2 workers of a 1-process contender)."""
    figures, missing = document["figures"], set(document["missing"])
    lines = ["| per core | " + " | ".join(COLUMNS.values()) + " |", "|---|" + "---:|" * len(COLUMNS)]
    for label, suffix, cell in rows(held):
        cells = []
        for key in COLUMNS:
            if key in missing:
                cells.append(NOT_INSTALLED)
            else:
                cells.append(cell(figures.get(key + suffix, {})) or "—")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def stages_table(document: dict[str, Any]) -> str:
    """A row per stage: CPU µs per request, its difference to the default, req/s, failed requests."""
    lines = [
        "| stage (own gateway process) | CPU per request | vs default | req/s, 64 connections | non-200 |",
        "|---|---:|---:|---:|---:|",
    ]
    medians = {name: _medians(runs) for name, runs in document["stages"].items()}
    base = next(iter(medians.values()), {}).get("cpu")
    for index, (name, m) in enumerate(medians.items()):
        cpu, rps = _n(m["cpu"], "{:.0f} µs") or "—", _n(m["rps"], "{:,.0f}") or "—"
        extra = "—" if index == 0 or base is None or m["cpu"] is None else f"{m['cpu'] - base:+.0f} µs"
        lines.append(f"| {name} | {cpu} | {extra} | {rps} | {m['errors']:.0f} |")
    lines += [f"| {name} | {NOT_INSTALLED} | | | |" for name in document["missing"]]
    return "\n".join(lines)


def _medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    def med(path: str) -> float | None:
        values = [v for r in runs if (v := metric(r, path)) is not None]
        return statistics.median(values) if values else None

    errors = sum(sum(r.get("errors", {}).values()) for r in runs)
    return {"cpu": med("system_cpu_us_per_req"), "rps": med("rps"), "errors": errors}


def machine_line(meta: dict[str, Any]) -> str:
    return (
        f"{meta['date']}, {meta['cpu']}, {meta['cores']} cores, Linux {meta['kernel']}, "
        f"Python {meta['python']}, gateway commit {meta['gateway_commit']}, {meta['profile']} profile"
    )


def markdown(document: dict[str, Any], text: str) -> str:
    meta = document["meta"]
    pinning = "; ".join(f"{k}: {v}" for k, v in meta["pinning"].items())
    return f"# Gateway comparison\n\n- {machine_line(meta)}\n- CPU pinning: {pinning}\n\n{text}\n" + (
        "\n![req/s and CPU per request](compare.png)\n" if "figures" in document else ""
    )


def _marker(kind: str) -> tuple[str, str]:
    command = "compare --stages" if kind == "stages" else "compare"
    return f"<!-- {kind}: python -m benchmarks {command} --readme -->", f"<!-- /{kind} -->"


def with_section(readme: str, document: dict[str, Any], text: str) -> str:
    """``readme`` with the table in its Performance section (the section and its Contents link are
    created on first use, before Architecture); only the block of the same kind is replaced, and a
    new compare block goes first in the section, a new stages block last."""
    kind = "compare" if "figures" in document else "stages"
    start, end = _marker(kind)
    intro = (
        "Side by side in one run, `python -m benchmarks compare` (each pinned to one core, the mock\n"
        "and the load generator on the other, 2 rounds interleaved, medians;\n"
        "[Benchmarks](docs/benchmarks.md#compare)). The machine is shared: absolute figures drift between\n"
        "runs, so read the columns against each other."
        if kind == "compare"
        else "What each optional stage costs, `python -m benchmarks compare --stages` (a gateway process\n"
        "each, loop-lag shedding off in all of them, non-streamed chat at 64 connections, interleaved\n"
        "with the default):"
    )
    block = f"{start}\n{intro}\n\n{text}\n\nMeasured {machine_line(document['meta'])}.\n{end}"
    if start in readme:
        before, _, rest = readme.partition(start)
        return before + block + rest.partition(end)[2]
    if README_HEADING + "\n" not in readme:
        readme = readme.replace("\n## Architecture\n", f"\n{README_HEADING}\n\n## Architecture\n", 1)
        readme = readme.replace(
            "[Architecture](#architecture)", f"{README_ANCHOR}, [Architecture](#architecture)", 1
        )
    head, _, tail = readme.partition(README_HEADING + "\n")
    body, sep, rest = tail.partition("\n## ")
    parts = [block, body.strip()] if kind == "compare" else [body.strip(), block]  # compare first
    return f"{head}{README_HEADING}\n\n" + "\n\n".join(p for p in parts if p) + f"\n{sep}{rest}"
