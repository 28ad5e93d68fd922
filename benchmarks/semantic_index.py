"""The semantic cache's vector index, in-process: ``python -m benchmarks.semantic_index``.

Fills one partition with random unit vectors and searches it with near-duplicates of stored ones
(cosine about 0.995, threshold 0.9), as a rephrased question would. Each index is built in a fresh
process of its own (so its RSS growth is its memory), once searched exactly and once through the
graph. Reports, per size, the add time on the caller's thread (p50, p99 and the longest: the graph is
built and updated on a worker thread), how long the worker took to catch up, search p50/p99, how
often the graph path returns the exact answer, and RSS growth per entry; then the smallest partition
where the graph path's p50 beats exact search (what ``gateway.cache.vectors.EXACT_BELOW`` is set
from). Random vectors are the hard case for a graph: real embeddings cluster. Needs the ``semantic``
extra. ``--sizes 3000 --dims 32 --crossover-to 512`` is the smoke run.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gateway.cache.vectors import EXACT_BELOW, Match, VectorIndex

Vectors = npt.NDArray[np.float32]
THRESHOLD = 0.9
EXPIRES = float("inf")


@dataclass(frozen=True)
class Run:
    """One index built and searched in its own process."""

    found: list[str | None]
    add: tuple[float, float, float]  # µs: p50, p99, longest
    catch_up: float  # s the worker still needed after the last add
    search: tuple[float, float]  # µs: p50, p99
    bytes_per_entry: float


def unit_vectors(count: int, dims: int, seed: int) -> Vectors:
    data = np.random.default_rng(seed).standard_normal((count, dims)).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    return data


def near_duplicates(data: Vectors, count: int, seed: int) -> Vectors:
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(data), count)
    noise = unit_vectors(count, data.shape[1], seed + 1)
    return data[rows] + np.float32(0.1) * noise


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def settle(index: VectorIndex, probe: Vectors) -> None:
    """Searches (when the worker's results are taken in) until every graph holds every row."""
    while not index.graphs_settled:
        index.search("p", probe, THRESHOLD, 0.0)
        time.sleep(0.01)


def searched(index: VectorIndex, queries: Vectors) -> tuple[list[Match | None], float, float]:
    """(the matches, p50 µs, p99 µs)."""
    found: list[Match | None] = []
    times = []
    for query in queries:
        started = time.perf_counter()
        found.append(index.search("p", query, THRESHOLD, 0.0))
        times.append(time.perf_counter() - started)
    p50, p99 = np.percentile(np.array(times) * 1e6, [50, 99])
    return found, float(p50), float(p99)


def run(size: int, dims: int, queries: int, exact_below: int) -> Run:
    """In a process of its own: fills one partition, lets the worker catch up, searches it."""
    data = unit_vectors(size, dims, seed=size)
    asked = near_duplicates(data, queries, seed=size + 7)
    index = VectorIndex(size + 1, exact_below=exact_below)
    before = rss()
    times = np.empty(size)
    for row, vector in enumerate(data):
        started = time.perf_counter()
        index.add("p", vector, f"{row:064x}", EXPIRES)
        times[row] = time.perf_counter() - started
    started = time.perf_counter()
    settle(index, asked[0])
    catch_up = time.perf_counter() - started
    grown = rss() - before
    found, p50, p99 = searched(index, asked)
    index.close()
    add_p50, add_p99 = np.percentile(times * 1e6, [50, 99])
    return Run(
        [match.key if match else None for match in found],
        (float(add_p50), float(add_p99), float(times.max() * 1e6)),
        catch_up,
        (p50, p99),
        grown / size,
    )


def isolated(size: int, dims: int, queries: int, exact_below: int) -> Run:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(run, (size, dims, queries, exact_below))


def compare(size: int, dims: int, queries: int) -> None:
    exact = isolated(size, dims, queries, exact_below=size + 1)
    graph = isolated(size, dims, queries, exact_below=min(EXACT_BELOW, size))
    agree = sum(e == f for e, f in zip(exact.found, graph.found, strict=True)) / queries
    for name, measured in (("exact", exact), ("graph", graph)):
        print(
            f"{size:>7,} x {dims:<4} {name}: add p50 {measured.add[0]:5.1f} p99 {measured.add[1]:6.1f}"
            f" max {measured.add[2] / 1e3:6.1f} ms, worker caught up {measured.catch_up:6.1f} s later,"
            f" search p50 {measured.search[0]:8.1f} p99 {measured.search[1]:8.1f} µs,"
            f" {measured.bytes_per_entry:6,.0f} B/entry"
        )
    print(f"{size:>7,} x {dims:<4} graph gives the exact answer for {agree:.1%} of {queries} queries")


def crossover(dims: int, sizes: Sequence[int], queries: int) -> None:
    """Grows one exact and one graph partition together and prints, at each size, both p50s, up to
    the first size where the graph path is faster."""
    data = unit_vectors(sizes[-1], dims, seed=1)
    exact = VectorIndex(len(data), exact_below=len(data) + 1)
    graph = VectorIndex(len(data), exact_below=2)
    filled = 0
    try:
        for size in sizes:
            for row in range(filled, size):
                exact.add("p", data[row], str(row), EXPIRES)
                graph.add("p", data[row], str(row), EXPIRES)
            filled = size
            settle(graph, data[0])
            asked = near_duplicates(data[:size], queries, seed=size)
            exact_p50, graph_p50 = searched(exact, asked)[1], searched(graph, asked)[1]
            print(
                f"crossover {size:>6,} x {dims}: exact p50 {exact_p50:7.1f} µs, graph p50 {graph_p50:7.1f} µs"
            )
            if graph_p50 < exact_p50:
                print(f"crossover: the graph is faster from {size:,} entries (EXACT_BELOW = {EXACT_BELOW:,})")
                return
    finally:
        graph.close()
    print(f"crossover: exact search stays faster up to {sizes[-1]:,} entries (EXACT_BELOW = {EXACT_BELOW:,})")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.semantic_index", description=__doc__)
    parser.add_argument("--sizes", default="10000,100000", help="entries in the partition, comma-separated")
    parser.add_argument("--dims", default="1536,256", help="dimensions, comma-separated (memory differs)")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--crossover-to", type=int, default=16384, help="largest size the crossover tries")
    args = parser.parse_args(argv)
    dims = [int(value) for value in args.dims.split(",")]
    for dim in dims:
        for size in (int(value) for value in args.sizes.split(",")):
            compare(size, dim, args.queries)
    steps = [size for size in (2**power for power in range(7, 20)) if size <= args.crossover_to]
    crossover(dims[0], steps, args.queries)


if __name__ == "__main__":
    main()
