"""Partitions as streams of batches, and the helpers operators share to consume them.

A partition is an iterable of backend tables (batches), pulled one at a time: a generator for the
pipelined operators (scan, filter, projection, limit, the probe side of a join, the partial
aggregate, ...), or :class:`Batches` for one held in memory (what an exchange or a broadcast
produced). Pipeline breakers collect what they need with :func:`collect`, accounting every batch
in a memory :class:`~gpu_exec.engine.memory.Reservation`, and hand out their result again in
batches (:func:`slices`).
"""

from __future__ import annotations

import weakref
from collections import deque
from typing import TYPE_CHECKING, Iterable, Iterator, Sequence

if TYPE_CHECKING:
    import pyarrow as pa

    from gpu_exec.engine.context import ExecutionContext
    from gpu_exec.engine.kernels import Kernels, Table
    from gpu_exec.engine.memory import Reservation

__all__ = ["Partition", "Batches", "collect", "concat_batches", "slices", "collect_table"]

Partition = Iterable["Table"]


class Batches:
    """A partition held in memory: its batches, and the reservation that accounts their bytes.

    Not ``shared`` (an exchange's output partition, read by one consumer): iterating it hands the
    batches over one by one, forgetting each and shrinking the reservation by its size, so the
    memory moves to whoever keeps it next. ``shared`` (a broadcast, which every partition of the
    other side reads): iterating leaves it whole, and the reservation is freed when the object is
    no longer referenced (or when the query's pool closes)."""

    def __init__(self, batches: Sequence[Table], kernels: Kernels, reservation: Reservation | None = None,
                 sizes: Sequence[int] | None = None, *, shared: bool = False) -> None:
        self._batches: deque[Table] = deque(batches)
        self._sizes: deque[int] = deque(sizes if sizes is not None else [0] * len(self._batches))
        self.kernels = kernels
        self.reservation = reservation
        self.shared = shared
        self.rows = sum(kernels.num_rows(b) for b in self._batches)
        if shared and reservation is not None:
            weakref.finalize(self, reservation.free)

    def __len__(self) -> int:
        return len(self._batches)

    def __iter__(self) -> Iterator[Table]:
        if self.shared:
            return iter(list(self._batches))
        return self._drain()

    def _drain(self) -> Iterator[Table]:
        while self._batches:
            batch = self._batches.popleft()
            size = self._sizes.popleft()
            self.rows -= self.kernels.num_rows(batch)
            if self.reservation is not None and size:
                self.reservation.shrink(size)
            yield batch

    def table(self, schema: pa.Schema) -> Table:
        """All rows as one table (of a shared partition: without consuming it)."""
        return concat_batches(list(self._batches) if self.shared else list(self), schema, self.kernels)


def collect(partition: Partition, reservation: Reservation, ctx: ExecutionContext) -> list[Table]:
    """Every batch of ``partition``, each accounted in ``reservation`` as it arrives."""
    k = ctx.kernels
    out = []
    for batch in partition:
        reservation.grow(k.nbytes(batch))
        out.append(batch)
    return out


def concat_batches(batches: list[Table], schema: pa.Schema, kernels: Kernels) -> Table:
    """One table of ``batches`` (the batch itself when there is one, empty when none)."""
    if len(batches) == 1:
        return batches[0]
    return kernels.concat(batches, schema)


def collect_table(partition: Partition, schema: pa.Schema, reservation: Reservation,
                  ctx: ExecutionContext) -> Table:
    """``partition`` as one table, accounted in ``reservation`` (resized to the table at the end:
    a concatenation may copy)."""
    k = ctx.kernels
    if isinstance(partition, Batches) and partition.shared:
        return partition.table(schema)  # the broadcast accounts for it
    batches = collect(partition, reservation, ctx)
    table = concat_batches(batches, schema, k)
    del batches
    reservation.resize(k.nbytes(table))
    return table


def slices(table: Table, ctx: ExecutionContext) -> Iterator[Table]:
    """``table`` in batches of at most ``ctx.rows_per_batch`` rows (none for an empty table)."""
    k = ctx.kernels
    n = k.num_rows(table)
    step = ctx.rows_per_batch
    if n <= step:
        if n:
            yield table
        return
    for offset in range(0, n, step):
        yield k.slice(table, offset, min(step, n - offset))
