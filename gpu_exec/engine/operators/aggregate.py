"""Hash aggregation in one step, or as partial (before an exchange) and final (after) phases.

The partial phase streams (each batch aggregated, the states merged as they grow); so do the final
phase (merging the partial states it receives) and a single step without DISTINCT (run as a partial
aggregate whose merged states are finished at the end): what they hold is states, one row per group.
A single step with DISTINCT aggregates or ones without partial states (MEDIAN, PERCENTILE_CONT,
STRING_AGG, FIRST_VALUE, LAST_VALUE, NTH_VALUE: planner.physical.SINGLE_STEP) collects its
partition, then runs one group-by. Variance, covariance and regression aggregates keep moment
states (``moments``); the SINGLE_STEP ones but STRING_AGG pick rows of the collected partition by
their rank in the group (``ranked``).

What is held is spilled by grace-hash partitioning on the group keys when it does not fit (see
gpu_exec.engine.operators.grace): the rows go to spill files by key, and each file is aggregated
alone. Global aggregates (no keys) hold one row of states, and are not spilled."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

import pyarrow as pa

from gpu_exec.engine.expressions import evaluate, evaluate_column
from gpu_exec.engine.operators import grace, moments, ranked
from gpu_exec.engine.streams import concat_batches, slices
from planner.expr import AggregateCall, AggregateFunction, BinaryOperator, Literal
from planner.ir import AggregateMode
from planner.physical import SINGLE_STEP, avg_sum_type, partial_state_fields

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
    AggregateFunction.BOOL_AND: "min",
    AggregateFunction.BOOL_OR: "max",
    AggregateFunction.BIT_AND: "bit_and",
    AggregateFunction.BIT_OR: "bit_or",
    AggregateFunction.BIT_XOR: "bit_xor",  # XOR of the partial XORs is the XOR of all values
    AggregateFunction.ANY_VALUE: "any_value",
}
# Kernel function of the aggregates that are one under another name: false < true, so AND is MIN.
_KERNEL_FUNCTION = {AggregateFunction.BOOL_AND: "min", AggregateFunction.BOOL_OR: "max"}


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
    return [(arg, _KERNEL_FUNCTION.get(call.func, call.func.value), call.dtype)]


def _finish(call: AggregateCall, states: list[Column], ctx: ExecutionContext) -> Column:
    """The final value of ``call`` from its (merged) state columns."""
    if call.func is AggregateFunction.AVG:
        return ctx.kernels.average(states[0], states[1], call.dtype)
    if moments.is_moment(call):
        return moments.finish(call, states, ctx)
    if call.func is AggregateFunction.MEDIAN:
        return ranked.median(states, call.dtype, ctx)
    if call.func is AggregateFunction.PERCENTILE_CONT:
        return ranked.percentile(states, call.dtype, ctx)
    if call.func is AggregateFunction.STRING_AGG:  # without the delimiter before the first value
        k = ctx.kernels
        start = Literal(len(_delimiter(call)) + 1, _INT64)
        return k.scalar_function("substr", [states[0], start], call.dtype, k.length(states[0]))
    return states[0]


def _delimiter(call: AggregateCall) -> str:
    literal = call.args[1]
    assert isinstance(literal, Literal) and isinstance(literal.value, str)  # translation checks it
    return literal.value


def _string_agg_argument(call: AggregateCall, table: Table, inputs: _Inputs, ctx: ExecutionContext) -> int:
    """STRING_AGG's argument in ``inputs``, as a string with the delimiter before it (NULL stays
    NULL): the kernel concatenates these, and the finish drops the first delimiter."""
    k = ctx.kernels
    n = k.num_rows(table)
    arg = _argument(call, table, inputs, ctx)
    assert arg is not None
    value = inputs.columns[arg]
    string = pa.string()
    if call.args[0].dtype != string:
        value = k.cast(value, string, False)
    prefixed = k.binary(BinaryOperator.STRING_CONCAT, Literal(_delimiter(call), string), value, string, n)
    inputs.columns[arg] = prefixed
    inputs.fields[arg] = pa.field(inputs.fields[arg].name, string)
    return arg


def _in_string_agg_order(node: Aggregate, table: Table, inputs: _Inputs, ctx: ExecutionContext) -> _Inputs:
    """``inputs`` in the order of the node's STRING_AGG ORDER BY (one, translation checks it), so
    that the kernel, which concatenates in row order, follows it; every other aggregate of the
    group-by is indifferent to the row order."""
    order = next((c.order_by for c in node.aggregates if c.func is AggregateFunction.STRING_AGG and c.order_by), ())
    if not order:
        return inputs
    k = ctx.kernels
    n = k.num_rows(table)
    keys = [evaluate_column(key.expr, table, ctx) for key in order]
    fields = [pa.field(f"o{i}", key.expr.dtype) for i, key in enumerate(order)]
    specs = [(i, key.ascending, key.nulls_first) for i, key in enumerate(order)]
    permutation = k.sort_indices(k.make_table(keys, pa.schema(fields), n), specs)
    moved = k.gather(k.make_table(inputs.columns, pa.schema(inputs.fields), n), permutation)
    return _Inputs([k.column(moved, i) for i in range(len(inputs.columns))], inputs.fields, inputs.num_keys)


def _group(inputs: _Inputs, specs: list[AggSpec], num_rows: int, ctx: ExecutionContext) -> Table:
    k = ctx.kernels
    table = k.make_table(inputs.columns, pa.schema(inputs.fields), num_rows)
    return k.group_by(table, list(range(inputs.num_keys)), specs)


def _key_inputs(node: Aggregate, table: Table, ctx: ExecutionContext) -> _Inputs:
    keys = [evaluate_column(e, table, ctx) for e in node.group_by]
    fields = [pa.field(f"_{i}", e.dtype) for i, e in enumerate(node.group_by)]
    return _Inputs(keys, fields, len(keys))


def _median_specs(call: AggregateCall, arg: int | None, inputs: _Inputs, ctx: ExecutionContext) -> list[AggSpec]:
    """MEDIAN over the whole group (a SINGLE aggregate, planner.physical.SINGLE_STEP): its
    argument column in ``inputs`` kept at the middle ranks only, and the aggregations of those."""
    assert arg is not None
    dtype = call.args[0].dtype
    nk = inputs.num_keys
    keys, key_fields = inputs.columns[:nk], inputs.fields[:nk]
    inputs.columns[arg] = ranked.middle_values(keys, key_fields, inputs.columns[arg], dtype, ctx)
    return ranked.median_specs(arg, dtype)


def _percentile_specs(call: AggregateCall, arg: int | None, inputs: _Inputs,
                      ctx: ExecutionContext) -> list[AggSpec]:
    """PERCENTILE_CONT over the whole group (SINGLE_STEP, like MEDIAN): the values at the two
    ranks around the fraction and the weight between them, each taken by ANY_VALUE."""
    assert arg is not None
    literal = call.args[1]
    assert isinstance(literal, Literal)  # translation refuses anything else
    fraction = float(literal.value)
    if call.order_by and not call.order_by[0].ascending:
        fraction = 1.0 - fraction  # DataFusion's descending percentile
    nk = inputs.num_keys
    f64 = pa.float64()
    value = inputs.columns[arg]
    value = value if call.args[0].dtype == f64 else ctx.kernels.cast(value, f64, False)  # float32
    picked = ranked.percentile_values(inputs.columns[:nk], inputs.fields[:nk], value, fraction, ctx)
    return [(inputs.add(c, f64), "any_value", f64) for c in picked]


_RANKED_ROW = {AggregateFunction.FIRST_VALUE, AggregateFunction.LAST_VALUE, AggregateFunction.NTH_VALUE}


def _first_row_specs(call: AggregateCall, table: Table, inputs: _Inputs, ctx: ExecutionContext) -> list[AggSpec]:
    """FIRST_VALUE / LAST_VALUE / NTH_VALUE over the whole group (SINGLE_STEP, like MEDIAN): the
    argument at the group's first (last, n-th) row by the call's ORDER BY, and ANY_VALUE of it."""
    k = ctx.kernels
    n = k.num_rows(table)
    arg = call.args[0]
    value = evaluate(arg, table, ctx)
    value = k.literal_column(value, n) if isinstance(value, Literal) else value
    order = [(evaluate_column(key.expr, table, ctx), key) for key in call.order_by]
    keep = evaluate_column(call.filter, table, ctx) if call.filter is not None else None
    nk = inputs.num_keys
    if call.func is AggregateFunction.NTH_VALUE:
        literal = call.args[1]
        assert isinstance(literal, Literal) and isinstance(literal.value, int)  # translation checks it
        position = literal.value
    else:
        position = 1 if call.func is AggregateFunction.FIRST_VALUE else -1
    picked = ranked.nth_row_value(inputs.columns[:nk], inputs.fields[:nk], value, arg.dtype, order, keep,
                                  position, ctx)
    return [(inputs.add(picked, arg.dtype), "any_value", call.dtype)]


def _first_phase(node: Aggregate, table: Table, ctx: ExecutionContext) -> tuple[Table, list[list[Column]]]:
    """Group ``table``: keys, then the states of every non-DISTINCT aggregate; also each
    aggregate's state columns."""
    k = ctx.kernels
    inputs = _key_inputs(node, table, ctx)
    specs: list[AggSpec] = []
    positions: list[list[int]] = []
    arguments: dict[int, list[int]] = {}  # moment aggregate → its argument columns in ``inputs``
    for i, call in enumerate(node.aggregates):
        if call.distinct:
            positions.append([])
            continue
        if moments.is_moment(call):
            arguments[i] = [inputs.add(v, pa.float64()) for v in moments.arguments(call, table, ctx)]
            call_specs = moments.first_phase_specs(arguments[i])
        elif call.func is AggregateFunction.MEDIAN:
            call_specs = _median_specs(call, _argument(call, table, inputs, ctx), inputs, ctx)
        elif call.func in _RANKED_ROW:
            call_specs = _first_row_specs(call, table, inputs, ctx)
        elif call.func is AggregateFunction.PERCENTILE_CONT:
            call_specs = _percentile_specs(call, _argument(call, table, inputs, ctx), inputs, ctx)
        elif call.func is AggregateFunction.STRING_AGG:
            call_specs = [(_string_agg_argument(call, table, inputs, ctx), "string_agg", call.dtype)]
        else:
            call_specs = _first_phase_specs(call, _argument(call, table, inputs, ctx))
        start = inputs.num_keys + len(specs)
        positions.append(list(range(start, start + len(call_specs))))
        specs.extend(call_specs)
    inputs = _in_string_agg_order(node, table, inputs, ctx)
    grouped = _group(inputs, specs, k.num_rows(table), ctx)
    states = [[k.column(grouped, p) for p in pos] for pos in positions]
    nk = inputs.num_keys
    for i, columns in arguments.items():
        states[i] = moments.first_phase_states(
            node.aggregates[i], states[i], [inputs.columns[c] for c in columns], inputs.columns[:nk],
            [k.column(grouped, j) for j in range(nk)], inputs.fields[:nk], ctx)
    return grouped, states


