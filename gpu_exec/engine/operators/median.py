"""MEDIAN: the middle value of each group, or the mean of the two middle ones.

An exact median has no mergeable state smaller than the group's values, so it is planned in one
step over all the rows of each group (planner.physical sends the rows to a partition by their keys,
as for DISTINCT aggregates) and the operator collects its partition before aggregating it.

Each row's rank in its group (ROW_NUMBER over the group's values, ascending, NULLs last: NaN above
every number and -0.0 tied with 0.0, DataFusion's order on both backends) and the group's count of
values come from the window kernel; the argument is kept at the one or two middle ranks and made
NULL elsewhere, so the ordinary group-by's SUM and COUNT of it are aligned with the other
aggregates, and the median is their AVG: (lo + hi) / 2 as DataFusion computes it, a decimal one
truncated toward zero at the argument's scale.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import pyarrow as pa

from planner.expr import BinaryOperator, Literal, WindowCall, WindowFrame, WindowFunction
from planner.physical import avg_sum_type

if TYPE_CHECKING:
    from gpu_exec.engine.context import ExecutionContext
    from gpu_exec.engine.kernels import AggSpec, Column

__all__ = ["middle_values", "specs", "finish"]

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
    rank_call = WindowCall(WindowFunction.ROW_NUMBER, (), (), (), WindowFrame.WHOLE_PARTITION, _I64, "rank")
    count_call = WindowCall(WindowFunction.COUNT, (), (), (), WindowFrame.WHOLE_PARTITION, _I64, "count")
    rank = k.window(table, rank_call, None, partition, [(nk, True, False)])
    count = k.window(table, count_call, nk, partition, [])
    # Ranks (n + 1) / 2 and n / 2 + 1, in integer division: one rank when n is odd, two when even,
    # and rank 1 when n is 0.
    low = k.binary(Op.DIVIDE, k.binary(Op.ADD, count, Literal(1, _I64), _I64, n), Literal(2, _I64), _I64, n)
    high = k.binary(Op.ADD, k.binary(Op.DIVIDE, count, Literal(2, _I64), _I64, n), Literal(1, _I64), _I64, n)
    middle = k.binary(Op.OR, k.binary(Op.EQ, rank, low, _BOOL, n), k.binary(Op.EQ, rank, high, _BOOL, n), _BOOL, n)
    return k.if_else(middle, value, Literal(None, dtype), dtype, n)


def specs(arg: int, dtype: pa.DataType) -> list[AggSpec]:
    """The group-by aggregations of the middle values (``arg``) of ``dtype``: SUM and COUNT."""
    return [(arg, "sum", avg_sum_type(dtype)), (arg, "count", _I64)]


def finish(states: list[Column], dtype: pa.DataType, ctx: ExecutionContext) -> Column:
    return ctx.kernels.average(states[0], states[1], dtype)
