"""Window functions on the device: change flags, segmented scans and gather maps over the sorted rows.

As on the CPU (fallback_cpu/window.py), every function is index arithmetic over the sorted order:
each row's partition, peer-group and frame bounds are INT32 columns. lag/lead, first/last/nth_value
are one gather at the position those give (out of range where there is none, NULL under NULLIFY:
NOTES.md, 'Gather maps'), one scheme for ROWS and GROUPS offsets, RANGE peers and IGNORE NULLS
(libcudf's rolling LEAD/LAG aggregations skip no NULLs). Aggregates over frames that start at the
partition's start read a segmented scan at the frame's end; over other frames, exact sums are
differences of prefix sums, float sums and MIN/MAX are combined from blocks of 2^j rows.
"""

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
    _and,
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
from gpu_exec.cudf.types import _bool8, _dtype, _float64, _int32, _int64, _is_float
from planner.expr import WindowFrame, WindowFunction, window_parameter

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
    default: int | None = None,
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
    elif func in _DISTRIBUTION:
        result = _distribution(call, part_start, _group_ends(part_flags, n), peer_flags)
    elif func in _NAVIGATION:
        assert arg is not None
        source = CudfColumn(_gather_column(columns[arg], order), table.schema.field(arg).type)
        fill = _gather_column(columns[default], order) if default is not None else None
        result = _navigate(call, source, fill, part_start, _group_ends(part_flags, n), peer_flags)
    else:
        if arg is not None:
            source = CudfColumn(_gather_column(columns[arg], order), table.schema.field(arg).type)
        else:
            source = _all_null(pa.int8(), n)
        lo, hi = _frame_bounds(call.frame, part_start, _group_ends(part_flags, n), peer_flags)
        frames = _Frames(_segments(part_flags), part_start, lo, hi, running=call.frame.start is None)
        result = _window_aggregate(func, source, arg is None, frames, call.dtype)
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


class _Frames:
    """Reductions over every sorted row's frame ``[lo, hi)`` (INT32 positions), as the CPU's: when
    every frame starts at its partition's start (``running``), a segmented scan read at the
    frame's last row; else exact sums as differences of prefix sums, and float sums and min/max
    from blocks of 2^j rows (``_blocks``)."""

    def __init__(
        self, groups: plc.groupby.GroupBy, part_start: plc.Column, lo: plc.Column, hi: plc.Column, running: bool
    ) -> None:
        Op = plc.binaryop.BinaryOperator
        self.groups, self.lo, self.hi, self.running = groups, lo, hi, running
        self.empty = _compare(hi, lo, Op.LESS_EQUAL)
        # An empty frame reads any row of its partition: masked after.
        self.last = _binop(_int_op(hi, _scalar(1, _int32()), "SUB"), part_start, Op.NULL_MAX, _int32())

    def counts(self, valid: plc.Column) -> plc.Column:
        return plc.copying.copy_if_else(_scalar(0, _int64()), self.exact_sum(valid), self.empty)

    def exact_sum(self, values: plc.Column) -> plc.Column:
        """Integer and decimal sums, in ``values``' type (NULLs already zero)."""
        if self.running:
            running = _segmented_scan(self.groups, values, plc.aggregation.sum())
        else:
            running = plc.reduce.scan(values, plc.aggregation.sum(), plc.reduce.ScanType.INCLUSIVE)
        if running.type() != values.type():  # keep the accumulation type, whatever the scan's width
            running = plc.unary.cast(running, values.type())
        if self.running:
            return _gather_column(running, self.last)
        decimal = values.type().id() in (plc.TypeId.DECIMAL32, plc.TypeId.DECIMAL64, plc.TypeId.DECIMAL128)
        zero = _decimal_scalar(0, -values.type().scale()) if decimal else _scalar(0, values.type())
        prefix = plc.concatenate.concatenate([plc.Column.from_scalar(zero, 1), running])
        before, through = _gather_column(prefix, self.lo), _gather_column(prefix, self.hi)
        return _binop(through, before, plc.binaryop.BinaryOperator.SUB, values.type())

    def float_sum(self, values: plc.Column) -> plc.Column:
        if self.running:
            return _gather_column(_segmented_scan(self.groups, values, plc.aggregation.sum()), self.last)
        return _blocks(values, self.lo, self.hi, plc.binaryop.BinaryOperator.ADD, _scalar(0.0, values.type()))

    def extreme(self, codes: plc.Column, func: WindowFunction) -> plc.Column:
        """MIN/MAX of INT32 codes (NULL for a NULL value) over each frame; NULL for no value."""
        if not self.running:
            Op = plc.binaryop.BinaryOperator
            return _blocks(codes, self.lo, self.hi, Op.NULL_MIN if func is WindowFunction.MIN else Op.NULL_MAX, None)
        kind = plc.aggregation.min() if func is WindowFunction.MIN else plc.aggregation.max()
        running = _segmented_scan(self.groups, codes, kind)
        # A scan is NULL at NULL input rows (NOTES.md, 'Scans'): carry the running value forward in
        # each partition.
        _, filled = self.groups.replace_nulls(plc.Table([running]), [plc.replace.ReplacePolicy.PRECEDING])
        return _gather_column(filled.columns()[0], self.last)


