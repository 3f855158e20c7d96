"""Window functions: numpy running aggregates, ranks and frame positions over the sorted rows.

The rows are sorted by partition, then by the ORDER BY keys; every function is then index
arithmetic over that order: a partition's first and last row, a peer group's, a frame's bounds,
and for IGNORE NULLS the running count of non-NULL values (the k-th non-NULL value of a frame is
found by its rank among the non-NULL rows). Aggregates over frames that start at the partition's
start read a running scan at the frame's end; over other frames, exact sums are differences of
prefix sums, float sums and MIN/MAX are combined from blocks of 2^j rows (``_blocks``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fallback_cpu.cast import _cast_array
from fallback_cpu.columns import (
    _array,
    _data_errors,
    _from_numpy,
    _numpy_values,
    _valid_mask,
)
from fallback_cpu.decimals import (
    _Dec,
    _decimal_array,
    _int_divide,
    _rescale,
    _rescale_up,
)
from fallback_cpu.relational import sort_indices
from fallback_cpu.types import sum_type_of
from planner.expr import WindowFrame, WindowFunction, window_parameter

if TYPE_CHECKING:
    from planner.expr import WindowCall


def window(
    table: pa.Table,
    call: WindowCall,
    arg: int | None,
    partition_by: Sequence[int],
    order_by: Sequence[tuple[int, bool, bool]],
    default: int | None = None,
) -> pa.Array:
    n = table.num_rows
    sort_spec = [(p, True, True) for p in partition_by] + list(order_by)
    order = _numpy_values(sort_indices(table, sort_spec)).astype(np.int64)
    take = pa.array(order)
    partition_cols = [_array(table.column(p)).take(take) for p in partition_by]
    order_cols = [_array(table.column(i)).take(take) for i, _, _ in order_by]
    part_flags = _change_flags(partition_cols, n)
    peer_flags = part_flags | _change_flags(order_cols, n)
    part_start = _group_starts(part_flags)
    func = call.func
    if func is WindowFunction.ROW_NUMBER:
        values = np.arange(n) - part_start + 1
        result = _from_numpy(values.astype(np.uint64), None, pa.uint64())
    elif func is WindowFunction.RANK:
        values = _group_starts(peer_flags) - part_start + 1
        result = _from_numpy(values.astype(np.uint64), None, pa.uint64())
    elif func is WindowFunction.DENSE_RANK:
        peer_count = np.cumsum(peer_flags)
        values = peer_count - peer_count[part_start] + 1
        result = _from_numpy(values.astype(np.uint64), None, pa.uint64())
    elif func in _DISTRIBUTION:
        result = _distribution(call, part_start, _group_ends(part_flags), peer_flags)
    elif func in _NAVIGATION:
        assert arg is not None
        source = _array(table.column(arg)).take(take)
        fill = _array(table.column(default)).take(take) if default is not None else None
        result = _navigate(call, source, fill, part_start, _group_ends(part_flags), peer_flags)
    else:
        source = _array(table.column(arg)).take(take) if arg is not None else pa.nulls(n, pa.int8())
        lo, hi = _frame_bounds(call.frame, part_start, _group_ends(part_flags), peer_flags)
        frames = _Frames(part_start, lo, hi, running=call.frame.start is None)
        result = _window_aggregate(func, source, arg is None, frames, call.dtype)
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.arange(n, dtype=np.int64)
    with _data_errors(f"window {func.value}"):
        return _cast_array(result.take(pa.array(inverse)), call.dtype, safe=False)


_DISTRIBUTION = {WindowFunction.NTILE, WindowFunction.PERCENT_RANK, WindowFunction.CUME_DIST}
_NAVIGATION = {WindowFunction.LAG, WindowFunction.LEAD, WindowFunction.FIRST_VALUE,
               WindowFunction.LAST_VALUE, WindowFunction.NTH_VALUE}


def _distribution(
    call: WindowCall, part_start: np.ndarray, part_end: np.ndarray, peer_flags: np.ndarray
) -> pa.Array:
    """ntile, percent_rank and cume_dist from the partition's size and the row's (or its peer
    group's) position in it."""
    n = len(part_start)
    size = part_end - part_start + 1
    if call.func is WindowFunction.NTILE:
        # SQL's ntile, as DataFusion: s rows in buckets of s // b rows, the first s % b buckets
        # one row larger; with more buckets than rows, one row each. Row order only, not peers.
        # (b past the row count acts as b = n + 1: clipped to keep int64 exact.)
        b = min(window_parameter(call) or 1, n + 1)
        within = np.arange(n) - part_start
        rows, extra = size // b, size % b
        large = extra * (rows + 1)  # the rows in the larger buckets
        values = np.where(
            within < large,
            within // (rows + 1),
            extra + (within - large) // np.maximum(rows, 1),
        ) + 1
        return _from_numpy(values.astype(np.uint64), None, pa.uint64())
    if call.func is WindowFunction.PERCENT_RANK:
        # (rank - 1) / (rows - 1); 0 in a partition of one row.
        before = (_group_starts(peer_flags) - part_start).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            values = np.where(size > 1, before / (size - 1), 0.0)
        return _from_numpy(values, None, pa.float64())
    # cume_dist: the rows up to the current row's last peer, over the partition's rows.
    through = (_group_ends(peer_flags) - part_start + 1).astype(np.float64)
    return _from_numpy(through / np.maximum(size, 1), None, pa.float64())


def _navigate(
    call: WindowCall,
    source: pa.Array,
    fill: pa.Array | None,
    part_start: np.ndarray,
    part_end: np.ndarray,
    peer_flags: np.ndarray,
) -> pa.Array:
    """lag/lead/first_value/last_value/nth_value: the sorted position each row reads (NULL where
    there is none: before or after the partition, an empty frame, too few values)."""
    n = len(source)
    func = call.func
    idx = np.arange(n, dtype=np.int64)
    # Offsets past the row count mean "outside the partition" alike; clipping keeps int64 exact.
    k = window_parameter(call)
    k = None if k is None else max(-n - 1, min(n + 1, k))
    ignore = call.ignore_nulls
    # counts[j]: non-NULL values in sorted rows [0, j); positions: those rows. With IGNORE NULLS
    # a position is found as a rank r among the non-NULL rows, then read through positions[r].
    valid = _valid_mask(source)
    counts = np.concatenate([np.zeros(1, np.int64), np.cumsum(valid, dtype=np.int64)])
    if func in (WindowFunction.LAG, WindowFunction.LEAD):
        step = (k or 0) * (-1 if func is WindowFunction.LAG else 1)
        if not ignore or step == 0:  # lag(x, 0) IGNORE NULLS is x itself, NULL or not
            rank = idx + step
            ok = (rank >= part_start) & (rank <= part_end)
        elif step < 0:  # the |step|-th non-NULL value before the row, in its partition
            rank = counts[idx] + step
            ok = rank >= counts[part_start]
        else:  # the step-th non-NULL value after the row
            rank = counts[idx + 1] + step - 1
            ok = rank < counts[part_end + 1]
        ignore = ignore and step != 0
    else:
        lo, hi = _frame_bounds(call.frame, part_start, part_end, peer_flags)
        first, stop = (counts[lo], counts[hi]) if ignore else (lo, hi)
        if func is WindowFunction.FIRST_VALUE:
            rank, ok = first, first < stop
        elif func is WindowFunction.LAST_VALUE:
            rank, ok = stop - 1, first < stop
        elif not k:  # nth_value(x, 0) and nth_value(x, NULL) are NULL
            rank, ok = first, np.zeros(n, bool)
        elif k > 0:
            rank = first + k - 1
            ok = rank < stop
        else:  # nth_value(x, -k): the k-th from the frame's end
            rank = stop + k
            ok = rank >= first
    rank = np.where(ok, rank, 0)
    position = np.flatnonzero(valid)[rank[ok]] if ignore else rank[ok]
    picked = np.zeros(n, np.int64)
    picked[ok] = position
    taken = source.take(pa.array(picked, mask=~ok))
    if fill is None:
        return taken
    return pc.if_else(pa.array(ok), taken, fill)


def _frame_bounds(
    frame: WindowFrame, part_start: np.ndarray, part_end: np.ndarray, peer_flags: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each sorted row's frame as ``[lo, hi)`` sorted positions (empty when lo >= hi)."""
    n = len(part_start)
    idx = np.arange(n, dtype=np.int64)
    stop = part_end + 1
    if frame.units == "GROUPS":
        return _group_frame_bounds(frame, part_start, part_end, peer_flags)
    if frame.start is None:
        lo = part_start
    elif frame.units == "RANGE":  # CURRENT ROW: the first peer
        lo = _group_starts(peer_flags)
    else:
        lo = np.clip(idx + max(-n - 1, min(n + 1, frame.start)), part_start, stop)
    if frame.end is None:
        hi = stop
    elif frame.units == "RANGE":  # CURRENT ROW: past the last peer
        hi = _group_ends(peer_flags) + 1
    else:
        hi = np.clip(idx + max(-n - 1, min(n + 1, frame.end)) + 1, part_start, stop)
    return lo, hi


class _Frames:
    """Reductions over every sorted row's frame ``[lo, hi)``. When every frame starts at its
    partition's start (``running``), a running scan within the partition read at the frame's last
    row; else exact sums as differences of prefix sums, and float sums and min/max from blocks of
    2^j rows (``_blocks``)."""

    def __init__(self, part_start: np.ndarray, lo: np.ndarray, hi: np.ndarray, running: bool) -> None:
        self.part_start, self.lo, self.hi, self.running = part_start, lo, hi, running
        self.empty = hi <= lo
        self.last = np.maximum(hi - 1, part_start)  # an empty frame reads any row: masked after

    def counts(self, valid: np.ndarray) -> np.ndarray:
        return np.where(self.empty, 0, self.exact_sum(valid.astype(np.int64)))

    def exact_sum(self, values: np.ndarray) -> np.ndarray:
        """Integer sums (int64 wraps like DataFusion; Python ints are exact)."""
        if self.running:
            return _segmented_prefix(values, self.part_start)[self.last]
        prefix = np.concatenate([np.zeros(1, dtype=values.dtype), np.cumsum(values)])
        return prefix[self.hi] - prefix[self.lo]

    def reduce(self, values: np.ndarray, op: Callable[[Any, Any], Any], identity: Any) -> np.ndarray:
        if self.running:
            return _segmented_scan(values, self.part_start, op)[self.last]
        return _blocks(values, self.lo, self.hi, op, identity)


def _blocks(
    values: np.ndarray, lo: np.ndarray, hi: np.ndarray, op: Callable[[Any, Any], Any], identity: Any
) -> np.ndarray:
    """``op`` over ``values[lo:hi]`` for every row: the frame is cut into blocks of 2^j rows, one
    per set bit of its length (lowest first), each block's value from the level of 2^j-row blocks
    (level j + 1 built from level j, so one level is held at a time). A float sum adds log2(rows)
    block sums, each summed pairwise: no running sum's cancellation across the partition."""
    n = len(values)
    acc = np.full(n, identity, dtype=values.dtype)
    position = lo.astype(np.int64).copy()
    length = np.maximum(hi - lo, 0)
    longest = int(length.max(initial=0))
    level, width = values, 1
    while width <= longest:
        rows = np.flatnonzero(length & width)
        if len(rows):
            acc[rows] = op(acc[rows], level[position[rows]])
            position[rows] += width
        if 2 * width <= longest:
            # level[i] covers [i, i + width) where i + width <= n; beyond, it is never read.
            wider = level.copy()
            wider[: n - width] = op(level[: n - width], level[width:])
            level = wider
        width *= 2
    return acc


def _group_frame_bounds(
    frame: WindowFrame, part_start: np.ndarray, part_end: np.ndarray, peer_flags: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """GROUPS frames: the offsets count peer groups. Groups are numbered over all the sorted
    rows; a frame bound is the first row of group ``g + offset``, clipped to the partition's
    groups (one past its last group: its end)."""
    n = len(part_start)
    group = np.cumsum(peer_flags, dtype=np.int64) - 1
    starts = np.append(np.flatnonzero(peer_flags), n)  # the first row of each group, then n
    first, after = group[part_start], group[part_end] + 1

    def bound(offset: int) -> np.ndarray:
        return starts[np.clip(group + max(-n - 1, min(n + 1, offset)), first, after)]

    lo = part_start if frame.start is None else bound(frame.start)
    hi = part_end + 1 if frame.end is None else bound(frame.end + 1)
    return lo, hi


def _window_aggregate(
    func: WindowFunction,
    source: pa.Array,
    count_rows: bool,
    frames: _Frames,
    out_type: pa.DataType,
) -> pa.Array:
    """An aggregate over every sorted row's frame."""
    valid = np.ones(len(source), bool) if count_rows else _valid_mask(source)
    counts = frames.counts(valid)
    if func is WindowFunction.COUNT:
        return pa.array(counts, type=pa.int64())
    has_value = counts > 0
    if func in (WindowFunction.MIN, WindowFunction.MAX):
        # Dense codes of the values (strings, dates, decimals alike): a min/max over int64
        # codes, then the value back through any row that holds that code.
        codes = _numpy_values(pc.rank(source, sort_keys="ascending", tiebreaker="dense")).astype(np.int64)
        if func is WindowFunction.MIN:
            top = np.iinfo(np.int64).max
            scanned = frames.reduce(np.where(valid, codes, top), np.minimum, top)
        else:
            scanned = frames.reduce(np.where(valid, codes, -1), np.maximum, -1)
        representative = np.zeros(int(codes.max(initial=0)) + 1, dtype=np.int64)
        representative[codes] = np.arange(len(codes))
        picked = representative[np.clip(scanned, 0, len(representative) - 1)]
        return source.take(pa.array(picked, mask=~has_value))
    t = source.type
    if pa.types.is_decimal(t) or pa.types.is_integer(t):
        dec = _Dec.of(source)
        totals = frames.exact_sum(np.where(valid, dec.values, 0))
        scale = dec.scale
        if func is WindowFunction.SUM:
            if pa.types.is_decimal(out_type):
                return _decimal_array(
                    _rescale(totals, scale, out_type.scale, "half_away"),
                    has_value,
                    out_type,
                    safe=False,
                    what="window sum",
                )
            sum_type = sum_type_of(t)
            if totals.dtype == object:  # int64 wrap-around, as DataFusion's integer SUM
                totals = np.array([((v + 2**63) % 2**64) - 2**63 for v in totals], dtype=np.int64)
            return _from_numpy(totals.astype(sum_type.to_pandas_dtype()), has_value, sum_type)
        if pa.types.is_decimal(out_type):  # AVG(decimal): truncated at the planned scale
            safe_counts = np.where(has_value, counts, 1)
            quotient = _int_divide(_rescale_up(totals, out_type.scale - scale), safe_counts, "trunc")
            return _decimal_array(quotient, has_value, out_type, safe=False, what="window avg")
        as_float = (
            totals.astype(np.float64) if totals.dtype != object else np.array([float(v) for v in totals])
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            return _from_numpy(as_float / np.where(has_value, counts, 1), has_value, pa.float64())
    values = np.where(valid, _numpy_values(source.cast(pa.float64()), 0.0), 0.0)
    totals = frames.reduce(values, np.add, 0.0)
    if func is WindowFunction.SUM:
        return _from_numpy(totals, has_value, pa.float64())
    with np.errstate(invalid="ignore", divide="ignore"):
        return _from_numpy(totals / np.where(has_value, counts, 1), has_value, pa.float64())


def _change_flags(columns: Sequence[pa.Array], n: int) -> np.ndarray:
    """flags[i]: row i differs from row i-1 in some column (NULLs equal each other, NaNs too);
    flags[0] is True."""
    flags = np.zeros(n, dtype=bool)
    if n:
        flags[0] = True
    for col in columns:
        if n < 2:
            break
        a, b = col.slice(1), col.slice(0, n - 1)
        differ = pc.fill_null(pc.not_equal(a, b), True)
        both_null = pc.and_(pc.is_null(a), pc.is_null(b))
        if pa.types.is_floating(col.type):
            both_nan = pc.fill_null(pc.and_(pc.is_nan(a), pc.is_nan(b)), False)
            both_null = pc.or_(both_null, both_nan)
        differ = pc.and_(differ, pc.invert(both_null))
        flags[1:] |= np.asarray(differ.to_numpy(zero_copy_only=False), dtype=bool)
    return flags


def _group_starts(flags: np.ndarray) -> np.ndarray:
    """For every row, the index of the first row of its group (groups start where flags)."""
    idx = np.arange(len(flags))
    return np.maximum.accumulate(np.where(flags, idx, 0)) if len(flags) else idx


def _group_ends(flags: np.ndarray) -> np.ndarray:
    """For every row, the index of the last row of its group."""
    n = len(flags)
    if n == 0:
        return np.arange(0)
    last = np.zeros(n, dtype=bool)
    last[:-1] = flags[1:]
    last[-1] = True
    idx = np.where(last, np.arange(n), n)
    return np.minimum.accumulate(idx[::-1])[::-1]


def _segmented_prefix(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Inclusive running sum restarting at each segment, exact for integers (int64 wraps like
    DataFusion; Python ints are exact): total prefix minus the prefix before the segment."""
    prefix = np.cumsum(values)
    before = np.concatenate([np.zeros(1, dtype=prefix.dtype), prefix[:-1]])
    return prefix - before[starts]


def _segmented_scan(values: np.ndarray, starts: np.ndarray, op: Callable[[Any, Any], Any]) -> np.ndarray:
    """Inclusive scan with an associative ``op`` restarting at each segment: Hillis-Steele
    doubling, log2(longest segment) vectorised passes. Used for float sums (subtracting float
    prefixes loses the small partitions' precision) and min/max."""
    out = values.copy()
    n = len(out)
    if n == 0:
        return out
    idx = np.arange(n)
    longest = int((idx - starts).max()) + 1
    shift = 1
    while shift < longest:
        rows = np.nonzero(idx - shift >= starts)[0]
        out[rows] = op(out[rows], out[rows - shift])
        shift *= 2
    return out
