"""VectorIndex: nearest within a partition over a threshold, expiry, replacement, eviction, the
graph path agreeing with exact search (seeded random vectors, small sizes), and the graph built and
updated off the caller's thread while every entry stays findable."""

from __future__ import annotations

import time

import numpy as np
import numpy.typing as npt
import pytest

from gateway.cache.vectors import Match, VectorIndex

DIMS = 32


def vectors(count: int, seed: int = 7, dims: int = DIMS) -> npt.NDArray[np.float32]:
    return np.random.default_rng(seed).standard_normal((count, dims)).astype(np.float32)


def near(vector: npt.NDArray[np.float32], noise: float, seed: int) -> npt.NDArray[np.float32]:
    shift = np.random.default_rng(seed).standard_normal(vector.shape).astype(np.float32)
    return vector / np.linalg.norm(vector) + noise * shift / np.linalg.norm(shift)


def filled(
    count: int, exact_below: int = 1_000_000, expires: float = 100.0
) -> tuple[VectorIndex, npt.NDArray[np.float32]]:
    data = vectors(count)
    index = VectorIndex(1_000_000, exact_below=exact_below)
    for row, vector in enumerate(data):
        index.add("p", vector.tolist(), f"k{row}", expires)
    return index, data


def settle(index: VectorIndex, partition: str = "p") -> None:
    """Searches (which is when the worker's results are taken in) until every graph is in and
    holds every row."""
    deadline = time.monotonic() + 60.0
    while not index.graphs_settled:
        assert time.monotonic() < deadline, "the graph worker never caught up"
        index.search(partition, [1.0] * (index.dimensions or 1), 2.0, now=0.0)
        time.sleep(0.005)


def test_the_nearest_entry_is_found_with_its_cosine() -> None:
    index, data = filled(50)
    match = index.search("p", near(data[17], 0.1, seed=1).tolist(), 0.9, now=0.0)
    assert match is not None
    assert match.key == "k17"
    assert 0.99 < match.score < 1.0


def test_an_exact_copy_scores_one_whatever_its_length() -> None:
    index, data = filled(5)
    match = index.search("p", (3.5 * data[2]).tolist(), 0.999, now=0.0)
    assert match == Match("k2", pytest.approx(1.0, abs=1e-5))


def test_nothing_under_the_threshold_is_a_match() -> None:
    index, data = filled(50)
    query = near(data[3], 0.6, seed=2)
    cosine = float(query @ data[3] / np.linalg.norm(query) / np.linalg.norm(data[3]))
    assert index.search("p", query.tolist(), cosine - 0.01, now=0.0) == Match(
        "k3", pytest.approx(cosine, abs=1e-5)
    )
    assert index.search("p", query.tolist(), cosine + 0.01, now=0.0) is None


def test_partitions_never_see_each_other() -> None:
    index = VectorIndex(100)
    index.add("tenant-a", [1.0, 0.0], "a", 100.0)
    index.add("tenant-b", [0.0, 1.0], "b", 100.0)
    assert index.search("tenant-a", [0.0, 1.0], -1.0, now=0.0) == Match("a", pytest.approx(0.0))
    assert index.search("tenant-b", [0.0, 1.0], 0.5, now=0.0) == Match("b", pytest.approx(1.0))
    assert index.search("tenant-c", [0.0, 1.0], -1.0, now=0.0) is None


def test_an_expired_entry_is_skipped_then_reclaimed() -> None:
    index = VectorIndex(100)
    index.add("p", [1.0, 0.0], "old", expires=10.0)
    index.add("p", [0.8, 0.6], "young", expires=20.0)
    assert index.search("p", [1.0, 0.0], 0.5, now=9.9) == Match("old", pytest.approx(1.0))
    assert index.search("p", [1.0, 0.0], 0.5, now=10.0) == Match("young", pytest.approx(0.8))
    assert index.entries == 1
    assert index.search("p", [1.0, 0.0], 0.5, now=20.0) is None
    assert index.entries == 0


