"""Row-wise operators: projection, filter, limit, union, literal tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from gpu_exec.engine.expressions import evaluate_column, evaluate_columns

if TYPE_CHECKING:
    from gpu_exec.engine.context import ExecutionContext
    from gpu_exec.engine.kernels import Table
    from planner.ir import EmptyRelation, Filter, Limit, Projection, Values

__all__ = ["project", "filter_rows", "limit", "union", "values", "empty_relation", "select_columns"]


def select_columns(table: Table, indices: list[int], schema: pa.Schema, ctx: ExecutionContext) -> Table:
    """The columns ``indices`` of ``table``, named by ``schema``."""
    k = ctx.kernels
    return k.make_table([k.column(table, i) for i in indices], schema, k.num_rows(table))


def project(node: Projection, partitions: list[Table], ctx: ExecutionContext) -> list[Table]:
    k = ctx.kernels
    return ctx.map(lambda t: k.make_table(evaluate_columns(node.exprs, t, ctx), node.schema, k.num_rows(t)), partitions)


def filter_rows(node: Filter, partitions: list[Table], ctx: ExecutionContext) -> list[Table]:
    k = ctx.kernels
    return ctx.map(lambda t: k.filter(t, evaluate_column(node.predicate, t, ctx)), partitions)


def limit(node: Limit, partitions: list[Table], ctx: ExecutionContext) -> list[Table]:
    """OFFSET/LIMIT over the partitions in order (the planner puts a single partition here)."""
    k = ctx.kernels
    skip, remaining = node.skip, node.fetch
    out = []
    for t in partitions:
        n = k.num_rows(t)
        start = min(skip, n)
        skip -= start
        length = n - start if remaining is None else min(n - start, remaining)
        out.append(k.slice(t, start, length))
        if remaining is not None:
            remaining -= length
    return out


def union(node: object, inputs: list[list[Table]], ctx: ExecutionContext) -> list[Table]:
    return [t for partitions in inputs for t in partitions]


def values(node: Values, ctx: ExecutionContext) -> list[Table]:
    columns = [[row[i].value for row in node.rows] for i in range(len(node.schema))]
    arrays = [pa.array(col, type=f.type) for col, f in zip(columns, node.schema)]
    return [ctx.kernels.from_arrow(pa.Table.from_arrays(arrays, schema=node.schema))]


def empty_relation(node: EmptyRelation, ctx: ExecutionContext) -> list[Table]:
    k = ctx.kernels
    if node.produce_one_row:
        return [k.make_table([], node.schema, 1)]
    return [k.empty(node.schema)]
