"""The in-process exchange: repartition between operators (the distributed layer swaps only the
transport: map side = hash_partition per input batch, reduce side = the pieces of one target).

A hash exchange or a broadcast is where a stage ends: it drives its whole input (the partitions in
parallel) when the driver reaches it and holds the result, accounted in the memory pool. A single
exchange only merges its input partitions' streams; a round-robin one deals them out."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import pyarrow as pa

from gpu_exec.engine.expressions import append_columns, evaluate_columns
from gpu_exec.engine.streams import Batches, collect, concat_batches
from planner.expr import ColumnRef
from planner.ir import ExchangeKind

if TYPE_CHECKING:
    from gpu_exec.engine.context import ExecutionContext
    from gpu_exec.engine.kernels import Table
    from gpu_exec.engine.streams import Partition
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


def exchange(node: Exchange, partitions: list[Partition], ctx: ExecutionContext) -> list[Partition]:
    k = ctx.kernels
    schema = node.schema
    if node.kind is ExchangeKind.SINGLE:
        # The input partitions, pulled in parallel, into one stream: nothing is held here.
        return [ctx.merge(partitions)]
    if node.kind is ExchangeKind.BROADCAST:
        # In process, a broadcast is one shared partition that every consumer partition reads.
        reservation = ctx.memory.reservation("Exchange", detail="broadcast")
        collected = ctx.map(lambda p: collect(p, reservation, ctx), partitions)
        whole = concat_batches([t for part in collected for t in part], schema, k)
        del collected
        reservation.resize(k.nbytes(whole))
        return [Batches([whole], k, reservation, shared=True)]
    if node.kind is ExchangeKind.HASH:
        return _hash_exchange(node, partitions, ctx)
    # ROUND_ROBIN: rebalance whole partitions in order.
    n = node.partitions
    return [itertools.chain.from_iterable(partitions[i::n]) for i in range(n)]


def _hash_exchange(node: Exchange, partitions: list[Partition], ctx: ExecutionContext) -> list[Partition]:
    """Every input partition's batches split by key as they are pulled (partitions in parallel);
    each output partition holds its pieces, accounted in its own reservation, until read."""
    k = ctx.kernels
    n = node.partitions
    reservations = [ctx.memory.reservation("Exchange", detail=f"hash partition {i}") for i in range(n)]

    def map_side(partition: Partition) -> tuple[list[list[Table]], list[list[int]]]:
        pieces: list[list[Table]] = [[] for _ in range(n)]
        sizes: list[list[int]] = [[] for _ in range(n)]
        for batch in partition:
            with ctx.timed("Exchange", call=False):
                split = hash_pieces(node, batch, ctx)
            for i, piece in enumerate(split):
                if k.num_rows(piece):
                    size = k.nbytes(piece)
                    reservations[i].grow(size)
                    pieces[i].append(piece)
                    sizes[i].append(size)
        return pieces, sizes

    mapped = ctx.map(map_side, partitions)
    return [Batches([p for pieces, _ in mapped for p in pieces[i]], k, reservations[i],
                    [s for _, sizes in mapped for s in sizes[i]]) for i in range(n)]
