"""Physical planning: make a logical plan distributable by inserting exchanges.

A pure function of the logical plan and the target partition count. Rules:

- equi joins: a side estimated (from Parquet metadata) at most ``broadcast_rows`` rows is broadcast
  when the join type allows it, and the other side stays where it is; otherwise both sides are
  hash-repartitioned on their keys; a null-aware anti/mark join
  (``NOT IN (subquery)``) and a join without keys see the whole right side (broadcast), and outer
  joins that must report unmatched right rows without keys run in one partition;
- grouped aggregates: partial aggregate per partition → hash exchange on the keys → final
  aggregate; global aggregates: partial → single-partition merge → final; aggregates with DISTINCT
  arguments or without partial states (MEDIAN): hash exchange on the keys → single-step aggregate;
- ORDER BY: sort (and top-k) per partition → single-partition merge → final sort;
- LIMIT/OFFSET: local limit per partition → single-partition merge → limit;
- windows: hash exchange on PARTITION BY (single partition when there is none);
- recursive queries (WITH RECURSIVE): one partition; the static term is merged into one, the
  recursive term is planned like any plan over its work table (one partition, so it may be
  broadcast) and each round's partitions are merged by the operator;
- file writes: partition-wise (one file per partition, written where the partition is), except
  a write to one file, which gets a single-partition merge unless its input already is one.
"""

from __future__ import annotations

import dataclasses
import os
from functools import lru_cache, singledispatch

import pyarrow as pa

from planner.catalog import parquet_fragments
from planner.expr import AggregateCall, AggregateFunction, ColumnRef
from planner.ir import (
    Aggregate,
    AggregateMode,
    CrossJoin,
    EmptyRelation,
    Filter,
    TableScan,
    TableSource,
    Values,
    Exchange,
    ExchangeKind,
    FileWrite,
    Join,
    JoinType,
    Limit,
    PlanNode,
    Projection,
    RecursiveQuery,
    Sort,
    Window,
    WorkTableScan,
)

__all__ = ["plan_physical", "partial_state_fields", "avg_sum_type", "UNIVARIATE_MOMENTS", "BIVARIATE_MOMENTS",
           "SINGLE_STEP", "estimate_rows", "DEFAULT_BROADCAST_ROWS", "RIGHT_MAY_BROADCAST"]


DEFAULT_BROADCAST_ROWS = 500_000


def plan_physical(node: PlanNode, partitions: int, broadcast_rows: int = DEFAULT_BROADCAST_ROWS) -> PlanNode:
    """The distributed form of ``node`` for ``partitions`` parallel partitions; join sides
    estimated at most ``broadcast_rows`` rows are broadcast instead of repartitioned."""
    if partitions < 1:
        raise ValueError(f"partitions must be >= 1, got {partitions}")
    children = tuple(plan_physical(c, partitions, broadcast_rows) for c in node.children())
    node = node.with_children(children) if children else node
    if isinstance(node, Join) and partitions > 1:
        broadcast = _broadcast_side(node, broadcast_rows)
        if broadcast == "right":
            return dataclasses.replace(node, right=_broadcast(node.right, partitions))
        if broadcast == "left":
            return dataclasses.replace(node, left=_broadcast(node.left, partitions))
    return _distribute(node, partitions)


# Join types whose output needs every row of the left (right) side only once: that side must stay
# partitioned, so only the other side may be broadcast.
RIGHT_MAY_BROADCAST = {JoinType.INNER, JoinType.LEFT, JoinType.LEFT_SEMI, JoinType.LEFT_ANTI, JoinType.LEFT_MARK}
LEFT_MAY_BROADCAST = {JoinType.INNER, JoinType.RIGHT, JoinType.RIGHT_SEMI, JoinType.RIGHT_ANTI}


def _broadcast_side(node: Join, broadcast_rows: int) -> str | None:
    """"left" / "right" when that side is small enough to broadcast and the join type allows it."""
    if not node.left_keys or node.null_aware:
        return None  # handled by _distribute (the right side is broadcast anyway)
    left, right = estimate_rows(node.left), estimate_rows(node.right)
    candidates = []
    if node.how in RIGHT_MAY_BROADCAST and right <= broadcast_rows:
        candidates.append((right, "right"))
    if node.how in LEFT_MAY_BROADCAST and left <= broadcast_rows:
        candidates.append((left, "left"))
    return min(candidates)[1] if candidates else None