def _distinct_aggregate(node: Aggregate, call: AggregateCall, table: Table, grouped: Table,
                        ctx: ExecutionContext) -> Column:
    """``call`` over DISTINCT argument values, aligned with the groups of ``grouped``."""
    k = ctx.kernels
    inputs = _key_inputs(node, table, ctx)
    if moments.is_moment(call):  # one argument (translation refuses DISTINCT with two)
        arg: int | None = inputs.add(moments.arguments(call, table, ctx)[0], pa.float64())
    elif call.func is AggregateFunction.STRING_AGG:  # in no order (translation refuses ORDER BY)
        arg = _string_agg_argument(call, table, inputs, ctx)
    else:
        arg = _argument(call, table, inputs, ctx)
    nk = inputs.num_keys
    distinct_rows = k.distinct(k.make_table(inputs.columns, pa.schema(inputs.fields), k.num_rows(table)))
    # COUNT(DISTINCT <non-NULL constant>) adds no argument column: it counts the distinct keys.
    width = nk + (arg is not None)
    inputs = _Inputs([k.column(distinct_rows, i) for i in range(width)], inputs.fields, nk)
    if moments.is_moment(call):
        specs = moments.first_phase_specs([nk])
    elif call.func is AggregateFunction.MEDIAN:
        specs = _median_specs(call, nk, inputs, ctx)
    else:
        specs = _first_phase_specs(call, nk if arg is not None else None)
    per_group = _group(inputs, specs, k.num_rows(distinct_rows), ctx)
    states = [k.column(per_group, nk + i) for i in range(len(specs))]
    if moments.is_moment(call):
        states = moments.first_phase_states(call, states, [inputs.columns[nk]], inputs.columns[:nk],
                                            [k.column(per_group, i) for i in range(nk)], inputs.fields[:nk], ctx)
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
    grouped, all_states = _first_phase(node, table, ctx)
    nk = len(node.group_by)
    columns = [k.column(grouped, i) for i in range(nk)]
    for call, states in zip(node.aggregates, all_states):
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
        indices = [inputs.add(k.column(table, position + offset), f.type) for offset, f in enumerate(fields)]
        if moments.is_moment(call):
            specs.extend(moments.merge_specs(indices))
        else:
            merge = "sum" if call.func is AggregateFunction.AVG else _MERGE[call.func]
            specs.extend((i, merge, f.type) for i, f in zip(indices, fields))
        position += len(fields)
        spans.append((start, start + len(fields)))
    grouped = _group(inputs, specs, k.num_rows(table), ctx)
    n = k.num_rows(grouped)
    columns = [k.column(grouped, i) for i in range(position)]
    for call, (start, stop) in zip(node.aggregates, spans):
        if call.func in (AggregateFunction.COUNT, AggregateFunction.AVG):
            # Sums of counts over no partial rows are NULL; a count is 0.
            columns[stop - 1] = k.scalar_function("coalesce", [columns[stop - 1], Literal(0, _INT64)], _INT64, n)
    moment_spans = [(call, span) for call, span in zip(node.aggregates, spans) if moments.is_moment(call)]
    if moment_spans:
        # M2 and C also take the deviations of each state's mean from its merged group's.
        merged = moments.merged_states(
            [(call, [k.column(table, i) for i in range(a, b)], columns[a:b]) for call, (a, b) in moment_spans],
            inputs.columns[:nk], columns[:nk], inputs.fields[:nk], ctx)
        for (_, (a, b)), states in zip(moment_spans, merged):
            columns[a:b] = states
    return k.make_table(columns, schema, n), spans


