"""Hash aggregation in one step, or as partial (before an exchange) and final (after) phases.

The partial phase streams (each batch aggregated, the states merged as they grow); the final and
single phases collect their partition, then run one group-by."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

import pyarrow as pa

from gpu_exec.engine.expressions import evaluate, evaluate_column
from gpu_exec.engine.streams import collect_table, slices
from planner.expr import AggregateCall, AggregateFunction, Literal
from planner.ir import AggregateMode
from planner.physical import avg_sum_type, partial_state_fields

if TYPE_CHECKING:
    from gpu_exec.engine.context import ExecutionContext
    from gpu_exec.engine.kernels import AggSpec, Column, Table
    from gpu_exec.engine.streams import Partition
    from planner.ir import Aggregate

__all__ = ["aggregate"]

_INT64 = pa.int64()
# Kernel function that merges partial states of each aggregate, in FINAL mode.
_MERGE = {
    AggregateFunction.SUM: "sum",
    AggregateFunction.MIN: "min",
    AggregateFunction.MAX: "max",
    AggregateFunction.COUNT: "sum",
}


@dataclass
class _Inputs:
    """The table handed to the group-by kernel: key columns first, then argument columns."""

    columns: list[Column]
    fields: list[pa.Field]
    num_keys: int

    def add(self, column: Column, dtype: pa.DataType) -> int:
        self.columns.append(column)
        self.fields.append(pa.field(f"_{len(self.fields)}", dtype))
        return len(self.columns) - 1


def _argument(call: AggregateCall, table: Table, inputs: _Inputs, ctx: ExecutionContext) -> int | None:
    """Index of ``call``'s argument in ``inputs`` (with FILTER applied), None for COUNT(*)."""
    k = ctx.kernels
    if call.func is AggregateFunction.COUNT and call.filter is None:
        if not call.args or (isinstance(call.args[0], Literal) and call.args[0].value is not None):
            return None  # COUNT(*) / COUNT(1): counts rows
    arg = call.args[0] if call.args else Literal(1, _INT64)
    dtype = arg.dtype
    value = evaluate(arg, table, ctx)
    n = k.num_rows(table)
    if call.filter is not None:
        # A filtered-out row becomes NULL, which every aggregate here ignores.
        value = k.if_else(evaluate_column(call.filter, table, ctx), value, Literal(None, dtype), dtype, n)
    elif isinstance(value, Literal):
        value = k.literal_column(value, n)
    return inputs.add(value, dtype)


def _first_phase_specs(call: AggregateCall, arg: int | None) -> list[AggSpec]:
    """Kernel aggregations computing ``call`` (SINGLE) or its partial states (PARTIAL)."""
    if call.func is AggregateFunction.COUNT:
        return [(arg, "count_all" if arg is None else "count", _INT64)]
    if call.func is AggregateFunction.AVG:
        return [(arg, "sum", avg_sum_type(call.args[0].dtype)), (arg, "count", _INT64)]
    return [(arg, call.func.value, call.dtype)]


def _finish(call: AggregateCall, states: list[Column], ctx: ExecutionContext) -> Column:
    """The final value of ``call`` from its (merged) state columns."""
    if call.func is AggregateFunction.AVG:
        return ctx.kernels.average(states[0], states[1], call.dtype)
    return states[0]


def _group(inputs: _Inputs, specs: list[AggSpec], num_rows: int, ctx: ExecutionContext) -> Table:
    k = ctx.kernels
    table = k.make_table(inputs.columns, pa.schema(inputs.fields), num_rows)
    return k.group_by(table, list(range(inputs.num_keys)), specs)


def _key_inputs(node: Aggregate, table: Table, ctx: ExecutionContext) -> _Inputs:
    keys = [evaluate_column(e, table, ctx) for e in node.group_by]
    fields = [pa.field(f"_{i}", e.dtype) for i, e in enumerate(node.group_by)]
    return _Inputs(keys, fields, len(keys))


def _first_phase(node: Aggregate, table: Table, ctx: ExecutionContext) -> tuple[Table, list[list[int]]]:
    """Group ``table``: keys, then the states of every non-DISTINCT aggregate; also the output
    positions of each aggregate's states."""
    inputs = _key_inputs(node, table, ctx)
    specs: list[AggSpec] = []
    positions: list[list[int]] = []
    for call in node.aggregates:
        if call.distinct:
            positions.append([])
            continue
        call_specs = _first_phase_specs(call, _argument(call, table, inputs, ctx))
        start = inputs.num_keys + len(specs)
        positions.append(list(range(start, start + len(call_specs))))
        specs.extend(call_specs)
    return _group(inputs, specs, ctx.kernels.num_rows(table), ctx), positions


