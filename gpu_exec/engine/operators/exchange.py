"""The in-process exchange: repartition between operators (the distributed layer swaps only the
transport: map side = hash_partition per input partition, reduce side = concat per target)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from gpu_exec.engine.expressions import append_columns, evaluate_columns
from planner.expr import ColumnRef
from planner.ir import ExchangeKind

if TYPE_CHECKING:
    from gpu_exec.engine.context import ExecutionContext
    from gpu_exec.engine.kernels import Table
    from planner.ir import Exchange

__all__ = ["exchange", "hash_pieces"]


def hash_pieces(node: Exchange, table: Table, ctx: ExecutionContext) -> list[Table]:
    """Map side of a hash exchange: ``table`` split into ``node.partitions`` pieces by its keys."""
    k = ctx.kernels
    schema = node.input.schema
    if all(isinstance(e, ColumnRef) for e in node.keys):
        return k.hash_partition(table, [e.index for e in node.keys], node.partitions)
    # Computed keys: partition on appended key columns, then drop them.
    extra = [pa.field(f"_key{i}", e.dtype) for i, e in enumerate(node.keys)]
    work = append_columns(table, evaluate_columns(node.keys, table, ctx), schema, extra, ctx)
    keys = list(range(len(schema), len(schema) + len(extra)))
    pieces = k.hash_partition(work, keys, node.partitions)
    width = range(len(schema))
    return [k.make_table([k.column(p, i) for i in width], schema, k.num_rows(p)) for p in pieces]


def exchange(node: Exchange, partitions: list[Table], ctx: ExecutionContext) -> list[Table]:
    k = ctx.kernels
    schema = node.schema
    if node.kind in (ExchangeKind.SINGLE, ExchangeKind.BROADCAST):
        # In process, a broadcast is one shared partition that every consumer partition reads.
        return [partitions[0] if len(partitions) == 1 else k.concat(partitions, schema)]
    if node.kind is ExchangeKind.HASH:
        pieces = ctx.map(lambda t: hash_pieces(node, t, ctx), partitions)
        return ctx.map(lambda i: k.concat([p[i] for p in pieces], schema), range(node.partitions))
    # ROUND_ROBIN: rebalance whole partitions in order.
    n = node.partitions
    return [k.concat(partitions[i::n], schema) for i in range(n)]