def _finish_states(node: Aggregate, merged: Table, ctx: ExecutionContext) -> Table:
    """``node``'s output from merged states (keys, then each aggregate's state columns)."""
    k = ctx.kernels
    nk = len(node.group_by)
    columns = [k.column(merged, i) for i in range(nk)]
    position = nk
    for call in node.aggregates:
        width = len(partial_state_fields(call))
        columns.append(_finish(call, [k.column(merged, i) for i in range(position, position + width)], ctx))
        position += width
    return k.make_table(columns, node.schema, k.num_rows(merged))


def _as_partial(node: Aggregate) -> Aggregate:
    """A SINGLE aggregate (without DISTINCT) as the PARTIAL one computing its states."""
    keys = [node.schema.field(i) for i in range(len(node.group_by))]
    states = [f for call in node.aggregates for f in partial_state_fields(call)]
    return dataclasses.replace(node, mode=AggregateMode.PARTIAL, schema=pa.schema(keys + states))


# The partial aggregate merges the states it keeps once those not yet merged have at least this many
# batches' rows (and as many rows as the merged ones), or a share of the memory limit: each batch is
# aggregated on its own (cheap), merges are few. Merging whenever the new states reach a batch's
# rows would merge a high-cardinality aggregate's whole state every few batches (TPC-H q17, q18).
_MERGE_BATCHES = 16
# ... the share of the memory limit, per partition, the unmerged states may hold before a merge.
_MERGE_MEMORY_SHARE = 8