def _distinct_aggregate(node: Aggregate, call: AggregateCall, table: Table, grouped: Table,
                        ctx: ExecutionContext) -> Column:
    """``call`` over DISTINCT argument values, aligned with the groups of ``grouped``."""
    k = ctx.kernels
    inputs = _key_inputs(node, table, ctx)
    arg = _argument(call, table, inputs, ctx)
    nk = inputs.num_keys
    distinct_rows = k.distinct(k.make_table(inputs.columns, pa.schema(inputs.fields), k.num_rows(table)))
    # COUNT(DISTINCT <non-NULL constant>) adds no argument column: it counts the distinct keys.
    width = nk + (arg is not None)
    inputs = _Inputs([k.column(distinct_rows, i) for i in range(width)], inputs.fields, nk)
    specs = _first_phase_specs(call, nk if arg is not None else None)
    per_group = _group(inputs, specs, k.num_rows(distinct_rows), ctx)
    states = [k.column(per_group, nk + i) for i in range(len(specs))]
    value = _finish(call, states, ctx)
    if not nk:
        return value
    # Align with the base groups: join on the keys (NULL keys are a group of their own).
    key_schema = pa.schema(inputs.fields[:nk])
    left_keys = k.make_table([k.column(grouped, i) for i in range(nk)], key_schema, k.num_rows(grouped))
    right_keys = k.make_table([k.column(per_group, i) for i in range(nk)], key_schema, k.num_rows(per_group))
    left_map, right_map = k.join(left_keys, right_keys, "left", True)
    values = k.make_table([value], pa.schema([pa.field("v", call.dtype)]), k.num_rows(per_group))
    aligned = k.gather(values, right_map)
    # The left join may reorder rows: bring them back to the order of ``grouped``.
    order = k.sort_indices(k.make_table([left_map], pa.schema([pa.field("i", _INT64)]), k.num_rows(grouped)), [(0, True, False)])
    column = k.column(k.gather(aligned, order), 0)
    if call.func is AggregateFunction.COUNT:  # groups whose values were all NULL count 0
        column = k.scalar_function("coalesce", [column, Literal(0, _INT64)], _INT64, k.num_rows(grouped))
    return column


def _single_or_partial(node: Aggregate, table: Table, ctx: ExecutionContext) -> Table:
    k = ctx.kernels
    grouped, positions = _first_phase(node, table, ctx)
    nk = len(node.group_by)
    columns = [k.column(grouped, i) for i in range(nk)]
    for call, pos in zip(node.aggregates, positions):
        states = [k.column(grouped, p) for p in pos]
        if node.mode is AggregateMode.PARTIAL:
            columns.extend(states)
        elif call.distinct:
            columns.append(_distinct_aggregate(node, call, table, grouped, ctx))
        else:
            columns.append(_finish(call, states, ctx))
    return k.make_table(columns, node.schema, k.num_rows(grouped))


def _merge_states(node: Aggregate, table: Table, schema: pa.Schema,
                  ctx: ExecutionContext) -> tuple[Table, list[tuple[int, int]]]:
    """Merge partial states (``table``: keys, then each aggregate's state columns, as a PARTIAL
    aggregate emits them, ``schema``) by key with the same group-by kernel: a table of the same
    layout, and the span of each aggregate's states in it. Counts over no rows come out 0, not
    NULL."""
    k = ctx.kernels
    nk = len(node.group_by)
    inputs = _Inputs([k.column(table, i) for i in range(nk)], [pa.field(f"_{i}", e.dtype) for i, e in enumerate(node.group_by)], nk)
    specs: list[AggSpec] = []
    spans: list[tuple[int, int]] = []
    position = nk
    for call in node.aggregates:
        fields = partial_state_fields(call)
        start = nk + len(specs)
        for offset, f in enumerate(fields):
            merge = "sum" if call.func is AggregateFunction.AVG else _MERGE[call.func]
            specs.append((inputs.add(k.column(table, position + offset), f.type), merge, f.type))
        position += len(fields)
        spans.append((start, start + len(fields)))
    grouped = _group(inputs, specs, k.num_rows(table), ctx)
    n = k.num_rows(grouped)
    columns = [k.column(grouped, i) for i in range(position)]
    for call, (start, stop) in zip(node.aggregates, spans):
        if call.func in (AggregateFunction.COUNT, AggregateFunction.AVG):
            # Sums of counts over no partial rows are NULL; a count is 0.
            columns[stop - 1] = k.scalar_function("coalesce", [columns[stop - 1], Literal(0, _INT64)], _INT64, n)
    return k.make_table(columns, schema, n), spans


