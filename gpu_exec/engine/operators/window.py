"""Window functions: per partition, collected (rows of one PARTITION BY key are in the same partition)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

import pyarrow as pa

from gpu_exec.engine.expressions import evaluate_column
from gpu_exec.engine.streams import collect_table, slices

if TYPE_CHECKING:
    from gpu_exec.engine.context import ExecutionContext
    from gpu_exec.engine.kernels import Table
    from gpu_exec.engine.streams import Partition
    from planner.ir import Window

__all__ = ["window"]


def _window_partition(node: Window, table: Table, ctx: ExecutionContext) -> Table:
    k = ctx.kernels
    n = k.num_rows(table)
    width = len(node.input.schema)
    own = [k.column(table, i) for i in range(width)]
    results = []
    for call in node.windows:
        # Lay out arguments, partition keys and order keys as columns of one work table.
        columns, fields = list(own), list(node.input.schema)

        def add(expr) -> int:
            columns.append(evaluate_column(expr, table, ctx))
            fields.append(pa.field(f"_w{len(fields)}", expr.dtype))
            return len(columns) - 1

        arg = add(call.args[0]) if call.args else None
        partition_by = [add(e) for e in call.partition_by]
        order_by = [(add(key.expr), key.ascending, key.nulls_first) for key in call.order_by]
        work = k.make_table(columns, pa.schema(fields), n)
        results.append(k.window(work, call, arg, partition_by, order_by))
    return k.make_table(own + results, node.schema, n)


def _windowed(node: Window, partition: Partition, ctx: ExecutionContext) -> Iterator[Table]:
    k = ctx.kernels
    reservation = ctx.memory.reservation("Window", detail="its partition")
    try:
        table = collect_table(partition, node.input.schema, reservation, ctx)
        out = _window_partition(node, table, ctx)
        del table
        reservation.resize(k.nbytes(out))
        yield from slices(out, ctx)
    finally:
        reservation.free()


def window(node: Window, partitions: list[Partition], ctx: ExecutionContext) -> list[Partition]:
    return [_windowed(node, p, ctx) for p in partitions]
