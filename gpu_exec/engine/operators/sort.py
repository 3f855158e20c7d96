"""ORDER BY with optional top-k (fetch), per partition."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

import pyarrow as pa

from gpu_exec.engine.expressions import append_columns, evaluate_columns
from gpu_exec.engine.streams import collect_table, concat_batches, slices
from planner.expr import ColumnRef

if TYPE_CHECKING:
    from gpu_exec.engine.context import ExecutionContext
    from gpu_exec.engine.kernels import SortSpec, Table
    from gpu_exec.engine.streams import Partition
    from planner.expr import SortKey
    from planner.ir import Sort

__all__ = ["sort", "sort_table"]


def sort_table(table: Table, schema: pa.Schema, keys: tuple[SortKey, ...], fetch: int | None,
               ctx: ExecutionContext) -> Table:
    """``table`` ordered by ``keys`` (then cut to ``fetch`` rows)."""
    k = ctx.kernels
    # Keys that are plain columns are sorted in place; computed keys are appended, then dropped.
    computed = [key for key in keys if not isinstance(key.expr, ColumnRef)]
    work = table
    if computed:
        extra = [pa.field(f"_sort{i}", key.expr.dtype) for i, key in enumerate(computed)]
        work = append_columns(table, evaluate_columns([key.expr for key in computed], table, ctx), schema, extra, ctx)
    specs: list[SortSpec] = []
    next_extra = len(schema)
    for key in keys:
        if isinstance(key.expr, ColumnRef):
            index = key.expr.index
        else:
            index, next_extra = next_extra, next_extra + 1
        specs.append((index, key.ascending, key.nulls_first))
    order = k.sort_indices(work, specs)
    n = k.num_rows(table)
    if fetch is not None and fetch < n:
        order = k.column(k.slice(k.make_table([order], pa.schema([("i", pa.int64())]), n), 0, fetch), 0)
    return k.gather(table, order)


def _sorted(node: Sort, partition: Partition, ctx: ExecutionContext) -> Iterator[Table]:
    """One partition in order. Without ``fetch`` the whole partition is collected, then sorted;
    with one (top-k), the best ``fetch`` rows so far are kept, refreshed whenever the batches
    waiting reach ``max(fetch, ctx.rows_per_batch)`` rows (a stable sort of the kept rows followed
    by the new ones keeps the order of ties)."""
    k = ctx.kernels
    schema = node.input.schema
    reservation = ctx.memory.reservation("Sort", detail="its partition" if node.fetch is None else "top-k rows")
    try:
        if node.fetch is None:
            table = collect_table(partition, schema, reservation, ctx)
            out = sort_table(table, schema, node.keys, None, ctx)
        else:
            best: list[Table] = []
            pending_rows = 0
            for batch in partition:
                reservation.grow(k.nbytes(batch))
                best.append(batch)
                pending_rows += k.num_rows(batch)
                if pending_rows >= max(node.fetch, ctx.rows_per_batch):
                    best = [sort_table(concat_batches(best, schema, k), schema, node.keys, node.fetch, ctx)]
                    pending_rows = 0
                    reservation.resize(k.nbytes(best[0]))
            out = sort_table(concat_batches(best, schema, k), schema, node.keys, node.fetch, ctx)
            del best
        reservation.resize(k.nbytes(out))
        yield from slices(out, ctx)
    finally:
        reservation.free()


def sort(node: Sort, partitions: list[Partition], ctx: ExecutionContext) -> list[Partition]:
    return [_sorted(node, p, ctx) for p in partitions]