def _blocks(
    values: plc.Column, lo: plc.Column, hi: plc.Column, op: plc.binaryop.BinaryOperator, identity: plc.Scalar | None
) -> plc.Column:
    """``op`` over ``values[lo:hi]`` for every row: the frame is cut into blocks of 2^j rows, one
    per set bit of its length (lowest first), each block's value from the level of 2^j-row blocks
    (level j + 1 built from level j, so one level is held at a time). ``identity`` None: the
    accumulator starts NULL (NULL_MIN / NULL_MAX skip a NULL side)."""
    Op = plc.binaryop.BinaryOperator
    n = values.size()
    dtype = values.type()
    acc = plc.Column.all_null_like(values, n) if identity is None else plc.Column.from_scalar(identity, n)
    position = lo
    length = _binop(_int_op(hi, lo, "SUB"), _scalar(0, _int32()), Op.NULL_MAX, _int32())
    top = plc.reduce.reduce(length, plc.aggregation.max(), _int32()) if n else None
    longest = int(top.to_py() or 0) if top is not None and top.is_valid() else 0
    level, width = values, 1
    while width <= longest:
        step = _scalar(width, _int32())
        take = _compare(_int_op(length, step, "BITWISE_AND"), _scalar(0, _int32()), Op.NOT_EQUAL)
        acc = plc.copying.copy_if_else(_binop(acc, _gather_column(level, position), op, dtype), acc, take)
        position = plc.copying.copy_if_else(_int_op(position, step, "ADD"), position, take)
        if 2 * width <= longest:
            # level[i] covers [i, i + width) where i + width <= n; past the end it is NULL (NULLIFY)
            # and never read.
            level = _binop(level, _gather_column(level, _int_op(_iota(n), step, "ADD")), op, dtype)
        width *= 2
    return acc


def _window_aggregate(
    func: WindowFunction,
    source: CudfColumn,
    count_rows: bool,
    frames: _Frames,
    out_type: pa.DataType,
) -> CudfColumn:
    """An aggregate over every sorted row's frame."""
    Op = plc.binaryop.BinaryOperator
    n = len(source)
    ones = plc.Column.from_scalar(_scalar(1, _int64()), n)
    valid = ones if count_rows else plc.unary.cast(plc.unary.is_valid(source.data), _int64())
    counts = frames.counts(valid)
    if func is WindowFunction.COUNT:
        return CudfColumn(counts, pa.int64())
    has_value = _compare(counts, _scalar(0, _int64()), Op.GREATER)
    if func in (WindowFunction.MIN, WindowFunction.MAX):
        return _window_min_max(func, source, frames, has_value)
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
    totals = frames.float_sum(values) if _is_float(values.type()) else frames.exact_sum(values)
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
    frames: _Frames,
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
    at_end = frames.extreme(plc.unary.cast(codes, _int32()), func)
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


_DISTRIBUTION = {WindowFunction.NTILE, WindowFunction.PERCENT_RANK, WindowFunction.CUME_DIST}
_NAVIGATION = {WindowFunction.LAG, WindowFunction.LEAD, WindowFunction.FIRST_VALUE,
               WindowFunction.LAST_VALUE, WindowFunction.NTH_VALUE}