def _merged_states(node: Aggregate, schema: pa.Schema, states: Iterator[Table], grouped: bool,
                   detail: str, ctx: ExecutionContext) -> Iterator[Table]:
    """Batches of states (``schema``: keys, then each aggregate's states; ``grouped``: each batch
    has a key once, as a group-by made it) merged by key: tables in which every key is once,
    and in one table only (in one, unless the states spilled: then one per spilled partition).

    The states kept are merged whenever the unmerged ones reach ``_MERGE_BATCHES`` batches' rows
    and the merged ones' rows — or their bytes a share of the memory limit, or the pool has no room
    for more — and at the end. They are accounted in the memory pool; when they do not fit even
    merged, they are spilled by key (``grace``) and each spilled partition is merged alone."""
    k = ctx.kernels
    nk = len(node.group_by)
    key_types = [schema.field(i).type for i in range(nk)]

    def merge(tables: list[Table], force: bool = False) -> Table:
        if len(tables) == 1 and not force:
            return tables[0]
        whole = tables[0] if len(tables) == 1 else k.concat(tables, schema)
        return _merge_states(node, whole, schema, ctx)[0]

    keys = (lambda t: [k.column(t, i) for i in range(nk)]) if nk else None
    held = grace.Held(ctx, schema, keys, key_types, "Aggregate", detail)
    held.compactor = lambda tables: merge(tables, force=not grouped)
    limit = ctx.memory.effective_limit
    max_fresh_bytes = limit // (_MERGE_MEMORY_SHARE * max(1, ctx.partitions)) if limit else None
    loaded = ctx.memory.reservation("Aggregate", detail=f"{detail}, a spilled partition")
    try:
        merged_rows = 0
        for batch in states:
            held.add(batch)
            if held.spilled:
                continue
            if (held.fresh_rows >= max(_MERGE_BATCHES * ctx.rows_per_batch, merged_rows)
                    or (max_fresh_bytes is not None and held.fresh_bytes >= max_fresh_bytes)):
                held.compact()
                merged_rows = k.num_rows(held.batches[0]) if held.batches and not held.spilled else 0
        kept = held.finish()
        if kept is not None:
            out = merge(kept, force=not grouped) if kept else _merge_states(node, k.empty(schema), schema, ctx)[0]
            del kept
            held.reservation.resize(k.nbytes(out))
            yield out
            return
        files = held.files
        assert files is not None
        held.free()

        def one_partition(group: list) -> Iterator[Table]:
            table = grace.load(group[0], loaded, ctx)
            out = merge([table], force=True)
            del table
            loaded.resize(k.nbytes(out))
            yield out
            loaded.shrink(loaded.size)

        yield from grace.walk([files], one_partition, ctx)
    finally:
        held.close()
        loaded.free()


