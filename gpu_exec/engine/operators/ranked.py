"""Aggregates picked by rank within the group: MEDIAN (the middle value, or the mean of the two
middle ones), PERCENTILE_CONT (interpolated between the two values around a fraction of the way)
and FIRST_VALUE / LAST_VALUE / NTH_VALUE (the value of the first / last / n-th row by the call's
ORDER BY).

None has a mergeable state smaller than the group's rows, so they are planned in one step over
all the rows of each group (planner.physical.SINGLE_STEP sends the rows to a partition by their
keys, as for DISTINCT aggregates) and the operator collects its partition before aggregating it.

Each row's rank in its group comes from the window kernel (ROW_NUMBER partitioned by the keys, in
DataFusion's order on both backends: NaN above every number, -0.0 tied with 0.0); the argument is
kept at the picked ranks and made NULL elsewhere, so the ordinary group-by aggregates of it are
aligned with the other aggregates. MEDIAN ranks the values ascending, NULLs last, picks ranks
(n + 1) / 2 and n / 2 + 1 and is the AVG of those: (lo + hi) / 2 as DataFusion computes it, a
decimal one truncated toward zero at the argument's scale. FIRST_VALUE picks rank 1 (its value
may be NULL: DataFusion's first_value respects NULLs), NTH_VALUE(n) rank n, LAST_VALUE and a
negative n count from the end: rank 1 (-n) of the reversed order.
PERCENTILE_CONT(p) picks, with i = p·(n - 1), ranks ⌊i⌋ + 1 and ⌈i⌉ + 1 of the ascending values,
and is lo + (hi - lo)·w, w = i - ⌊i⌋ truncated to millionths (or lo where w is 0), as DataFusion
computes it; ORDER BY ... DESC is p replaced by 1 - p, as DataFusion does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import pyarrow as pa

from planner.expr import BinaryOperator, Literal, SortKey, UnaryOperator, WindowCall, WindowFrame, WindowFunction
from planner.physical import avg_sum_type

if TYPE_CHECKING:
    from gpu_exec.engine.context import ExecutionContext
    from gpu_exec.engine.kernels import AggSpec, Column

__all__ = ["middle_values", "median_specs", "median", "nth_row_value", "percentile_values", "percentile"]

Op = BinaryOperator
_I64 = pa.int64()
_BOOL = pa.bool_()


def middle_values(keys: Sequence[Column], key_fields: Sequence[pa.Field], value: Column, dtype: pa.DataType,
                  ctx: ExecutionContext) -> Column:
    """``value`` (of ``dtype``) at the middle ranks of its group (``keys``), NULL elsewhere. A
    group without values keeps its first row (a NULL), so its SUM is NULL and COUNT 0."""
    k = ctx.kernels
    n = k.length(value)
    nk = len(keys)
    fields = [*key_fields, pa.field("v", dtype)]
    table = k.make_table([*keys, value], pa.schema(fields), n)
    partition = list(range(nk))
    rank = k.window(table, _RANK, None, partition, [(nk, True, False)])
    count = k.window(table, _COUNT, nk, partition, [])
    # Ranks (n + 1) / 2 and n / 2 + 1, in integer division: one rank when n is odd, two when even,
    # and rank 1 when n is 0.
    low = k.binary(Op.DIVIDE, k.binary(Op.ADD, count, Literal(1, _I64), _I64, n), Literal(2, _I64), _I64, n)
    high = k.binary(Op.ADD, k.binary(Op.DIVIDE, count, Literal(2, _I64), _I64, n), Literal(1, _I64), _I64, n)
    middle = k.binary(Op.OR, k.binary(Op.EQ, rank, low, _BOOL, n), k.binary(Op.EQ, rank, high, _BOOL, n), _BOOL, n)
    return k.if_else(middle, value, Literal(None, dtype), dtype, n)


def median_specs(arg: int, dtype: pa.DataType) -> list[AggSpec]:
    """The group-by aggregations of the middle values (``arg``) of ``dtype``: SUM and COUNT."""
    return [(arg, "sum", avg_sum_type(dtype)), (arg, "count", _I64)]


def median(states: list[Column], dtype: pa.DataType, ctx: ExecutionContext) -> Column:
    return ctx.kernels.average(states[0], states[1], dtype)


def nth_row_value(keys: Sequence[Column], key_fields: Sequence[pa.Field], value: Column, dtype: pa.DataType,
                  order: Sequence[tuple[Column, SortKey]], keep: Column | None, position: int,
                  ctx: ExecutionContext) -> Column:
    """``value`` (of ``dtype``) at the ``position``-th row of its group (``keys``) by ``order``
    (the evaluated ORDER BY columns and their keys; 1 is the first row, -1 the last), NULL
    elsewhere. Rows where ``keep`` (the call's FILTER) is not true take no part: they are ranked
    after every other row and never picked. The group-by's ANY_VALUE of the result is the value,
    or NULL (also for a group with fewer rows)."""
    last = position < 0
    k = ctx.kernels
    n = k.length(value)
    nk = len(keys)
    columns = [*keys, value]
    fields = [*key_fields, pa.field("v", dtype)]
    sort: list[tuple[int, bool, bool]] = []
    if keep is not None:
        keep = k.unary(UnaryOperator.IS_TRUE, keep, _BOOL)
        sort.append((len(columns), False, False))  # kept rows (true) first
        columns.append(keep)
        fields.append(pa.field("keep", _BOOL))
    for column, key in order:
        # The last row by an order is the first by its reverse (NULLs moving to the other end).
        ascending, nulls_first = (not key.ascending, not key.nulls_first) if last else (key.ascending, key.nulls_first)
        sort.append((len(columns), ascending, nulls_first))
        fields.append(pa.field(f"o{len(columns)}", key.expr.dtype))
        columns.append(column)
    table = k.make_table(columns, pa.schema(fields), n)
    rank = k.window(table, _RANK, None, list(range(nk)), sort)
    first = k.binary(Op.EQ, rank, Literal(abs(position), _I64), _BOOL, n)
    if keep is not None:
        first = k.binary(Op.AND, first, keep, _BOOL, n)
    return k.if_else(first, value, Literal(None, dtype), dtype, n)


def percentile_values(keys: Sequence[Column], key_fields: Sequence[pa.Field], value: Column, fraction: float,
                      ctx: ExecutionContext) -> list[Column]:
    """For PERCENTILE_CONT(``fraction``) of the float64 ``value`` in ascending order within its
    group (``keys``): the value at the lower rank, the value at the upper rank and the
    interpolation weight at the lower rank's row, NULL elsewhere. The group-by's ANY_VALUE of each
    is the group's (a group without values has NULLs)."""
    k = ctx.kernels
    n = k.length(value)
    nk = len(keys)
    f64 = pa.float64()
    table = k.make_table([*keys, value], pa.schema([*key_fields, pa.field("v", f64)]), n)
    partition = list(range(nk))
    # NULLs last: they take no part, and must not move the values' ranks.
    rank = k.cast(k.window(table, _RANK, None, partition, [(nk, True, False)]), f64, False)
    count = k.cast(k.window(table, _COUNT, nk, partition, []), f64, False)
    less_one = k.binary(Op.SUBTRACT, count, Literal(1.0, f64), f64, n)
    index = k.binary(Op.MULTIPLY, less_one, Literal(fraction, f64), f64, n)
    lower = k.scalar_function("floor", [index], f64, n)
    upper = k.scalar_function("ceil", [index], f64, n)
    # DataFusion interpolates with the weight truncated to millionths (a fixed-point fraction).
    scaled = k.binary(Op.MULTIPLY, k.binary(Op.SUBTRACT, index, lower, f64, n), Literal(1e6, f64), f64, n)
    weight = k.binary(Op.DIVIDE, k.scalar_function("floor", [scaled], f64, n), Literal(1e6, f64), f64, n)
    at_lower = k.binary(Op.EQ, rank, k.binary(Op.ADD, lower, Literal(1.0, f64), f64, n), _BOOL, n)
    at_upper = k.binary(Op.EQ, rank, k.binary(Op.ADD, upper, Literal(1.0, f64), f64, n), _BOOL, n)
    null = Literal(None, f64)
    return [k.if_else(at_lower, value, null, f64, n), k.if_else(at_upper, value, null, f64, n),
            k.if_else(at_lower, weight, null, f64, n)]


def percentile(states: list[Column], dtype: pa.DataType, ctx: ExecutionContext) -> Column:
    k = ctx.kernels
    lo, hi, weight = states
    n = k.length(lo)
    f64 = pa.float64()
    step = k.binary(Op.MULTIPLY, k.binary(Op.SUBTRACT, hi, lo, f64, n), weight, f64, n)
    # An exact rank is its value (no arithmetic: lo + (hi - lo)·0 would be NaN for infinities).
    exact = k.binary(Op.EQ, weight, Literal(0.0, f64), _BOOL, n)
    value = k.if_else(exact, lo, k.binary(Op.ADD, lo, step, f64, n), f64, n)
    return value if dtype == f64 else k.cast(value, dtype, False)


# The window kernel's calls (its partition and order come as column positions, not in the call).
_RANK = WindowCall(func=WindowFunction.ROW_NUMBER, args=(), partition_by=(), order_by=(),
                   frame=WindowFrame.WHOLE_PARTITION, dtype=_I64, name="rank")
_COUNT = WindowCall(func=WindowFunction.COUNT, args=(), partition_by=(), order_by=(),
                    frame=WindowFrame.WHOLE_PARTITION, dtype=_I64, name="count")
