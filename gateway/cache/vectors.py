"""The semantic cache's vector index, in this process's memory.

Entries live in partitions (the caller's partition key: tenant, provider, model, parameters and the
earlier conversation), and a search only ever looks inside one. Each partition keeps its unit-normalised
float32 vectors in one contiguous matrix, grown by doubling. Below ``exact_below`` entries a search is
one matrix-vector product over it; from there on a usearch HNSW graph (``cache/vector_graph.py``)
proposes candidates and the float32 rows re-score them, so the threshold is always applied to the true
cosine. Numbers: docs/cache.md, "Semantic index" (``python -m benchmarks.semantic_index``).

Nothing here awaits: every call runs to completion on the event loop, in microseconds to a
millisecond or two. The graphs are built and updated on a worker thread (``close`` stops it); a
partition is searched exactly until its graph is in. Needs the ``semantic`` extra (numpy, usearch).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gateway.cache.vector_graph import GraphWorker, PartitionGraph

__all__ = [
    "EXACT_BELOW",
    "Match",
    "VectorIndex",
]

_Matrix = npt.NDArray[np.float32]

#: Where one exact search costs what one graph search does on this 2-core VM at 1536 dimensions
#: (``python -m benchmarks.semantic_index`` prints the crossover).
EXACT_BELOW = 2048
#: Expired rows are looked for at most this often per partition (seconds): a sweep reads every row.
_SWEEP_GAP = 1.0
#: Rows a partition's matrix starts with; it never shrinks below this.
_MIN_ROWS = 16
#: A removed or expired row: no ``now`` is below it, so searches skip it without another mask.
_FREE = -math.inf


@dataclass(frozen=True, slots=True)
class Match:
    """The entry a search found: its key and its cosine similarity to the query."""

    key: str
    score: float


@dataclass(slots=True)
class _Slot:
    """Where one key's vector is: its partition and its row there (compaction moves rows)."""

    key: str
    partition: _Partition
    row: int


class _Partition:
    """One partition's rows: the float32 matrix, each row's expiry and owner, and the graph once big."""

    def __init__(self, name: str, dimensions: int, worker: GraphWorker) -> None:
        self.name = name
        self._worker = worker
        self.matrix: _Matrix = np.empty((_MIN_ROWS, dimensions), dtype=np.float32)
        self.expires = np.full(_MIN_ROWS, _FREE, dtype=np.float64)
        self.owners: list[_Slot | None] = []
        self.free: list[int] = []
        self.live = 0
        self.next_sweep = math.inf
        self.graph: PartitionGraph | None = None

    @property
    def top(self) -> int:
        """Rows in use or freed below the high-water mark: what an exact search reads."""
        return len(self.owners)

    def put(self, slot: _Slot, unit: _Matrix, expires: float, exact_below: int) -> None:
        """Stores ``unit`` in a free row (or a new one) and points ``slot`` at it."""
        row = self.free.pop() if self.free else self._new_row()
        self.matrix[row] = unit
        self.expires[row] = expires
        self.owners[row] = slot
        slot.row = row
        self.live += 1
        self.next_sweep = min(self.next_sweep, expires)
        if self.graph is not None:
            self.graph.changed(row)
            self.sync()
        elif self.live >= exact_below:
            rows = np.flatnonzero(self.expires[: self.top] > _FREE)
            self.graph = PartitionGraph(self._worker, rows, self.matrix[rows])

    def drop(self, row: int, exact_below: int) -> None:
        """Frees ``row``; gives the graph up well below ``exact_below`` and compacts a sparse matrix."""
        self.expires[row] = _FREE
        self.owners[row] = None
        self.free.append(row)
        self.live -= 1
        if self.graph is not None:
            if self.live >= exact_below // 2:
                self.graph.changed(row)
                self.sync()
                return  # rows stay where the graph knows them; freed ones are reused by put
            self.graph = None  # a job still running on it finishes into nothing
        if self.top > _MIN_ROWS and self.live * 4 <= self.top:
            self._compact()

    def search(self, unit: _Matrix, threshold: float, now: float) -> Match | None:
        """The best unexpired row with cosine >= threshold, exactly or through the graph."""
        candidates = None
        if self.graph is not None:
            self.sync()
            candidates = self.graph.candidates(unit)
        row, score = self._exact(unit, now) if candidates is None else self._rescored(candidates, unit, now)
        owner = self.owners[row] if row >= 0 else None
        if owner is None or score < threshold:
            return None
        return Match(owner.key, score)

    def _exact(self, unit: _Matrix, now: float) -> tuple[int, float]:
        scores = self.matrix[: self.top] @ unit
        scores[self.expires[: self.top] <= now] = -math.inf  # expired and free rows
        row = int(np.argmax(scores))
        return row, float(scores[row])

    def sync(self) -> None:
        """Lets the graph swap in the worker's results and send it the rows changed since."""
        if self.graph is not None:
            self.graph.sync(self.matrix, self.expires)

    def _rescored(self, rows: npt.NDArray[np.intp], unit: _Matrix, now: float) -> tuple[int, float]:
        # The graph's distances are int8 approximations: the float32 rows give the true cosine.
        rows = rows[self.expires[rows] > now]
        if rows.size == 0:
            return -1, -math.inf
        scores = self.matrix[rows] @ unit
        best = int(np.argmax(scores))
        return int(rows[best]), float(scores[best])

    def expired(self, now: float) -> list[_Slot]:
        """The slots of rows expired by ``now``; schedules the next look."""
        expires = self.expires[: self.top]
        rows = np.flatnonzero((expires > _FREE) & (expires <= now))
        remaining = expires[expires > now]
        earliest = float(remaining.min()) if remaining.size else math.inf
        self.next_sweep = max(now + _SWEEP_GAP, earliest)
        return [slot for row in rows.tolist() if (slot := self.owners[row]) is not None]

    def _new_row(self) -> int:
        row = self.top
        if row == len(self.matrix):
            self._resize(2 * row)
        self.owners.append(None)
        return row

    def _resize(self, rows: int) -> None:
        matrix = np.empty((rows, self.matrix.shape[1]), dtype=np.float32)
        expires = np.full(rows, _FREE, dtype=np.float64)
        kept = min(rows, self.top)
        matrix[:kept] = self.matrix[:kept]
        expires[:kept] = self.expires[:kept]
        self.matrix, self.expires = matrix, expires

    def _compact(self) -> None:
        """Moves the live rows to the front and halves the matrix while it stays over twice as big."""
        rows = [row for row, owner in enumerate(self.owners) if owner is not None]
        self.matrix[: len(rows)] = self.matrix[rows]
        self.expires[: len(rows)] = self.expires[rows]
        self.expires[len(rows) :] = _FREE
        self.owners = [self.owners[row] for row in rows]
        for row, owner in enumerate(self.owners):
            if owner is not None:
                owner.row = row
        self.free = []
        capacity = len(self.matrix)
        while capacity > _MIN_ROWS and capacity >= 4 * max(self.top, 1):
            capacity //= 2
        if capacity != len(self.matrix):
            self._resize(capacity)