def _distribution(
    call: WindowCall, part_start: plc.Column, part_end: plc.Column, peer_flags: plc.Column
) -> CudfColumn:
    """ntile, percent_rank and cume_dist from the partition's size and the row's (or its peer
    group's) position in it."""
    Op = plc.binaryop.BinaryOperator
    n = part_start.size()
    one = _scalar(1, _int32())
    size = _int_op(_int_op(part_end, part_start, "SUB"), one, "ADD")
    if call.func is WindowFunction.NTILE:
        # SQL's ntile, as DataFusion (and the CPU kernel): s rows in buckets of s // b rows, the
        # first s % b buckets one row larger; with more buckets than rows, one row each.
        b = _scalar(min(window_parameter(call) or 1, n + 1), _int32())
        within = _int_op(_iota(n), part_start, "SUB")
        rows, extra = _int_op(size, b, "DIV"), _int_op(size, b, "MOD")
        wider = _int_op(rows, one, "ADD")
        large = _int_op(extra, wider, "MUL")  # the rows in the larger buckets (at most s)
        in_large = _int_op(within, wider, "DIV")
        # rows is 0 only where every row is in a larger bucket; the divisor is kept from zero
        # (libcudf's integer ÷ 0 is garbage: NOTES.md, 'Integer division').
        divisor = _binop(rows, one, Op.NULL_MAX, _int32())
        in_small = _int_op(extra, _int_op(_int_op(within, large, "SUB"), divisor, "DIV"), "ADD")
        bucket = plc.copying.copy_if_else(in_large, in_small, _compare(within, large, Op.LESS))
        values = _binop(bucket, one, Op.ADD, _dtype(plc.TypeId.UINT64))
        return CudfColumn(values, pa.uint64())
    if call.func is WindowFunction.PERCENT_RANK:
        # (rank - 1) / (rows - 1); 0 in a partition of one row (0 / 0 there is replaced).
        before = plc.unary.cast(_int_op(_group_starts(peer_flags, n), part_start, "SUB"), _float64())
        rest = plc.unary.cast(_int_op(size, one, "SUB"), _float64())
        ratio = _binop(before, rest, Op.TRUE_DIV, _float64())
        several = _compare(size, one, Op.GREATER)
        return CudfColumn(plc.copying.copy_if_else(ratio, _scalar(0.0, _float64()), several), pa.float64())
    # cume_dist: the rows up to the current row's last peer, over the partition's rows.
    through = _int_op(_int_op(_group_ends(peer_flags, n), part_start, "SUB"), one, "ADD")
    ratio = _binop(plc.unary.cast(through, _float64()), plc.unary.cast(size, _float64()), Op.TRUE_DIV, _float64())
    return CudfColumn(ratio, pa.float64())


def _navigate(
    call: WindowCall,
    source: CudfColumn,
    fill: plc.Column | None,
    part_start: plc.Column,
    part_end: plc.Column,
    peer_flags: plc.Column,
) -> CudfColumn:
    """lag/lead/first_value/last_value/nth_value: the sorted position each row reads (none
    before or after the partition, in an empty frame, or past the values there are)."""
    Op = plc.binaryop.BinaryOperator
    n = len(source)
    func = call.func
    idx = _iota(n)
    # Offsets past the row count mean "outside the partition" alike; clipping keeps INT32 exact.
    k = window_parameter(call)
    k = None if k is None else max(-n - 1, min(n + 1, k))
    ignore = call.ignore_nulls
    # counts[j]: non-NULL values in sorted rows [0, j) (n + 1 rows). With IGNORE NULLS a position
    # is found as a rank r among the non-NULL rows, then read through their positions.
    valid = plc.unary.is_valid(source.data)
    running = plc.reduce.scan(plc.unary.cast(valid, _int32()), plc.aggregation.sum(), plc.reduce.ScanType.INCLUSIVE)
    counts = plc.concatenate.concatenate([plc.Column.from_scalar(_scalar(0, _int32()), 1), running])

    def at(column: plc.Column, offset: int) -> plc.Column:
        return _int_op(column, _scalar(offset, _int32()), "ADD")

    if func in (WindowFunction.LAG, WindowFunction.LEAD):
        step = (k or 0) * (-1 if func is WindowFunction.LAG else 1)
        if not ignore or step == 0:  # lag(x, 0) IGNORE NULLS is x itself, NULL or not
            rank = at(idx, step)
            ok = _and(_compare(rank, part_start, Op.GREATER_EQUAL), _compare(rank, part_end, Op.LESS_EQUAL))
        elif step < 0:  # the |step|-th non-NULL value before the row, in its partition
            rank = at(_gather_column(counts, idx), step)
            ok = _compare(rank, _gather_column(counts, part_start), Op.GREATER_EQUAL)
        else:  # the step-th non-NULL value after the row
            rank = at(_gather_column(counts, at(idx, 1)), step - 1)
            ok = _compare(rank, _gather_column(counts, at(part_end, 1)), Op.LESS)
        ignore = ignore and step != 0
    else:
        lo, hi = _frame_bounds(call.frame, part_start, part_end, peer_flags)
        first, stop = (_gather_column(counts, lo), _gather_column(counts, hi)) if ignore else (lo, hi)
        if func is WindowFunction.FIRST_VALUE:
            rank, ok = first, _compare(first, stop, Op.LESS)
        elif func is WindowFunction.LAST_VALUE:
            rank, ok = at(stop, -1), _compare(first, stop, Op.LESS)
        elif not k:  # nth_value(x, 0) and nth_value(x, NULL) are NULL
            rank, ok = first, plc.Column.from_scalar(_scalar(False, _bool8()), n)
        elif k > 0:
            rank = at(first, k - 1)
            ok = _compare(rank, stop, Op.LESS)
        else:  # nth_value(x, -k): the k-th from the frame's end
            rank = at(stop, k)
            ok = _compare(rank, first, Op.GREATER_EQUAL)
    # Where there is no row, an index past the end: NULLIFY gathers NULL there (a gather map
    # holds no NULLs, and a negative index would wrap around).
    past = _scalar(n, _int32())
    position = plc.copying.copy_if_else(rank, past, ok)
    if ignore:
        rows = plc.stream_compaction.apply_retention_mask(plc.Table([idx]), valid).columns()[0]
        position = plc.replace.replace_nulls(_gather_column(rows, position), past)
    taken = _gather_column(source.data, position)
    if fill is not None:
        taken = plc.copying.copy_if_else(taken, fill, ok)
    return CudfColumn(taken, source.type)