@lru_cache(maxsize=256)
def _source_rows(source: TableSource) -> int:
    if source.format == "parquet":
        return sum(f.num_rows for f in parquet_fragments(source))
    return sum(os.path.getsize(p) for p in source.paths) // 64  # CSV: about 64 bytes a row


def estimate_rows(node: PlanNode) -> float:
    """A rough upper estimate of ``node``'s output rows, from Parquet footers (no data read)."""
    if isinstance(node, TableScan):
        rows = float(_source_rows(node.source))
        return min(rows, node.fetch) if node.fetch is not None else rows
    if isinstance(node, (Values,)):
        return float(len(node.rows))
    if isinstance(node, (EmptyRelation, WorkTableScan)):
        return 1.0  # a work table is unknown until it runs; a round is usually small: broadcast it
    inputs = [estimate_rows(c) for c in node.children()]
    if isinstance(node, Filter):
        return inputs[0] * FILTER_SELECTIVITY
    if isinstance(node, Join):
        if node.how in (JoinType.INNER, JoinType.FULL):
            return max(inputs)
        return inputs[1] if node.how in (JoinType.RIGHT, JoinType.RIGHT_SEMI, JoinType.RIGHT_ANTI) else inputs[0]
    if isinstance(node, CrossJoin):
        return inputs[0] * inputs[1]
    if isinstance(node, (Limit, Sort)) and node.fetch is not None:
        return min(inputs[0], float(node.fetch))
    if isinstance(node, Aggregate) and not node.group_by:
        return 1.0
    return sum(inputs)


# Assumed fraction of rows a filter keeps. Deliberately high: a wrong "small" costs a broadcast of
# a big table to every partition, a wrong "big" only a hash exchange.
FILTER_SELECTIVITY = 0.5


def _hash(node: PlanNode, keys: tuple, partitions: int) -> Exchange:
    return Exchange(node, ExchangeKind.HASH, tuple(keys), partitions, node.schema)


def _single(node: PlanNode) -> Exchange:
    return Exchange(node, ExchangeKind.SINGLE, (), 1, node.schema)


def _broadcast(node: PlanNode, partitions: int) -> Exchange:
    return Exchange(node, ExchangeKind.BROADCAST, (), partitions, node.schema)


@singledispatch
def _distribute(node: PlanNode, partitions: int) -> PlanNode:
    # Scans, projections, filters, unions, values: partition-wise, no exchange needed.
    return node


@_distribute.register(Join)
def _(node: Join, partitions: int) -> PlanNode:
    needs_all_right = node.null_aware or not node.left_keys
    if not node.left_keys and node.how in (JoinType.RIGHT, JoinType.FULL, JoinType.RIGHT_SEMI, JoinType.RIGHT_ANTI):
        # Unmatched right rows can only be known with every left row in one place.
        return dataclasses.replace(node, left=_single(node.left), right=_single(node.right))
    if needs_all_right:
        return dataclasses.replace(node, right=_broadcast(node.right, partitions))
    return dataclasses.replace(
        node,
        left=_hash(node.left, node.left_keys, partitions),
        right=_hash(node.right, node.right_keys, partitions),
    )


@_distribute.register(CrossJoin)
def _(node: CrossJoin, partitions: int) -> PlanNode:
    return dataclasses.replace(node, right=_broadcast(node.right, partitions))


@_distribute.register(Aggregate)
def _(node: Aggregate, partitions: int) -> PlanNode:
    if node.mode is not AggregateMode.SINGLE:
        return node
    if partitions == 1:  # one partition: a single step, no partial/final split
        return dataclasses.replace(node, input=_single(node.input))
    if any(call.distinct or call.func in SINGLE_STEP for call in node.aggregates):
        exchange = _hash(node.input, node.group_by, partitions) if node.group_by else _single(node.input)
        return dataclasses.replace(node, input=exchange)
    partial = dataclasses.replace(node, mode=AggregateMode.PARTIAL, schema=_partial_schema(node))
    key_refs = tuple(
        ColumnRef(i, partial.schema.field(i).name, partial.schema.field(i).type)
        for i in range(len(node.group_by))
    )
    exchange = _hash(partial, key_refs, partitions) if node.group_by else _single(partial)
    return dataclasses.replace(node, input=exchange, group_by=key_refs, mode=AggregateMode.FINAL)


@_distribute.register(Sort)
def _(node: Sort, partitions: int) -> PlanNode:
    if partitions == 1:
        return dataclasses.replace(node, input=_single(node.input))
    return dataclasses.replace(node, input=_single(node))  # local sort (+ top-k), merge, final sort