class VectorIndex:
    """Vectors by partition, each under a key, each with an absolute expiry time.

    ``entries`` counts stored vectors, expired ones included until a search of their partition
    reclaims them (a sweep at most once a second per partition, and only once one may have expired).
    Past ``max_entries`` the oldest entry, across all partitions, is evicted and counted in
    ``evictions``. ``dimensions`` is fixed by the first add; a vector of another size, or one that
    cannot be normalised (zero, NaN, infinite), raises ValueError in ``add`` and ``search``.
    """

    def __init__(self, max_entries: int, exact_below: int = EXACT_BELOW) -> None:
        if max_entries < 1 or exact_below < 2:
            raise ValueError("max_entries must be at least 1 and exact_below at least 2")
        self._max_entries = max_entries
        self._exact_below = exact_below
        # Insertion order is the eviction order: the front is the oldest entry.
        self._slots: OrderedDict[str, _Slot] = OrderedDict()
        self._partitions: dict[str, _Partition] = {}
        self.evictions = 0
        self.dimensions: int | None = None
        self._worker = GraphWorker()

    @property
    def entries(self) -> int:
        return len(self._slots)

    @property
    def graph_partitions(self) -> int:
        """Partitions searched through the graph (at or over ``exact_below`` entries, once built)."""
        return sum(part.graph is not None and part.graph.ready for part in self._partitions.values())

    @property
    def graphs_settled(self) -> bool:
        """Whether every graph is built and holds every row (as of each partition's last add or
        search, which is when the worker's results are taken in)."""
        return all(part.graph is None or part.graph.settled for part in self._partitions.values())

    def close(self) -> None:
        """Stops the graph worker; the index keeps answering, and searches rows added since exactly."""
        self._worker.close()

    def add(self, partition: str, vector: Sequence[float], key: str, expires: float) -> None:
        """Stores a unit-normalised float32 copy; a key already present is replaced (and is then
        the newest); past max_entries the oldest entry (across partitions) is evicted."""
        unit = self._unit(vector)
        self.dimensions = len(unit)
        self.remove(key)
        while len(self._slots) >= self._max_entries:
            self._drop(self._slots.popitem(last=False)[1])
            self.evictions += 1
        part = self._partitions.get(partition)
        if part is None:
            part = self._partitions[partition] = _Partition(partition, len(unit), self._worker)
        slot = _Slot(key, part, -1)
        part.put(slot, unit, expires, self._exact_below)
        self._slots[key] = slot

    def search(self, partition: str, vector: Sequence[float], threshold: float, now: float) -> Match | None:
        """The unexpired entry of ``partition`` most similar to ``vector`` with cosine >= threshold."""
        unit = self._unit(vector)
        part = self._partitions.get(partition)
        if part is None:
            return None
        if now >= part.next_sweep:
            for slot in part.expired(now):
                del self._slots[slot.key]
                self._drop(slot)
            if part.live == 0:
                return None
        return part.search(unit, threshold, now)

    def remove(self, key: str) -> None:
        """Forgets ``key`` (nothing happens when it is absent)."""
        slot = self._slots.pop(key, None)
        if slot is not None:
            self._drop(slot)

    def _drop(self, slot: _Slot) -> None:
        part = slot.partition
        part.drop(slot.row, self._exact_below)
        if part.live == 0:
            del self._partitions[part.name]

    def _unit(self, vector: Sequence[float]) -> _Matrix:
        array = np.array(vector, dtype=np.float32)
        if array.ndim != 1 or (self.dimensions is not None and len(array) != self.dimensions):
            raise ValueError(f"vector has shape {array.shape}, the index holds {self.dimensions} dimensions")
        norm = float(np.linalg.norm(array))
        if not math.isfinite(norm) or norm == 0.0:
            raise ValueError("vector has no direction (zero, NaN or infinite components)")
        array /= norm
        return array