def _final(node: Aggregate, table: Table, ctx: ExecutionContext) -> Table:
    k = ctx.kernels
    nk = len(node.group_by)
    merged, spans = _merge_states(node, table, node.input.schema, ctx)
    n = k.num_rows(merged)
    columns = [k.column(merged, i) for i in range(nk)]
    for call, (start, stop) in zip(node.aggregates, spans):
        columns.append(_finish(call, [k.column(merged, i) for i in range(start, stop)], ctx))
    return k.make_table(columns, node.schema, n)


# The partial aggregate merges the states it keeps once those not yet merged have at least this many
# batches' rows (and as many rows as the merged ones), or a share of the memory limit: each batch is
# aggregated on its own (cheap), merges are few. Merging whenever the new states reach a batch's
# rows would merge a high-cardinality aggregate's whole state every few batches (TPC-H q17, q18).
_MERGE_BATCHES = 16
# ... the share of the memory limit, per partition, the unmerged states may hold before a merge.
_MERGE_MEMORY_SHARE = 8


def _partial(node: Aggregate, partition: Partition, ctx: ExecutionContext) -> Iterator[Table]:
    """PARTIAL mode, streaming: each batch is aggregated into partial states, which are kept and
    merged (with the group-by kernel of the final phase) whenever the unmerged ones reach
    ``_MERGE_BATCHES`` batches' rows and the merged ones' rows — or their bytes a share of the
    memory limit, or the pool has no room for more — and at the end. Holds the states only,
    accounted in the memory pool."""
    k = ctx.kernels
    reservation = ctx.memory.reservation("Aggregate", detail="partial states")
    limit = ctx.memory.effective_limit
    max_pending_bytes = limit // (_MERGE_MEMORY_SHARE * max(1, ctx.partitions)) if limit else None
    merged: Table | None = None
    pending: list[Table] = []
    pending_rows = pending_bytes = 0
    seen = False

    def merge_all() -> Table:
        pieces = ([merged] if merged is not None else []) + pending
        if len(pieces) == 1:
            return pieces[0]
        return _merge_states(node, k.concat(pieces, node.schema), node.schema, ctx)[0]

    try:
        for batch in partition:
            seen = True
            states = _single_or_partial(node, batch, ctx)
            size = k.nbytes(states)
            if not reservation.try_grow(size):
                if pending:  # the pool is short: merge what is kept before keeping more
                    merged = merge_all()
                    pending, pending_rows, pending_bytes = [], 0, 0
                    reservation.resize(k.nbytes(merged))
                reservation.grow(size)
            pending.append(states)
            pending_rows += k.num_rows(states)
            pending_bytes += size
            merged_rows = k.num_rows(merged) if merged is not None else 0
            if (pending_rows >= max(_MERGE_BATCHES * ctx.rows_per_batch, merged_rows)
                    or (max_pending_bytes is not None and pending_bytes >= max_pending_bytes)):
                merged = merge_all()
                pending, pending_rows, pending_bytes = [], 0, 0
                reservation.resize(k.nbytes(merged))
        if not seen:  # no input: no groups, or the one row of a global aggregate
            pending.append(_single_or_partial(node, k.empty(node.input.schema), ctx))
        if pending:
            merged = merge_all()
            pending = []
        assert merged is not None
        reservation.resize(k.nbytes(merged))
        yield from slices(merged, ctx)
    finally:
        reservation.free()


def _collected(node: Aggregate, partition: Partition, ctx: ExecutionContext) -> Iterator[Table]:
    """FINAL or SINGLE mode: the whole partition, then one group-by."""
    k = ctx.kernels
    reservation = ctx.memory.reservation("Aggregate", detail=f"{node.mode.value} input")
    try:
        table = collect_table(partition, node.input.schema, reservation, ctx)
        out = _final(node, table, ctx) if node.mode is AggregateMode.FINAL else _single_or_partial(node, table, ctx)
        del table
        reservation.resize(k.nbytes(out))
        yield from slices(out, ctx)
    finally:
        reservation.free()


def aggregate(node: Aggregate, partitions: list[Partition], ctx: ExecutionContext) -> list[Partition]:
    if node.mode is AggregateMode.PARTIAL:
        return [_partial(node, p, ctx) for p in partitions]
    return [_collected(node, p, ctx) for p in partitions]