def test_a_key_added_again_is_replaced_even_in_another_partition() -> None:
    index = VectorIndex(100)
    index.add("p", [1.0, 0.0], "k", 100.0)
    index.add("q", [0.0, 1.0], "k", 100.0)
    assert index.entries == 1
    assert index.search("p", [1.0, 0.0], -1.0, now=0.0) is None
    assert index.search("q", [0.0, 1.0], 0.9, now=0.0) == Match("k", pytest.approx(1.0))


def test_past_max_entries_the_oldest_across_partitions_is_evicted_and_counted() -> None:
    index = VectorIndex(3)
    index.add("p", [1.0, 0.0], "first", 100.0)
    index.add("q", [1.0, 0.0], "second", 100.0)
    index.add("p", [0.0, 1.0], "third", 100.0)
    index.add("p", [1.0, 0.0], "second", 100.0)  # replaced: now the newest, nothing evicted
    assert (index.entries, index.evictions) == (3, 0)
    index.add("q", [0.0, 1.0], "fourth", 100.0)
    assert (index.entries, index.evictions) == (3, 1)
    assert index.search("p", [1.0, 0.0], 0.9, now=0.0) == Match("second", pytest.approx(1.0))
    index.add("q", [0.0, 1.0], "fifth", 100.0)
    assert index.search("p", [0.0, 1.0], 0.9, now=0.0) is None  # "third" went next
    assert index.evictions == 2


def test_the_first_add_fixes_the_dimensions_and_other_sizes_are_refused() -> None:
    index = VectorIndex(10)
    assert index.dimensions is None
    index.add("p", [1.0, 0.0, 0.0], "k", 100.0)
    assert index.dimensions == 3
    with pytest.raises(ValueError, match="3 dimensions"):
        index.add("p", [1.0, 0.0], "other", 100.0)
    with pytest.raises(ValueError, match="3 dimensions"):
        index.search("p", [1.0, 0.0, 0.0, 0.0], 0.5, now=0.0)
    assert index.entries == 1


@pytest.mark.parametrize("vector", [[0.0, 0.0], [float("nan"), 1.0], [float("inf"), 1.0]])
def test_a_vector_without_a_direction_is_refused(vector: list[float]) -> None:
    index = VectorIndex(10)
    with pytest.raises(ValueError, match="no direction"):
        index.add("p", vector, "k", 100.0)
    assert index.dimensions is None
    assert index.entries == 0


def test_a_removed_entry_is_never_found_and_removing_twice_is_harmless() -> None:
    index = VectorIndex(10)
    index.add("p", [1.0, 0.0], "gone", 100.0)
    index.add("p", [0.6, 0.8], "kept", 100.0)
    index.remove("gone")
    index.remove("gone")
    assert index.entries == 1
    assert index.search("p", [1.0, 0.0], 0.5, now=0.0) == Match("kept", pytest.approx(0.6))


def test_rows_freed_and_reused_keep_every_key_pointing_at_its_vector() -> None:
    index, data = filled(300)
    for row in range(0, 300, 3):
        index.remove(f"k{row}")
    for row in range(0, 290, 5):
        index.remove(f"k{row}")
    for row in range(0, 300, 3):  # back into freed rows, some now after compaction
        index.add("p", data[row].tolist(), f"k{row}", 100.0)
    for row in range(300):
        match = index.search("p", data[row].tolist(), 0.999, now=0.0)
        gone = row % 5 == 0 and row % 3 != 0 and row < 290
        assert (match is None) if gone else (match is not None and match.key == f"k{row}")


def test_the_graph_path_finds_what_exact_search_finds() -> None:
    exact, data = filled(3000)
    graph, _ = filled(3000, exact_below=256)
    settle(graph)
    assert (exact.graph_partitions, graph.graph_partitions) == (0, 1)
    queries = [near(data[row], 0.3, seed=row) for row in range(0, 3000, 15)]
    expected = [exact.search("p", query.tolist(), 0.9, now=0.0) for query in queries]
    found = [graph.search("p", query.tolist(), 0.9, now=0.0) for query in queries]
    assert all(match is not None for match in expected)
    agree = sum(e == f for e, f in zip(expected, found, strict=True))
    assert agree / len(queries) >= 0.99


