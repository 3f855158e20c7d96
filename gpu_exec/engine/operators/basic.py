"""Row-wise operators, batch by batch: projection, filter, limit, union, literal tables."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Iterator

import pyarrow as pa

from gpu_exec.engine.expressions import evaluate_column, evaluate_columns

if TYPE_CHECKING:
    from gpu_exec.engine.context import ExecutionContext
    from gpu_exec.engine.kernels import Table
    from gpu_exec.engine.streams import Partition
    from planner.ir import EmptyRelation, Filter, Limit, Projection, Values

__all__ = ["project", "filter_rows", "limit", "union", "values", "empty_relation", "select_columns"]


def select_columns(table: Table, indices: list[int], schema: pa.Schema, ctx: ExecutionContext) -> Table:
    """The columns ``indices`` of ``table``, named by ``schema``."""
    k = ctx.kernels
    return k.make_table([k.column(table, i) for i in indices], schema, k.num_rows(table))


def project(node: Projection, partitions: list[Partition], ctx: ExecutionContext) -> list[Partition]:
    k = ctx.kernels

    def run(partition: Partition) -> Iterator[Table]:
        for t in partition:
            yield k.make_table(evaluate_columns(node.exprs, t, ctx), node.schema, k.num_rows(t))

    return [run(p) for p in partitions]


def filter_rows(node: Filter, partitions: list[Partition], ctx: ExecutionContext) -> list[Partition]:
    k = ctx.kernels

    def run(partition: Partition) -> Iterator[Table]:
        for t in partition:
            kept = k.filter(t, evaluate_column(node.predicate, t, ctx))
            if k.num_rows(kept):
                yield kept

    return [run(p) for p in partitions]


class _Quota:
    """Rows still to skip and to emit, shared by the partitions of one limit (thread safe)."""

    def __init__(self, skip: int, fetch: int | None) -> None:
        self._lock = threading.Lock()
        self.skip = skip
        self.remaining = fetch

    @property
    def done(self) -> bool:
        return self.remaining is not None and self.remaining <= 0

    def take(self, n: int) -> tuple[int, int]:
        """(offset, length) of the rows to emit out of a batch of ``n``."""
        with self._lock:
            start = min(self.skip, n)
            self.skip -= start
            length = n - start if self.remaining is None else min(n - start, self.remaining)
            if self.remaining is not None:
                self.remaining -= length
            return start, length


def limit(node: Limit, partitions: list[Partition], ctx: ExecutionContext) -> list[Partition]:
    """OFFSET/LIMIT over all the partitions together (the planner puts a single partition here,
    or per partition a local limit below a single one): each partition stops pulling its input
    once the limit has its rows."""
    k = ctx.kernels
    quota = _Quota(node.skip, node.fetch)

    def run(partition: Partition) -> Iterator[Table]:
        if quota.done:
            return  # LIMIT 0, or the rows came from other partitions: never pull the input
        for t in partition:
            n = k.num_rows(t)
            start, length = quota.take(n)
            if length:
                yield t if (start, length) == (0, n) else k.slice(t, start, length)
            if quota.done:
                return

    return [run(p) for p in partitions]


def union(node: object, inputs: list[list[Partition]], ctx: ExecutionContext) -> list[Partition]:
    return [p for partitions in inputs for p in partitions]


def values(node: Values, ctx: ExecutionContext) -> list[Partition]:
    columns = [[row[i].value for row in node.rows] for i in range(len(node.schema))]
    arrays = [pa.array(col, type=f.type) for col, f in zip(columns, node.schema)]
    return [[ctx.kernels.from_arrow(pa.Table.from_arrays(arrays, schema=node.schema))]]


def empty_relation(node: EmptyRelation, ctx: ExecutionContext) -> list[Partition]:
    k = ctx.kernels
    if node.produce_one_row:
        return [[k.make_table([], node.schema, 1)]]
    return [[]]
