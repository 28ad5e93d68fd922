"""A vector-index partition's HNSW graph (usearch), built and kept up to date off the event loop.

The event loop only ever searches a graph. Building it (seconds for thousands of 1536-dimension
vectors) and inserting into it (milliseconds per vector) run on one worker thread per
``VectorIndex``; usearch releases the GIL in both, and its graphs take searches while they are
being added to or removed from. Until a partition's graph is built its searches stay exact; after
that, every row changed since the graph last heard of it is re-scored exactly beside the graph's
candidates, so a search always sees every entry.

Graph keys are the partition's row numbers. A row freed or reused is re-sent to the graph (removed,
then added again with its current vector when it is live), so a stale vector can only ever propose
a candidate, whose true cosine the caller computes from its own float32 rows.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial

import numpy as np
import numpy.typing as npt
from usearch.index import Index

__all__ = [
    "GraphWorker",
    "PartitionGraph",
]

_Matrix = npt.NDArray[np.float32]
_Rows = npt.NDArray[np.intp]

#: int8 graph vectors: half the size of f16 and faster to compare. A component of a 1536-dimension
#: unit vector is about ±0.025, a few of int8's levels, yet that was not why the graph missed
#: near-duplicates at 100,000 entries: 16 or 64 candidates missed the same ones, and a wider walk
#: (below) found them all. The graph only proposes; the caller re-scores in float32.
_DTYPE = "i8"
#: Candidates kept while walking the graph ("ef" at search time): one per this many entries, within
#: the bounds below. A fixed ef finds less as the graph grows: on random 1536-dimension vectors
#: ef 64 agreed with exact search for 100% of near-duplicates at 10,000 entries and 76% at 100,000,
#: where ef 256 gave 98.7% and 512 100%.
_ENTRIES_PER_EXPANSION = 200
_EXPANSION_BOUNDS = (64, 512)
#: Graph candidates the caller re-scores exactly.
CANDIDATES = 16
#: Changed rows sent to the worker at once: their vectors are copied on the event loop (6 MB at 1536
#: dimensions). Uncapped, the catch-up after a build at 100,000 × 1536 copied 600 MB: an 8 s add.
_BATCH = 1024


class GraphWorker:
    """The thread one ``VectorIndex``'s graphs are built and updated on, started on first use.

    After ``close`` nothing more is submitted: graphs stay as they are and new rows are searched
    exactly.
    """

    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None
        self.closed = False

    def submit(self, job: Callable[[], Index]) -> Future[Index] | None:
        """Runs ``job`` on the thread; None once closed."""
        if self.closed:
            return None
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vector-graph")
        return self._executor.submit(job)

    def going_on(self, done: int, total: int) -> bool:
        """usearch's progress callback: a job running when ``close`` is called stops at the next
        vector (with a RuntimeError), so the process does not wait for a long build to exit."""
        return not self.closed

    def close(self) -> None:
        """Stops the thread: the running job at its next vector, queued ones are cancelled."""
        self.closed = True
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)


# usearch checks a progress callback's annotations against the types themselves; this module's are
# strings (``from __future__ import annotations``).
GraphWorker.going_on.__annotations__.update({"done": int, "total": int, "return": bool})


def _add(graph: Index, rows: _Rows, vectors: _Matrix, growing: threading.Lock, worker: GraphWorker) -> None:
    """Inserts on one thread (the other core stays with the event loop). usearch takes searches
    while it inserts, but not while it reallocates to grow (the add that reaches its capacity), so
    that one add holds ``growing``, which searches take too; the others run beside searches."""
    keys = rows.astype(np.uint64)
    start = 0
    while start < len(keys):
        room = graph.capacity - len(graph) - 1  # usearch grows when size + count >= capacity
        if room > 0:
            graph.add(
                keys[start : start + room], vectors[start : start + room], threads=1, progress=worker.going_on
            )
            start += room
            continue
        with growing:
            graph.add(keys[start : start + 1], vectors[start : start + 1], threads=1)
        start += 1
    low, high = _EXPANSION_BOUNDS
    with growing:  # usearch's setter is unannotated, so mypy takes the property for read-only
        graph.expansion_search = min(high, max(low, len(graph) // _ENTRIES_PER_EXPANSION))  # type: ignore[misc]


class PartitionGraph:
    """One partition's graph: being built, then searched, while the worker applies the changes."""

    def __init__(self, worker: GraphWorker, rows: _Rows, vectors: _Matrix) -> None:
        """Starts building from ``rows`` (their ``vectors`` are a copy the worker owns)."""
        self._worker = worker
        self._graph: Index | None = None
        self._growing = threading.Lock()
        self._job = worker.submit(partial(self._build, rows, vectors))
        # Rows changed since the last job was sent, and those the running job is applying.
        self._changed: set[int] = set()
        self._applying: _Rows = np.empty(0, np.intp)

    @property
    def ready(self) -> bool:
        """Whether searches go through the graph (it has been built and swapped in)."""
        return self._graph is not None

    @property
    def settled(self) -> bool:
        """Whether the graph is in and holds every row as it is now (nothing left to apply)."""
        return self._graph is not None and self._job is None and not self._changed

    def changed(self, row: int) -> None:
        """``row`` was freed, or given a new vector: searches re-score it until the graph has it."""
        self._changed.add(row)

    def sync(self, matrix: _Matrix, expires: npt.NDArray[np.float64]) -> None:
        """Swaps in what the worker finished and sends it the rows changed since (without waiting).
        ``expires`` is per row of ``matrix``, minus infinity for a free row."""
        job = self._job
        if job is not None:
            if not job.done():
                return
            if job.cancelled() or (self._worker.closed and job.exception() is not None):
                # Stopped by close: these rows will never reach the graph.
                self._changed.update(self._applying.tolist())
            else:
                self._graph = job.result()
            self._job, self._applying = None, np.empty(0, np.intp)
        if self._graph is None or not self._changed:
            return
        count = min(len(self._changed), _BATCH)
        changed = np.fromiter(self._changed, np.intp, count)
        kept = changed[expires[changed] > -math.inf]
        self._job = self._worker.submit(partial(self._update, self._graph, changed, kept, matrix[kept]))
        if self._job is not None:
            self._applying = changed
            self._changed.difference_update(changed.tolist())

    def candidates(self, unit: _Matrix) -> _Rows | None:
        """Rows worth re-scoring for ``unit``: the graph's nearest and every row it may not hold
        as it is now (repeats possible); None while the graph is being built (search exactly)."""
        if self._graph is None:
            return None
        with self._growing:
            found = self._graph.search(unit, CANDIDATES, threads=1)
        rows: _Rows = found.keys[: len(found)].astype(np.intp)
        if not self._changed and not self._applying.size:
            return rows
        changed = np.fromiter(self._changed, np.intp, len(self._changed))
        return np.concatenate((rows, self._applying, changed))

    def _build(self, rows: _Rows, vectors: _Matrix) -> Index:
        """On the worker: a new graph of ``rows``; nothing searches it before it is returned."""
        graph = Index(ndim=vectors.shape[1], metric="cos", dtype=_DTYPE)
        _add(graph, rows, vectors, self._growing, self._worker)
        return graph

    def _update(self, graph: Index, changed: _Rows, live: _Rows, vectors: _Matrix) -> Index:
        """On the worker: ``graph`` with the ``changed`` rows taken out and the ``live`` ones put
        back with their current ``vectors``."""
        graph.remove(changed.astype(np.uint64))  # keys it does not hold are ignored
        _add(graph, live, vectors, self._growing, self._worker)
        return graph