def test_the_graph_path_skips_expired_and_removed_entries_and_is_dropped_when_small() -> None:
    index, data = filled(400, exact_below=100, expires=50.0)
    index.add("p", near(data[0], 0.05, seed=1).tolist(), "twin", 10.0)
    settle(index)
    assert index.graph_partitions == 1
    assert index.search("p", data[0].tolist(), 0.9, now=0.0) == Match("k0", pytest.approx(1.0))
    index.remove("k0")
    assert index.search("p", data[0].tolist(), 0.9, now=0.0) == Match("twin", pytest.approx(0.9987, abs=1e-3))
    assert index.search("p", data[0].tolist(), 0.9, now=10.0) is None
    for row in range(1, 380):
        index.remove(f"k{row}")
    assert index.graph_partitions == 0
    assert index.search("p", data[390].tolist(), 0.99, now=0.0) == Match("k390", pytest.approx(1.0))


def test_an_add_crossing_exact_below_leaves_the_build_to_the_worker_and_searches_stay_complete() -> None:
    data = vectors(5000, dims=256)
    index = VectorIndex(1_000_000, exact_below=3000)
    for row, vector in enumerate(data[:3000]):
        index.add("p", vector.tolist(), f"k{row}", 100.0)
    # The add that crossed exact_below returned with the graph not built: it is swapped in later.
    assert (index.graph_partitions, index.graphs_settled) == (0, False)
    for row in (0, 1234, 2999):  # found exactly while the graph is being built
        assert index.search("p", data[row].tolist(), 0.999, now=0.0) == Match(f"k{row}", pytest.approx(1.0))
    for row, vector in enumerate(data[3000:4600], start=3000):  # more than one batch
        index.add("p", vector.tolist(), f"k{row}", 100.0)
    settle(index)
    assert index.graph_partitions == 1
    for row, vector in enumerate(data[4600:], start=4600):  # not in the graph yet, found all the same
        index.add("p", vector.tolist(), f"k{row}", 100.0)
        assert index.search("p", vector.tolist(), 0.999, now=0.0) == Match(f"k{row}", pytest.approx(1.0))
    index.remove("k4999")
    index.add("p", data[0].tolist(), "k0-again", 100.0)  # "k0" keeps its row, the new key reuses k4999's
    assert index.search("p", data[4999].tolist(), 0.999, now=0.0) is None
    settle(index)
    for row in range(0, 5000, 7):
        match = index.search("p", data[row].tolist(), 0.999, now=0.0)
        assert match is None if row == 4999 else match is not None and match.key in (f"k{row}", "k0-again")
    assert index.search("p", data[4999].tolist(), 0.999, now=0.0) is None


def test_after_close_new_entries_are_still_found() -> None:
    index, data = filled(600, exact_below=500)
    settle(index)
    index.close()
    extra = vectors(20, seed=99)
    for row, vector in enumerate(extra):
        index.add("p", vector.tolist(), f"late{row}", 100.0)
    index.remove("k5")
    for row, vector in enumerate(extra):
        assert index.search("p", vector.tolist(), 0.999, now=0.0) == Match(f"late{row}", pytest.approx(1.0))
    assert index.search("p", data[5].tolist(), 0.999, now=0.0) is None
    assert index.search("p", data[6].tolist(), 0.999, now=0.0) == Match("k6", pytest.approx(1.0))


def test_closing_during_a_build_leaves_the_partition_searched_exactly() -> None:
    data = vectors(3000, dims=256)
    index = VectorIndex(1_000_000, exact_below=2000)
    for row, vector in enumerate(data):
        index.add("p", vector.tolist(), f"k{row}", 100.0)
    index.close()
    for _ in range(3):
        for row in (0, 1999, 2999):
            assert index.search("p", data[row].tolist(), 0.999, now=0.0) == Match(
                f"k{row}", pytest.approx(1.0)
            )
        time.sleep(0.05)