def _states_output(node: Aggregate, tables: Iterator[Table], finish: Aggregate | None,
                   ctx: ExecutionContext) -> Iterator[Table]:
    """Merged states as output batches: as they are (PARTIAL) or finished by ``finish``."""
    try:
        for merged in tables:
            out = merged if finish is None else _finish_states(finish, merged, ctx)
            del merged
            yield from slices(out, ctx)
    finally:
        close = getattr(tables, "close", None)
        if close is not None:
            close()


def _partial(node: Aggregate, partition: Partition, ctx: ExecutionContext,
             finish: Aggregate | None = None) -> Iterator[Table]:
    """PARTIAL mode, streaming: each batch is aggregated into partial states, which are kept and
    merged (``_merged_states``); the merged states are the output, or, for a SINGLE aggregate run
    this way (``finish``), its finished values."""
    k = ctx.kernels

    def states() -> Iterator[Table]:
        seen = False
        for batch in partition:
            seen = True
            yield _single_or_partial(node, batch, ctx)
        if not seen:  # no input: no groups, or the one row of a global aggregate
            yield _single_or_partial(node, k.empty(node.input.schema), ctx)

    merged = _merged_states(node, node.schema, states(), True, "partial states", ctx)
    return _states_output(node, merged, finish, ctx)


def _final_stream(node: Aggregate, partition: Partition, ctx: ExecutionContext) -> Iterator[Table]:
    """FINAL mode: the partial states of the partition merged as they come, then finished."""
    merged = _merged_states(node, node.input.schema, iter(partition), False, "final states", ctx)
    return _states_output(node, merged, node, ctx)


def _collected(node: Aggregate, partition: Partition, ctx: ExecutionContext) -> Iterator[Table]:
    """SINGLE mode with DISTINCT or SINGLE_STEP aggregates: the whole partition, then one group-by;
    when it does not fit, spilled by the group keys and aggregated a spilled partition at a time."""
    k = ctx.kernels
    schema = node.input.schema
    keys = (lambda t: [evaluate_column(e, t, ctx) for e in node.group_by]) if node.group_by else None
    held = grace.Held(ctx, schema, keys, [e.dtype for e in node.group_by], "Aggregate",
                      f"{node.mode.value} input")
    loaded = ctx.memory.reservation("Aggregate", detail=f"{node.mode.value} input, a spilled partition")
    try:
        for batch in partition:
            held.add(batch)
        kept = held.finish()
        if kept is not None:
            table = concat_batches(kept, schema, k)
            del kept
            held.reservation.resize(k.nbytes(table))
            out = _single_or_partial(node, table, ctx)
            del table
            held.reservation.resize(k.nbytes(out))
            yield from slices(out, ctx)
            return
        files = held.files
        assert files is not None
        held.free()

        def one_partition(group: list) -> Iterator[Table]:
            table = grace.load(group[0], loaded, ctx)
            out = _single_or_partial(node, table, ctx)
            del table
            loaded.resize(k.nbytes(out))
            yield from slices(out, ctx)
            loaded.shrink(loaded.size)

        yield from grace.walk([files], one_partition, ctx)
    finally:
        held.close()
        loaded.free()


def aggregate(node: Aggregate, partitions: list[Partition], ctx: ExecutionContext) -> list[Partition]:
    if node.mode is AggregateMode.PARTIAL:
        return [_partial(node, p, ctx) for p in partitions]
    if node.mode is AggregateMode.FINAL:
        return [_final_stream(node, p, ctx) for p in partitions]
    if any(call.distinct or call.func in SINGLE_STEP for call in node.aggregates):
        return [_collected(node, p, ctx) for p in partitions]
    # Without DISTINCT, a single-step aggregate keeps states, not its input: as a partial
    # aggregate whose merged states are finished at the end.
    partial = _as_partial(node)
    return [_partial(partial, p, ctx, finish=node) for p in partitions]
