"""ORDER BY with optional top-k (fetch), per partition."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from gpu_exec.engine.expressions import append_columns, evaluate_columns
from planner.expr import ColumnRef

if TYPE_CHECKING:
    from gpu_exec.engine.context import ExecutionContext
    from gpu_exec.engine.kernels import SortSpec, Table
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


def sort(node: Sort, partitions: list[Table], ctx: ExecutionContext) -> list[Table]:
    return ctx.map(lambda t: sort_table(t, node.input.schema, node.keys, node.fetch, ctx), partitions)