def _frame_bounds(
    frame: WindowFrame, part_start: plc.Column, part_end: plc.Column, peer_flags: plc.Column
) -> tuple[plc.Column, plc.Column]:
    """Each sorted row's frame as ``[lo, hi)`` sorted positions (INT32; empty when lo >= hi)."""
    Op = plc.binaryop.BinaryOperator
    n = part_start.size()
    stop = _int_op(part_end, _scalar(1, _int32()), "ADD")
    if frame.units == "GROUPS":
        return _group_frame_bounds(frame, part_start, stop, peer_flags)

    def clipped(offset: int) -> plc.Column:
        shifted = _int_op(_iota(n), _scalar(max(-n - 1, min(n + 1, offset)), _int32()), "ADD")
        return _binop(_binop(shifted, part_start, Op.NULL_MAX, _int32()), stop, Op.NULL_MIN, _int32())

    if frame.start is None:
        lo = part_start
    elif frame.units == "RANGE":  # CURRENT ROW: the first peer
        lo = _group_starts(peer_flags, n)
    else:
        lo = clipped(frame.start)
    if frame.end is None:
        hi = stop
    elif frame.units == "RANGE":  # CURRENT ROW: past the last peer
        hi = _int_op(_group_ends(peer_flags, n), _scalar(1, _int32()), "ADD")
    else:
        hi = clipped(frame.end + 1)
    return lo, hi


def _group_frame_bounds(
    frame: WindowFrame, part_start: plc.Column, stop: plc.Column, peer_flags: plc.Column
) -> tuple[plc.Column, plc.Column]:
    """GROUPS frames: the offsets count peer groups, as the CPU's. Groups are numbered over all
    the sorted rows; a bound is the first row of group ``g + offset``, clipped to the partition's
    groups (one past its last group: its end, ``stop``)."""
    Op = plc.binaryop.BinaryOperator
    n = part_start.size()
    one = _scalar(1, _int32())
    group = _int_op(
        plc.reduce.scan(plc.unary.cast(peer_flags, _int32()), plc.aggregation.sum(), plc.reduce.ScanType.INCLUSIVE),
        one,
        "SUB",
    )
    firsts = plc.stream_compaction.apply_retention_mask(plc.Table([_iota(n)]), peer_flags).columns()[0]
    starts = plc.concatenate.concatenate([firsts, plc.Column.from_scalar(_scalar(n, _int32()), 1)])
    first = _gather_column(group, part_start)
    after = _int_op(_gather_column(group, _int_op(stop, one, "SUB")), one, "ADD")

    def bound(offset: int) -> plc.Column:
        shifted = _int_op(group, _scalar(max(-n - 1, min(n + 1, offset)), _int32()), "ADD")
        clipped = _binop(_binop(shifted, first, Op.NULL_MAX, _int32()), after, Op.NULL_MIN, _int32())
        return _gather_column(starts, clipped)

    lo = part_start if frame.start is None else bound(frame.start)
    hi = stop if frame.end is None else bound(frame.end + 1)
    return lo, hi