@_distribute.register(Limit)
def _(node: Limit, partitions: int) -> PlanNode:
    local = node.input
    if node.fetch is not None and partitions > 1:
        local = Limit(node.input, 0, node.skip + node.fetch, node.input.schema)
    return dataclasses.replace(node, input=_single(local))


@_distribute.register(Window)
def _(node: Window, partitions: int) -> PlanNode:
    keys = node.windows[0].partition_by
    same_keys = all(w.partition_by == keys for w in node.windows)
    if keys and same_keys:
        return dataclasses.replace(node, input=_hash(node.input, keys, partitions))
    return dataclasses.replace(node, input=_single(node.input))


@_distribute.register(RecursiveQuery)
def _(node: RecursiveQuery, partitions: int) -> PlanNode:
    # The rounds, and the rows a UNION has already produced, must be in one place.
    if _single_partition(node.static):
        return node
    return dataclasses.replace(node, static=_single(node.static))


@_distribute.register(FileWrite)
def _(node: FileWrite, partitions: int) -> PlanNode:
    # Not only when partitions > 1: a union yields a partition per input even then.
    if node.single_file and not _single_partition(node.input):
        return dataclasses.replace(node, input=_single(node.input))
    return node


def _single_partition(node: PlanNode) -> bool:
    """Whether a distributed ``node`` surely yields one partition: a single-partition merge (or a
    literal table) below nothing but partition-wise operators."""
    if isinstance(node, Exchange):
        return node.kind is ExchangeKind.SINGLE
    if isinstance(node, (Values, EmptyRelation, RecursiveQuery, WorkTableScan)):
        return True
    if isinstance(node, (Projection, Filter, Sort, Limit, Aggregate, Window)):
        return _single_partition(node.children()[0])
    return False


def avg_sum_type(arg_type: pa.DataType) -> pa.DataType:
    """The partial SUM type behind AVG: exact for decimals (widest precision), float otherwise."""
    if pa.types.is_decimal(arg_type):
        return pa.decimal128(38, arg_type.scale)
    return pa.float64()


F = AggregateFunction
# Aggregates computed from moment states (gpu_exec.engine.operators.moments): of one argument,
# its count, sum and M2 (the sum of squared deviations from the mean); of two, over the rows
# where both are non-NULL, the count, both sums, both M2 and the co-moment C.
UNIVARIATE_MOMENTS = frozenset({F.VAR_SAMP, F.VAR_POP, F.STDDEV_SAMP, F.STDDEV_POP})
BIVARIATE_MOMENTS = frozenset({F.CORR, F.COVAR_SAMP, F.COVAR_POP, F.REGR_SLOPE, F.REGR_INTERCEPT, F.REGR_COUNT,
                               F.REGR_R2, F.REGR_AVGX, F.REGR_AVGY, F.REGR_SXX, F.REGR_SYY, F.REGR_SXY})
# Aggregates with no mergeable partial state: planned in one step over all rows of each group.
SINGLE_STEP = frozenset({F.MEDIAN, F.FIRST_VALUE, F.LAST_VALUE, F.NTH_VALUE, F.PERCENTILE_CONT, F.STRING_AGG})
_UNIVARIATE_STATES = ("count", "sum", "m2")
_BIVARIATE_STATES = ("count", "sum_a", "sum_b", "m2_a", "m2_b", "c")


def partial_state_fields(call: AggregateCall) -> list[pa.Field]:
    """The columns a PARTIAL aggregate emits for ``call`` (FINAL combines them)."""
    if call.func in UNIVARIATE_MOMENTS or call.func in BIVARIATE_MOMENTS:
        names = _UNIVARIATE_STATES if call.func in UNIVARIATE_MOMENTS else _BIVARIATE_STATES
        return [pa.field(f"{call.name}[{n}]", pa.int64() if n == "count" else pa.float64(), nullable=n != "count")
                for n in names]
    if call.func is AggregateFunction.AVG:
        return [
            pa.field(f"{call.name}[sum]", avg_sum_type(call.args[0].dtype)),
            pa.field(f"{call.name}[count]", pa.int64(), nullable=False),
        ]
    return [pa.field(f"{call.name}[{call.func.value}]", call.dtype)]


def _partial_schema(node: Aggregate) -> pa.Schema:
    keys = [node.schema.field(i) for i in range(len(node.group_by))]
    states = [f for call in node.aggregates for f in partial_state_fields(call)]
    return pa.schema(keys + states)
