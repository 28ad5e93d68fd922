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
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import numpy.typing as npt
from usearch.index import Index

__all__ = [
    "GraphWorker",
    "PartitionGraph",
]

_Matrix = npt.NDArray[np.float32]
_Rows = npt.NDArray[np.intp]

#: Half-precision graph vectors. int8 maps [-1, 1] onto [-127, 127], and the components of a
#: 1536-dimension unit vector are about ±0.025, so they fell on a handful of levels: 70% of
#: near-duplicates were found at 100,000 entries. docs/cache.md, "Semantic index", has the figures.
_DTYPE = "f16"
#: Links per node ("M"): more than usearch's 16, since random-like embeddings are hard to navigate.
_CONNECTIVITY = 32
#: Candidates kept while walking the graph ("ef" at search time).
_EXPANSION_SEARCH = 128
#: Graph candidates the caller re-scores exactly.
CANDIDATES = 16


class GraphWorker:
    """The thread one ``VectorIndex``'s graphs are built and updated on, started on first use.

    After ``close`` nothing more is submitted: graphs stay as they are and new rows are searched
    exactly.
    """

    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None
        self.closed = False

    def submit(
        self, graph: Index | None, changed: _Rows, live: _Rows, vectors: _Matrix
    ) -> Future[Index] | None:
        """Runs ``_apply`` on the thread; None once closed."""
        if self.closed:
            return None
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vector-graph")
        return self._executor.submit(_apply, graph, changed, live, vectors)

    def close(self) -> None:
        """Stops the thread after the job it is running; queued jobs are cancelled."""
        self.closed = True
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)


def _apply(graph: Index | None, changed: _Rows, live: _Rows, vectors: _Matrix) -> Index:
    """On the worker: a new graph of ``live`` (``graph`` None), or ``graph`` with the ``changed``
    rows taken out and the ``live`` ones put back with their current vectors. One thread, so the
    other core stays with the event loop."""
    if graph is None:
        graph = Index(
            ndim=vectors.shape[1],
            metric="cos",
            dtype=_DTYPE,
            connectivity=_CONNECTIVITY,
            expansion_search=_EXPANSION_SEARCH,
        )
    if changed.size:
        graph.remove(changed.astype(np.uint64))  # keys it does not hold are ignored
    if live.size:
        graph.add(live.astype(np.uint64), vectors, threads=1)
    return graph


class PartitionGraph:
    """One partition's graph: being built, then searched, while the worker applies the changes."""

    def __init__(self, worker: GraphWorker, rows: _Rows, vectors: _Matrix) -> None:
        """Starts building from ``rows`` (their ``vectors`` are a copy the worker owns)."""
        self._worker = worker
        self._graph: Index | None = None
        self._job = worker.submit(None, np.empty(0, np.intp), rows, vectors)
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
            if job.cancelled():  # closed: these rows will never reach the graph
                self._changed.update(self._applying.tolist())
            else:
                self._graph = job.result()
            self._job, self._applying = None, np.empty(0, np.intp)
        if self._graph is None or not self._changed:
            return
        changed = np.fromiter(self._changed, np.intp, len(self._changed))
        kept = changed[expires[changed] > -math.inf]
        self._job = self._worker.submit(self._graph, changed, kept, matrix[kept])
        if self._job is not None:
            self._applying, self._changed = changed, set()

    def candidates(self, unit: _Matrix) -> _Rows | None:
        """Rows worth re-scoring for ``unit``: the graph's nearest and every row it may not hold
        as it is now (repeats possible); None while the graph is being built (search exactly)."""
        if self._graph is None:
            return None
        found = self._graph.search(unit, CANDIDATES, threads=1)
        rows: _Rows = found.keys[: len(found)].astype(np.intp)
        if not self._changed and not self._applying.size:
            return rows
        changed = np.fromiter(self._changed, np.intp, len(self._changed))
        return np.concatenate((rows, self._applying, changed))
