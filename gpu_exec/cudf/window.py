"""Window functions on the device: change flags and segmented scans over the sorted rows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import pyarrow as pa

from fallback_cpu.types import sum_type_of
from gpu_exec.cudf.aggregate import _average
from gpu_exec.cudf.cast import _cast
from gpu_exec.cudf.columns import (
    CudfColumn,
    CudfTable,
    _all_null,
    _binop,
    _compare,
    _decimal_scalar,
    _float_nan_flags,
    _int_op,
    _iota,
    _keep_where,
    _not,
    _or,
    _scalar,
)
from gpu_exec.cudf.decimals import _check_precision, _rescale_decimal
from gpu_exec.cudf.relational import _sort_order
from gpu_exec.cudf.types import _bool8, _dtype, _int32, _int64, _is_float
from planner.expr import WindowFrame, WindowFunction

if TYPE_CHECKING:
    import pylibcudf as plc

    from planner.expr import WindowCall
else:
    from gpu_exec.cudf.lazy import plc


def window(
    table: CudfTable,
    call: WindowCall,
    arg: int | None,
    partition_by: Sequence[int],
    order_by: Sequence[tuple[int, bool, bool]],
) -> CudfColumn:
    n = table.table.num_rows()
    if n == 0:
        return _all_null(call.dtype, 0)
    sort_spec = [(p, True, True) for p in partition_by] + list(order_by)
    order = _sort_order(table, sort_spec) if sort_spec else _iota(n)
    columns = table.table.columns()
    part_cols = [_gather_column(columns[p], order) for p in partition_by]
    order_cols = [_gather_column(columns[i], order) for i, _, _ in order_by]
    part_flags = _change_flags(part_cols, n)
    peer_flags = _or(part_flags, _change_flags(order_cols, n)) if order_cols else part_flags
    part_start = _group_starts(part_flags, n)
    func = call.func
    one = _scalar(1, _int32())
    if func is WindowFunction.ROW_NUMBER:
        ranks = _int_op(_int_op(_iota(n), part_start, "SUB"), one, "ADD")
        result = CudfColumn(plc.unary.cast(ranks, _dtype(plc.TypeId.UINT64)), pa.uint64())
    elif func is WindowFunction.RANK:
        ranks = _int_op(_int_op(_group_starts(peer_flags, n), part_start, "SUB"), one, "ADD")
        result = CudfColumn(plc.unary.cast(ranks, _dtype(plc.TypeId.UINT64)), pa.uint64())
    elif func is WindowFunction.DENSE_RANK:
        peers = plc.reduce.scan(
            plc.unary.cast(peer_flags, _int32()), plc.aggregation.sum(), plc.reduce.ScanType.INCLUSIVE
        )
        ranks = _int_op(_int_op(peers, _gather_column(peers, part_start), "SUB"), one, "ADD")
        result = CudfColumn(plc.unary.cast(ranks, _dtype(plc.TypeId.UINT64)), pa.uint64())
    else:
        if arg is not None:
            source = CudfColumn(_gather_column(columns[arg], order), table.schema.field(arg).type)
        else:
            source = _all_null(pa.int8(), n)
        frame_end = {
            WindowFrame.WHOLE_PARTITION: lambda: _group_ends(part_flags, n),
            WindowFrame.RANGE_TO_CURRENT: lambda: _group_ends(peer_flags, n),
            WindowFrame.ROWS_TO_CURRENT: lambda: _iota(n),
        }[call.frame]()
        result = _window_aggregate(
            func, source, arg is None, _segments(part_flags), frame_end, call.dtype
        )
    # Back to the input row order: sorted row i came from input row order[i]: a scatter.
    target = plc.Table([plc.Column.all_null_like(result.data, n)])
    unsorted = plc.copying.scatter(plc.Table([result.data]), order, target).columns()[0]
    return _cast(CudfColumn(unsorted, result.type), call.dtype, safe=False)


def _change_flags(columns: Sequence[plc.Column], n: int) -> plc.Column:
    """flags[i]: row i differs from row i-1 in some column (NULLs equal each other, NaNs too);
    flags[0] is true. Rows 1..n-1 are compared with rows 0..n-2 through zero-copy slices."""
    Op = plc.binaryop.BinaryOperator
    first = plc.Column.from_scalar(_scalar(True, _bool8()), 1)
    if n < 2 or not columns:
        rest = plc.Column.from_scalar(_scalar(False, _bool8()), n - 1) if n > 1 else None
        return first if rest is None else plc.concatenate.concatenate([first, rest])
    differ: plc.Column | None = None
    for col in columns:
        current, previous = plc.copying.slice(col, [1, n, 0, n - 1])
        same = _compare(current, previous, Op.NULL_EQUALS)  # NULL = NULL here, never NULL
        if _is_float(col.type()):
            both_nan = _compare(_float_nan_flags(current), _float_nan_flags(previous), Op.LOGICAL_AND)
            same = _compare(same, both_nan, Op.LOGICAL_OR)
        changed = _not(same)
        differ = changed if differ is None else _compare(differ, changed, Op.LOGICAL_OR)
    assert differ is not None
    return plc.concatenate.concatenate([first, differ])


def _group_starts(flags: plc.Column, n: int) -> plc.Column:
    """For every row, the index of the first row of its group (groups start where flags)."""
    marked = plc.copying.copy_if_else(_iota(n), _scalar(0, _int32()), flags)
    return plc.reduce.scan(marked, plc.aggregation.max(), plc.reduce.ScanType.INCLUSIVE)


def _group_ends(flags: plc.Column, n: int) -> plc.Column:
    """For every row, the index of the last row of its group."""
    last = plc.copying.shift(flags, -1, _scalar(True, _bool8()))
    marked = plc.copying.copy_if_else(_iota(n), _scalar(n, _int32()), last)
    reversed_min = plc.reduce.scan(
        plc.copying.reverse(marked), plc.aggregation.min(), plc.reduce.ScanType.INCLUSIVE
    )
    return plc.copying.reverse(reversed_min)


def _segments(part_flags: plc.Column) -> plc.groupby.GroupBy:
    """A GroupBy over the sorted partitions, keyed by a dense partition number (one non-null
    INT32 key: no NULL or NaN key semantics to get wrong)."""
    number = plc.reduce.scan(
        plc.unary.cast(part_flags, _int32()), plc.aggregation.sum(), plc.reduce.ScanType.INCLUSIVE
    )
    return plc.groupby.GroupBy(
        plc.Table([number]),
        null_handling=plc.types.NullPolicy.INCLUDE,
        keys_are_sorted=plc.types.Sorted.YES,
        column_order=[plc.types.Order.ASCENDING],
        null_precedence=[plc.types.NullOrder.AFTER],
    )


def _segmented_scan(
    groups: plc.groupby.GroupBy, values: plc.Column, agg: plc.aggregation.Aggregation
) -> plc.Column:
    _, results = groups.scan([plc.groupby.GroupByRequest(values, [agg])])
    return results[0].columns()[0]


def _gather_column(col: plc.Column, indices: plc.Column) -> plc.Column:
    return plc.copying.gather(plc.Table([col]), indices, plc.copying.OutOfBoundsPolicy.NULLIFY).columns()[0]


def _window_aggregate(
    func: WindowFunction,
    source: CudfColumn,
    count_rows: bool,
    groups: plc.groupby.GroupBy,
    frame_end: plc.Column,
    out_type: pa.DataType,
) -> CudfColumn:
    """A running aggregate from the partition start to ``frame_end`` of every sorted row."""
    Op = plc.binaryop.BinaryOperator
    n = len(source)
    ones = plc.Column.from_scalar(_scalar(1, _int64()), n)
    valid = ones if count_rows else plc.unary.cast(plc.unary.is_valid(source.data), _int64())
    counts = _gather_column(_segmented_scan(groups, valid, plc.aggregation.sum()), frame_end)
    if func is WindowFunction.COUNT:
        return CudfColumn(counts, pa.int64())
    has_value = _compare(counts, _scalar(0, _int64()), Op.GREATER)
    if func in (WindowFunction.MIN, WindowFunction.MAX):
        return _window_min_max(func, source, groups, frame_end, has_value)
    t = source.type
    sum_type = sum_type_of(t)
    values = _cast(source, sum_type, safe=False).data
    # NULLs add nothing; a scan masks NULL input rows (NOTES.md, 'Scans'), so fill them with zero first.
    zero = (
        _decimal_scalar(0, int(sum_type.scale))
        if pa.types.is_decimal(sum_type)
        else _scalar(0, values.type())
    )
    values = plc.replace.replace_nulls(values, zero)
    running = _segmented_scan(groups, values, plc.aggregation.sum())
    if running.type() != values.type():  # keep the accumulation type, whatever the scan's width
        running = plc.unary.cast(running, values.type())
    totals = _gather_column(running, frame_end)
    if func is WindowFunction.SUM:
        if pa.types.is_decimal(out_type):
            rescaled = _rescale_decimal(totals, int(out_type.scale))
            return CudfColumn(
                _check_precision(_keep_where(rescaled, has_value), out_type, False, "window sum"), out_type
            )
        return CudfColumn(_keep_where(totals, has_value), sum_type)
    return _average(CudfColumn(totals, sum_type), counts, has_value, out_type)


def _window_min_max(
    func: WindowFunction,
    source: CudfColumn,
    groups: plc.groupby.GroupBy,
    frame_end: plc.Column,
    has_value: plc.Column,
) -> CudfColumn:
    """Running MIN/MAX of any orderable type through dense codes of the values: a scan over
    INT32 codes, then the value back from the sorted distinct values (the CPU does the same)."""
    data = source.data
    codes = plc.sorting.rank(
        data,
        plc.aggregation.RankMethod.DENSE,
        plc.types.Order.ASCENDING,
        plc.types.NullPolicy.EXCLUDE,  # NULL values get a NULL code
        plc.types.NullOrder.AFTER,
        False,
    )
    codes = plc.unary.cast(codes, _int32())
    kind = plc.aggregation.min() if func is WindowFunction.MIN else plc.aggregation.max()
    running = _segmented_scan(groups, codes, kind)
    # A scan is NULL at NULL input rows (NOTES.md, 'Scans'): carry the running value forward in each
    # partition.
    _, filled = groups.replace_nulls(plc.Table([running]), [plc.replace.ReplacePolicy.PRECEDING])
    at_end = _gather_column(filled.columns()[0], frame_end)
    values = plc.stream_compaction.apply_retention_mask(plc.Table([data]), plc.unary.is_valid(data))
    distinct = plc.stream_compaction.distinct(
        values,
        [0],
        plc.stream_compaction.DuplicateKeepOption.KEEP_ANY,
        plc.types.NullEquality.EQUAL,
        plc.types.NanEquality.ALL_EQUAL,
    )
    ordered = plc.sorting.sort(distinct, [plc.types.Order.ASCENDING], [plc.types.NullOrder.AFTER])
    position = _binop(at_end, _scalar(1, _int32()), plc.binaryop.BinaryOperator.SUB, _int32())
    position = _keep_where(position, has_value)
    fill = _scalar(ordered.num_rows(), _int32())  # out of range → NULL under NULLIFY
    picked = plc.copying.gather(
        ordered, plc.replace.replace_nulls(position, fill), plc.copying.OutOfBoundsPolicy.NULLIFY
    )
    return CudfColumn(picked.columns()[0], source.type)
