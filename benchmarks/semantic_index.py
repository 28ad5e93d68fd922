"""The semantic cache's vector index, in-process: ``python -m benchmarks.semantic_index``.

Fills one partition with random unit vectors and searches it with near-duplicates of stored ones
(cosine about 0.995, threshold 0.9), as a rephrased question would. Reports, per size, the add time,
search p50/p99 for exact numpy search and for the graph path, how often the graph path returns the
exact answer, and the process's RSS growth per entry; then the smallest partition where the graph
path's p50 beats exact search (what ``gateway.cache.vectors.EXACT_BELOW`` is set from). Needs the
``semantic`` extra. ``--sizes 300 --dims 32 --crossover-to 512`` is the smoke run.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from gateway.cache.vectors import EXACT_BELOW, Match, VectorIndex

Vectors = npt.NDArray[np.float32]
THRESHOLD = 0.9
EXPIRES = float("inf")


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


def build(data: Vectors, exact_below: int) -> tuple[VectorIndex, float, float]:
    """(the index, µs per add, RSS bytes grown per entry)."""
    index = VectorIndex(len(data) + 1, exact_below=exact_below)
    before = rss()
    started = time.perf_counter()
    for row, vector in enumerate(data):
        index.add("p", vector, f"{row:064x}", EXPIRES)
    spent = time.perf_counter() - started
    return index, spent / len(data) * 1e6, (rss() - before) / len(data)


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


def compare(size: int, dims: int, queries: int) -> None:
    data = unit_vectors(size, dims, seed=size)
    asked = near_duplicates(data, queries, seed=size + 7)
    exact, exact_add, exact_bytes = build(data, exact_below=size + 1)
    expected, exact_p50, exact_p99 = searched(exact, asked)
    del exact
    graph, graph_add, graph_bytes = build(data, exact_below=min(EXACT_BELOW, size))
    found, graph_p50, graph_p99 = searched(graph, asked)
    agree = sum(e == f for e, f in zip(expected, found, strict=True)) / queries
    print(
        f"{size:>7,} x {dims}: exact add {exact_add:6.1f} µs, search p50 {exact_p50:8.1f}"
        f" p99 {exact_p99:8.1f} µs, {exact_bytes:6,.0f} B/entry |"
        f" graph add {graph_add:6.1f} µs, search p50 {graph_p50:6.1f}"
        f" p99 {graph_p99:6.1f} µs, {graph_bytes:6,.0f} B/entry, same answer {agree:.1%}"
    )


def crossover(dims: int, sizes: Sequence[int], queries: int) -> None:
    """Grows one exact and one graph partition together and prints, at each size, both p50s, up to
    the first size where the graph path is faster."""
    data = unit_vectors(sizes[-1], dims, seed=1)
    exact = VectorIndex(len(data), exact_below=len(data) + 1)
    graph = VectorIndex(len(data), exact_below=2)
    filled = 0
    for size in sizes:
        for row in range(filled, size):
            exact.add("p", data[row], str(row), EXPIRES)
            graph.add("p", data[row], str(row), EXPIRES)
        filled = size
        asked = near_duplicates(data[:size], queries, seed=size)
        exact_p50, graph_p50 = searched(exact, asked)[1], searched(graph, asked)[1]
        print(f"crossover {size:>6,} x {dims}: exact p50 {exact_p50:7.1f} µs, graph p50 {graph_p50:7.1f} µs")
        if graph_p50 < exact_p50:
            print(f"crossover: the graph is faster from {size:,} entries (EXACT_BELOW = {EXACT_BELOW:,})")
            return
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
