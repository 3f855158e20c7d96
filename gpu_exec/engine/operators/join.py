"""Joins: equi joins through gather maps, residual filters, semi/anti/mark, null-aware NOT IN.

One scheme serves every join type: find candidate row pairs (equi keys, or every pair when there
are none), keep the pairs the residual filter accepts, then shape the output by join type (unmatched
rows of the preserved side padded with NULLs; semi/anti/mark from which left rows matched).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from gpu_exec.engine.expressions import evaluate_column, evaluate_columns
from planner.expr import BinaryOperator, ColumnRef, Expr, Literal, UnaryOperator, column_refs, transform
from planner.ir import JoinType

if TYPE_CHECKING:
    from gpu_exec.engine.context import ExecutionContext
    from gpu_exec.engine.kernels import Column, Table
    from planner.ir import CrossJoin, Join

__all__ = ["join", "cross_join"]

_BOOL = pa.bool_()
_MAPS_SCHEMA = pa.schema([("l", pa.int64()), ("r", pa.int64())])

# Join types computed by swapping the sides and running the mirrored left-hand type.
_MIRRORED = {
    JoinType.RIGHT: JoinType.LEFT,
    JoinType.RIGHT_SEMI: JoinType.LEFT_SEMI,
    JoinType.RIGHT_ANTI: JoinType.LEFT_ANTI,
}


def _keys_table(exprs, table: Table, ctx: ExecutionContext, types) -> Table:
    k = ctx.kernels
    columns = evaluate_columns(exprs, table, ctx)
    columns = [
        c if e.dtype == t else k.cast(c, t, False) for c, e, t in zip(columns, exprs, types)
    ]
    schema = pa.schema([pa.field(f"k{i}", t) for i, t in enumerate(types)])
    return k.make_table(columns, schema, k.num_rows(table))


def _hstack(left: Table, right: Table, left_schema: pa.Schema, right_schema: pa.Schema,
            ctx: ExecutionContext) -> Table:
    k = ctx.kernels
    columns = [k.column(left, i) for i in range(len(left_schema))]
    columns += [k.column(right, i) for i in range(len(right_schema))]
    return k.make_table(columns, pa.schema(list(left_schema) + list(right_schema)), k.num_rows(left))


def _iota(n: int, ctx: ExecutionContext) -> Table:
    return ctx.kernels.from_arrow(pa.table({"i": pa.array(np.arange(n, dtype=np.int64))}))


def _candidate_pairs(node: Join, left: Table, right: Table, ctx: ExecutionContext) -> tuple[Column, Column]:
    """(left_map, right_map) of the row pairs whose keys match (every pair without keys)."""
    k = ctx.kernels
    if node.left_keys:
        types = [e.dtype for e in node.left_keys]
        lk = _keys_table(node.left_keys, left, ctx, types)
        rk = _keys_table(node.right_keys, right, ctx, types)
        lmap, rmap = k.join(lk, rk, "inner", node.nulls_equal)
        return lmap, rmap
    pairs = k.cross_join(_iota(k.num_rows(left), ctx), _iota(k.num_rows(right), ctx),
                         _MAPS_SCHEMA)
    return k.column(pairs, 0), k.column(pairs, 1)


def _matched_pairs(node: Join, left: Table, right: Table, ctx: ExecutionContext) -> tuple[Column, Column]:
    """Gather maps of the key-matching pairs that pass the residual filter."""
    k = ctx.kernels
    lmap, rmap = _candidate_pairs(node, left, right, ctx)
    if node.filter is None:
        return lmap, rmap
    # Evaluate the filter over just the columns it reads: the candidate pairs can be many times
    # the input rows (TPC-H q21), and most columns are not needed to decide which pairs match.
    nl = len(node.left.schema)
    fields = list(node.left.schema) + list(node.right.schema)
    used = sorted(column_refs(node.filter))
    position = {index: i for i, index in enumerate(used)}
    compact_filter = transform(
        node.filter, lambda e: dataclasses.replace(e, index=position[e.index]) if isinstance(e, ColumnRef) else e
    )
    n = k.length(lmap)
    columns = [_gather_column(left, i, lmap, fields[i], ctx) if i < nl
               else _gather_column(right, i - nl, rmap, fields[i], ctx) for i in used]
    pairs = k.make_table(columns, pa.schema([fields[i] for i in used]), n)
    mask = evaluate_column(compact_filter, pairs, ctx)
    maps = k.filter(k.make_table([lmap, rmap], _MAPS_SCHEMA, n), mask)
    return k.column(maps, 0), k.column(maps, 1)


def _gather_column(table: Table, index: int, indices: Column, field: pa.Field, ctx: ExecutionContext) -> Column:
    k = ctx.kernels
    one = k.make_table([k.column(table, index)], pa.schema([field]), k.num_rows(table))
    return k.column(k.gather(one, indices), 0)


def _pad(rows: Table, schema: pa.Schema, other_schema: pa.Schema, rows_first: bool, ctx: ExecutionContext) -> Table:
    """``rows`` with all-NULL columns of ``other_schema`` beside them."""
    k = ctx.kernels
    n = k.num_rows(rows)
    nulls = [k.literal_column(Literal(None, f.type), n) for f in other_schema]
    own = [k.column(rows, i) for i in range(len(schema))]
    columns = own + nulls if rows_first else nulls + own
    fields = list(schema) + list(other_schema) if rows_first else list(other_schema) + list(schema)
    return k.make_table(columns, pa.schema(fields), n)


def _not(mask: Column, ctx: ExecutionContext) -> Column:
    return ctx.kernels.unary(UnaryOperator.NOT, mask, _BOOL)


def _has_null_key(exprs, table: Table, ctx: ExecutionContext) -> Column:
    """Per row: does any key expression evaluate to NULL?"""
    k = ctx.kernels
    result = None
    for column in evaluate_columns(exprs, table, ctx):
        is_null = k.unary(UnaryOperator.IS_NULL, column, _BOOL)
        result = is_null if result is None else k.binary(BinaryOperator.OR, result, is_null, _BOOL, k.num_rows(table))
    return result


def _mark(node: Join, left: Table, right: Table, matched: Column, ctx: ExecutionContext) -> Column:
    """TRUE where a left row matched; for null-aware marks (``x IN (subquery)``) NULL where the
    answer is unknown: the left key is NULL, or no match while the right side holds a NULL key."""
    k = ctx.kernels
    if not node.null_aware or k.num_rows(right) == 0:
        return matched
    n = k.num_rows(left)
    right_has_null = k.num_rows(k.filter(right, _has_null_key(node.right_keys, right, ctx))) > 0
    unknown = _has_null_key(node.left_keys, left, ctx)
    if right_has_null:
        unknown = k.binary(BinaryOperator.OR, unknown, _not(matched, ctx), _BOOL, n)
    unknown = k.binary(BinaryOperator.AND, unknown, _not(matched, ctx), _BOOL, n)
    return k.if_else(unknown, Literal(None, _BOOL), matched, _BOOL, n)


def _join_partition(node: Join, left: Table, right: Table, ctx: ExecutionContext) -> Table:
    k = ctx.kernels
    how = node.how
    simple = node.filter is None and node.left_keys and not node.null_aware
    if simple and how in (JoinType.LEFT_SEMI, JoinType.LEFT_ANTI):
        types = [e.dtype for e in node.left_keys]
        lmap, _ = k.join(_keys_table(node.left_keys, left, ctx, types),
                         _keys_table(node.right_keys, right, ctx, types), how.value, node.nulls_equal)
        return k.gather(left, lmap)
    if simple and how in (JoinType.LEFT, JoinType.FULL):
        types = [e.dtype for e in node.left_keys]
        lmap, rmap = k.join(_keys_table(node.left_keys, left, ctx, types),
                            _keys_table(node.right_keys, right, ctx, types), how.value, node.nulls_equal)
        return _hstack(k.gather(left, lmap), k.gather(right, rmap), node.left.schema, node.right.schema, ctx)

    lmap, rmap = _matched_pairs(node, left, right, ctx)
    joined = _hstack(k.gather(left, lmap), k.gather(right, rmap), node.left.schema, node.right.schema, ctx)
    if how is JoinType.INNER:
        return joined
    left_matched = k.index_mask(k.num_rows(left), lmap)
    if how is JoinType.LEFT_SEMI:
        return k.filter(left, left_matched)
    if how is JoinType.LEFT_ANTI:
        keep = _not(_mark(node, left, right, left_matched, ctx), ctx)
        return k.filter(left, keep)
    if how is JoinType.LEFT_MARK:
        mark = _mark(node, left, right, left_matched, ctx)
        columns = [k.column(left, i) for i in range(len(node.left.schema))] + [mark]
        return k.make_table(columns, node.schema, k.num_rows(left))
    parts = [joined, _pad(k.filter(left, _not(left_matched, ctx)), node.left.schema, node.right.schema, True, ctx)]
    if how is JoinType.FULL:
        right_matched = k.index_mask(k.num_rows(right), rmap)
        unmatched_right = k.filter(right, _not(right_matched, ctx))
        parts.append(_pad(unmatched_right, node.right.schema, node.left.schema, False, ctx))
    return k.concat(parts, node.schema)


def _swap(node: Join) -> Join:
    """The mirrored join (right becomes left); its residual filter is re-indexed accordingly."""
    nl, nr = len(node.left.schema), len(node.right.schema)

    def reindex(e: Expr) -> Expr:
        if isinstance(e, ColumnRef):
            return dataclasses.replace(e, index=e.index + nr if e.index < nl else e.index - nl)
        return e

    mirrored = _MIRRORED[node.how]
    schema = pa.schema(list(node.right.schema) + list(node.left.schema)) if mirrored is JoinType.LEFT else node.schema
    return dataclasses.replace(
        node, left=node.right, right=node.left, how=mirrored,
        left_keys=node.right_keys, right_keys=node.left_keys,
        filter=transform(node.filter, reindex) if node.filter is not None else None, schema=schema,
    )


def _pairwise(left_parts: list[Table], right_parts: list[Table]) -> list[tuple[Table, Table]]:
    """Partition pairs to join: co-partitioned sides pair up; a broadcast side (one partition, as
    the physical planner made it) meets every partition of the other side."""
    if len(left_parts) == len(right_parts):
        return list(zip(left_parts, right_parts))
    if len(right_parts) == 1:
        return [(lp, right_parts[0]) for lp in left_parts]
    if len(left_parts) == 1:
        return [(left_parts[0], rp) for rp in right_parts]
    raise AssertionError(f"join inputs are not co-partitioned: {len(left_parts)} vs {len(right_parts)}")


def join(node: Join, left_parts: list[Table], right_parts: list[Table], ctx: ExecutionContext) -> list[Table]:
    k = ctx.kernels
    if node.how in _MIRRORED:
        mirrored = _swap(node)
        results = ctx.map(lambda lr: _join_partition(mirrored, lr[1], lr[0], ctx), _pairwise(left_parts, right_parts))
        if node.how is not JoinType.RIGHT:
            return results
        # Put the columns back in left, right order.
        nl, nr = len(node.left.schema), len(node.right.schema)
        order = list(range(nr, nr + nl)) + list(range(nr))
        return [k.make_table([k.column(t, i) for i in order], node.schema, k.num_rows(t)) for t in results]
    return ctx.map(lambda lr: _join_partition(node, lr[0], lr[1], ctx), _pairwise(left_parts, right_parts))


def cross_join(node: CrossJoin, left_parts: list[Table], right_parts: list[Table], ctx: ExecutionContext) -> list[Table]:
    out = []
    for left, right in _pairwise(left_parts, right_parts):
        ctx.check_cancelled()  # one pair's product can be large: a cancelled query stops between pairs
        out.append(ctx.kernels.cross_join(left, right, node.schema))
    return out
