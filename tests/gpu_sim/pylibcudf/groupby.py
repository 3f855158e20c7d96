"""Simulated ``pylibcudf.groupby`` (models pylibcudf 26.10, ``groupby.pyx``; libcudf
``cpp/include/cudf/groupby.hpp``, ``cpp/src/groupby/``).

Behaviour modelled:

- ``null_handling`` defaults to EXCLUDE: rows whose key has a NULL in *any* key column are
  dropped. INCLUDE makes NULL a key value (NULLs equal each other). NaN keys are equal to each
  other and -0.0 equals 0.0 (libcudf's hash and sort comparators).
- ``aggregate`` returns (distinct keys, one Table per request, one column per aggregation). The
  group order is unspecified ("arbitrary ... may differ between calls"): the simulator scrambles
  it, unless ``keys_are_sorted=YES``, where groups come in key order. With YES the keys must
  really be sorted by ``column_order`` / ``null_precedence`` (defaults ASCENDING / AFTER); libcudf
  trusts the flag and forms wrong groups otherwise, the simulator raises.
- ``scan`` / ``replace_nulls`` / ``shift`` / ``get_groups`` return rows *grouped*: each group's rows
  contiguous and in input order, groups in the same (scrambled unless sorted) order, with the keys
  table gathered alike. With sorted keys that is the input row order.
- Result types are libcudf's (``aggregation.target_type``); all-NULL groups give NULL for
  SUM/MIN/MAX/MEAN/..., COUNT gives 0. SUM of decimals keeps the type and scale (an overflow of
  the width, which libcudf wraps silently, raises OverflowError); MEAN of decimals truncates.
- Scans: NULL input rows are skipped and the result is NULL at them (``group_scan_util.cuh``).
- MIN/MAX over values holding NaN are order-dependent in libcudf (``std::min`` / atomics): the
  simulator raises instead of picking one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pylibcudf import _fixed_width, _sim
from pylibcudf.aggregation import (
    Aggregation,
    Kind,
    RankPercentage,
    target_type,
)
from pylibcudf.column import Column
from pylibcudf.scalar import Scalar
from pylibcudf.sorting import (
    _valid_flags,
    column_codes,
    is_sorted,
    rank_values,
    row_group_ids,
    take_column,
    take_table,
)
from pylibcudf.table import Table
from pylibcudf.types import DataType, NullOrder, NullPolicy, Order, Sorted, TypeId

__all__ = ["GroupBy", "GroupByRequest"]

_NUMERIC = _sim.INTEGER_IDS | _sim.FLOAT_IDS | {TypeId.BOOL8}
_SCAN_KINDS = (Kind.SUM, Kind.PRODUCT, Kind.MIN, Kind.MAX, Kind.COUNT_VALID, Kind.COUNT_ALL, Kind.RANK)


class GroupByRequest:
    """A column of values and the aggregations (or scans) to compute on it."""

    __slots__ = ("_aggregations", "_values")

    def __init__(self, values: Column, aggregations: list[Aggregation]) -> None:
        if not isinstance(values, Column):
            raise TypeError(f"values must be a Column, not {type(values).__name__}")
        if not isinstance(aggregations, list):
            raise TypeError(f"aggregations must be a list, not {type(aggregations).__name__}")
        for agg in aggregations:
            if not isinstance(agg, Aggregation):
                raise TypeError(f"aggregations must hold Aggregations, not {type(agg).__name__}")
        self._values, self._aggregations = values, list(aggregations)

    __hash__ = None  # type: ignore[assignment]


# ---- per-group computations (shared with reduce) -----------------------------------------------


def _nan_flags(arr: pa.Array) -> np.ndarray:
    if not pa.types.is_floating(arr.type) or len(arr) == 0:
        return np.zeros(len(arr), dtype=bool)
    return np.asarray(pc.fill_null(pc.is_nan(arr), False).to_numpy(zero_copy_only=False), dtype=bool)


def _check_no_nan(arr: pa.Array, kind: Kind, rows: np.ndarray) -> None:
    if _nan_flags(arr)[rows].any():
        raise RuntimeError(f"{kind.name} over floating-point values holding NaN (simulated: libcudf's result "
                           "depends on the evaluation order — std::min/max and atomics — so it is unspecified)")


def _numbers(arr: pa.Array, dtype: DataType) -> np.ndarray:
    """The values as numpy (integers, bool as 0/1, floats; durations/timestamps as counts)."""
    tid = dtype.id()
    if tid == TypeId.BOOL8:
        return np.asarray(arr.fill_null(False).to_numpy(zero_copy_only=False), dtype=np.int64)
    if tid in _sim.DURATION_IDS or tid in _sim.TIMESTAMP_IDS:
        storage = pa.int32() if tid in (TypeId.DURATION_DAYS, TypeId.TIMESTAMP_DAYS) else pa.int64()
        arr = arr.view(storage) if arr.type != storage else arr
    filled = arr.fill_null(0) if arr.null_count else arr
    return np.asarray(filled.to_numpy(zero_copy_only=False))


def _unscaled(col: Column) -> list[int | None]:
    """A decimal column's unscaled integers (exact at 128 bits), None for NULL rows."""
    ints = _fixed_width.values(col)
    ints[~_fixed_width.valid_flags(col)] = None
    return ints.tolist()  # type: ignore[no-any-return]


def _decimal_column(values: list[int | None] | np.ndarray, dtype: DataType,
                    valid: np.ndarray | None = None) -> Column:
    """A decimal column from unscaled integers (None: NULL; or an object array and its validity); a
    value outside the width raises OverflowError (libcudf wraps silently)."""
    if valid is None:
        ints = np.asarray(values, dtype=object)
        valid = np.not_equal(ints, None)
        ints = np.where(valid, ints, 0)
    else:
        ints = np.where(valid, np.asarray(values, dtype=object), 0)
    return _fixed_width.make_column(dtype, ints, np.asarray(valid, dtype=bool))


def _split64(ints: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Object ints that fit int64 as (high, low) int64 halves, v = high * 2**32 + low with
    0 <= low < 2**32, so sums of up to 2**31 rows stay exact in int64; None if some do not fit."""
    small = _fixed_width.as_int64(ints)
    if small is None:
        return None
    return small >> 32, small & 0xFFFFFFFF


def _exact_group_sums(ints: np.ndarray, rows: np.ndarray, gids: np.ndarray, ngroups: int) -> np.ndarray:
    """Per-group sums (object ints, exact) of ``ints[rows]`` into ``gids[rows]``."""
    halves = _split64(ints[rows])
    if halves is None:
        totals = np.zeros(ngroups, dtype=object)
        np.add.at(totals, gids[rows], ints[rows])
        return totals
    high, low = halves
    hsum = np.zeros(ngroups, np.int64)
    lsum = np.zeros(ngroups, np.int64)
    np.add.at(hsum, gids[rows], high)
    np.add.at(lsum, gids[rows], low)
    return hsum.astype(object) * (1 << 32) + lsum.astype(object)


def _numeric_column(values: np.ndarray, has_value: np.ndarray | None, dtype: DataType) -> Column:
    """A column of ``dtype`` from numpy values (counts for durations), NULL where not has_value."""
    mask = None if has_value is None or has_value.all() else ~has_value
    target = _sim.value_type(dtype)
    storage = pa.from_numpy_dtype(_sim.storage_dtype(dtype)) if dtype.id() != TypeId.BOOL8 else pa.bool_()
    arr = pa.array(np.asarray(values).astype(storage.to_pandas_dtype()), storage, mask=mask)
    if arr.type != target:
        arr = arr.view(target)
    return _sim.column_from_arrow(arr, dtype)


def _pick(arr: pa.Array, dtype: DataType, rows: np.ndarray, has_value: np.ndarray) -> Column:
    idx = pa.array(np.where(has_value, rows, 0).astype(np.int64), pa.int64(),
                   mask=None if has_value.all() else ~has_value)
    return _sim.column_from_arrow(arr.take(idx) if len(arr) else pa.nulls(len(rows), arr.type), dtype)


def _extreme_rows(codes: np.ndarray, gids: np.ndarray, rows: np.ndarray, ngroups: int, largest: bool
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Per group, the row (of ``rows``) holding the smallest/largest code, and whether any."""
    out = np.zeros(ngroups, dtype=np.int64)
    has = np.zeros(ngroups, dtype=bool)
    if rows.size:
        key = -codes[rows] if largest else codes[rows]
        order = np.lexsort((rows, key, gids[rows]))
        g = gids[rows][order]
        first = np.r_[True, g[1:] != g[:-1]]
        out[g[first]] = rows[order][first]
        has[g[first]] = True
    return out, has


def aggregate_groups(values: Column, gids: np.ndarray, ngroups: int, agg: Aggregation) -> Column:
    """``agg`` of ``values`` per group: ``gids`` gives each row's group (0..ngroups-1, -1 for a
    row that takes no part); the result has one row per group, in group-id order."""
    dtype, kind = values.type(), agg.kind()
    out_type = target_type(dtype, agg)
    if out_type is None:
        raise RuntimeError(f"Invalid type/aggregation combination: {kind.name} of {dtype}")
    tid = dtype.id()
    arr = _sim.column_to_arrow(values)
    valid = _valid_flags(arr)
    member = gids >= 0
    rows = np.flatnonzero(member & valid)
    counts = np.bincount(gids[rows], minlength=ngroups).astype(np.int64)
    has_value = counts > 0
    if kind == Kind.COUNT_VALID:
        return _numeric_column(counts, None, out_type)
    if kind == Kind.COUNT_ALL:
        return _numeric_column(np.bincount(gids[member], minlength=ngroups), None, out_type)
    if kind in (Kind.MIN, Kind.MAX, Kind.ARGMIN, Kind.ARGMAX):
        _check_no_nan(arr, kind, rows)
        codes, _ = column_codes(values)
        picked, has = _extreme_rows(codes, gids, rows, ngroups, kind in (Kind.MAX, Kind.ARGMAX))
        if kind in (Kind.ARGMIN, Kind.ARGMAX):
            return _numeric_column(picked, has, out_type)
        return _pick(arr, dtype, picked, has)
    if kind == Kind.NUNIQUE:
        codes, _ = column_codes(values)
        pairs = np.unique(np.stack([gids[rows], codes[rows]], axis=1), axis=0) if rows.size else np.zeros((0, 2))
        distinct = np.bincount(pairs[:, 0].astype(np.int64), minlength=ngroups) if len(pairs) else \
            np.zeros(ngroups, np.int64)
        if agg._param("null_handling") == NullPolicy.INCLUDE:
            null_rows = np.flatnonzero(member & ~valid)
            distinct = distinct + (np.bincount(gids[null_rows], minlength=ngroups) > 0)
        return _numeric_column(distinct, None, out_type)
    if kind == Kind.NTH_ELEMENT:
        n = agg._param("n")
        pool = rows if agg._param("null_handling") == NullPolicy.EXCLUDE else np.flatnonzero(member)
        picked = np.zeros(ngroups, np.int64)
        has = np.zeros(ngroups, bool)
        for g, members in _members(pool, gids):
            if -len(members) <= n < len(members):
                picked[g], has[g] = members[n], True
        return _pick(arr, dtype, picked, has)
    if tid in _sim.DECIMAL_IDS:
        return _decimal_groups(values, dtype, gids, rows, counts, ngroups, agg, out_type)
    if kind in (Kind.SUM, Kind.PRODUCT, Kind.SUM_OF_SQUARES):
        acc_dtype = np.int64 if out_type.id() == TypeId.INT64 else _sim.storage_dtype(out_type)
        x = _numbers(arr, dtype).astype(acc_dtype)
        if kind == Kind.SUM_OF_SQUARES:
            x = x * x
        total = np.ones(ngroups, acc_dtype) if kind == Kind.PRODUCT else np.zeros(ngroups, acc_dtype)
        with np.errstate(over="ignore"):
            (np.multiply if kind == Kind.PRODUCT else np.add).at(total, gids[rows], x[rows])
        return _numeric_column(total, has_value, out_type)
    if kind == Kind.MEAN:
        if tid in _sim.DURATION_IDS:
            total = np.zeros(ngroups, np.int64)
            np.add.at(total, gids[rows], _numbers(arr, dtype).astype(np.int64)[rows])
            quotient = np.where(has_value, np.abs(total) // np.maximum(counts, 1), 0) * np.sign(total)
            return _numeric_column(quotient, has_value, out_type)
        x = _numbers(arr, dtype)
        acc = np.int64 if tid in _sim.INTEGER_IDS or tid == TypeId.BOOL8 else np.float64
        total = np.zeros(ngroups, acc)
        with np.errstate(over="ignore"):
            np.add.at(total, gids[rows], x.astype(acc)[rows])
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = total.astype(np.float64) / counts
        return _numeric_column(mean, has_value, out_type)
    if kind in (Kind.VARIANCE, Kind.STD, Kind.MEDIAN):
        if tid not in _NUMERIC:
            raise RuntimeError(f"{kind.name} of {dtype} is not supported (simulated: libcudf's groupby "
                               "computes it for numeric types only)")
        x = _numbers(arr, dtype).astype(np.float64)
        out = np.zeros(ngroups, np.float64)
        ok = np.zeros(ngroups, bool)
        for g, members in _members(rows, gids):
            sample = x[members]
            if kind == Kind.MEDIAN:
                out[g], ok[g] = np.median(sample), True
            elif sample.size - agg._param("ddof") > 0:
                var = float(np.var(sample, ddof=agg._param("ddof")))
                out[g], ok[g] = (var if kind == Kind.VARIANCE else np.sqrt(var)), True
        return _numeric_column(out, ok, out_type)
    raise NotImplementedError(f"{kind.name} is not modelled by the simulator (gpu-exec does not call it)")


def _members(rows: np.ndarray, gids: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """(group id, its rows in input order) for every group present in ``rows``."""
    order = rows[np.argsort(gids[rows], kind="stable")]
    g_sorted = gids[order]
    cuts = np.flatnonzero(np.r_[True, g_sorted[1:] != g_sorted[:-1]]) if len(order) else np.zeros(0, np.int64)
    return [(int(g_sorted[c]), part) for c, part in zip(cuts, np.split(order, cuts[1:]))]


def _decimal_groups(values: Column, dtype: DataType, gids: np.ndarray, rows: np.ndarray, counts: np.ndarray,
                    ngroups: int, agg: Aggregation, out_type: DataType) -> Column:
    kind = agg.kind()
    totals = _exact_group_sums(_fixed_width.values(values), np.asarray(rows, dtype=np.int64), gids, ngroups)
    has = np.asarray(counts) > 0
    if kind == Kind.SUM:
        return _decimal_column(totals, out_type, has)
    if kind == Kind.MEAN:  # fixed-point division: truncated toward zero at the input's scale
        divisors = np.maximum(np.asarray(counts, dtype=np.int64), 1).astype(object)
        means = (np.abs(totals) // divisors) * np.where(totals >= 0, 1, -1)
        return _decimal_column(means, out_type, has)
    raise RuntimeError(f"Invalid type/aggregation combination: {kind.name} of {dtype}")


# ---- scans -------------------------------------------------------------------------------------


def _scan_groups(values: Column, order: np.ndarray, gids_sorted: np.ndarray, agg: Aggregation) -> Column:
    """A grouped scan of ``values`` taken in ``order`` (rows of one group contiguous)."""
    dtype, kind = values.type(), agg.kind()
    tid = dtype.id()
    col = take_column(values, order)
    n = col.size()
    arr = _sim.column_to_arrow(col)
    valid = _valid_flags(arr)
    starts = np.r_[True, gids_sorted[1:] != gids_sorted[:-1]] if n else np.zeros(0, bool)
    seg = np.cumsum(starts) - 1
    if kind in (Kind.COUNT_VALID, Kind.COUNT_ALL):
        ones = valid.astype(np.int64) if kind == Kind.COUNT_VALID else np.ones(n, np.int64)
        return _numeric_column(_segmented_cumulative(ones, seg, np.add), None, DataType(TypeId.INT32))
    if kind == Kind.RANK:
        ranks = np.zeros(n, np.float64)
        for s in np.unique(seg):
            members = np.flatnonzero(seg == s)
            r = rank_values(take_column(col, members), agg._param("method"), agg._param("column_order"),
                            NullPolicy.INCLUDE, agg._param("null_precedence"), False)
            ranks[members] = _sim.column_to_arrow(r).to_numpy(zero_copy_only=False)
        percentage = agg._param("percentage")
        if percentage != RankPercentage.NONE:
            raise NotImplementedError("percentage rank scans are not modelled by the simulator")
        out_type = target_type(dtype, agg)
        assert out_type is not None
        has = valid if agg._param("null_handling") == NullPolicy.EXCLUDE else None
        return _numeric_column(ranks, has, out_type)
    supported = {Kind.SUM: tid in _NUMERIC or tid in _sim.DURATION_IDS or tid in _sim.DECIMAL_IDS,
                 Kind.PRODUCT: tid in _NUMERIC,
                 Kind.MIN: tid not in (TypeId.DICTIONARY32, TypeId.LIST, TypeId.EMPTY),
                 Kind.MAX: tid not in (TypeId.DICTIONARY32, TypeId.LIST, TypeId.EMPTY)}
    if not supported.get(kind, False):
        raise RuntimeError(f"Unsupported groupby scan type-agg combination: {kind.name} of {dtype}")
    mask = ~valid if not valid.all() else None
    if kind in (Kind.MIN, Kind.MAX):
        _check_no_nan(arr, kind, np.flatnonzero(valid))
        codes, _ = column_codes(col)
        key = codes if kind == Kind.MIN else -codes
        # the row holding the running extreme of each group so far (the first one on ties)
        row_of = np.zeros(n, np.int64)
        current: dict[int, int] = {}
        for i in range(n):
            if valid[i] and (seg[i] not in current or key[i] < key[current[seg[i]]]):
                current[seg[i]] = i
            row_of[i] = current.get(seg[i], i)
        return _sim.column_from_arrow(arr.take(pa.array(row_of, pa.int64(), mask=mask)), dtype)
    out_type = target_type(dtype, agg)
    assert out_type is not None
    if tid in _sim.DECIMAL_IDS:
        ints = np.where(valid, _fixed_width.values(col), 0)
        halves = _split64(ints)
        if halves is None or not n:
            running = np.zeros(n, dtype=object)
            total, last = 0, -1
            for i in range(n):
                if seg[i] != last:
                    total, last = 0, seg[i]
                total += ints[i]
                running[i] = total
        else:  # exact: the int64 halves' segmented sums cannot overflow (fewer than 2**31 rows)
            high, low = (_segmented_cumulative(h, seg, np.add) for h in halves)
            running = high.astype(object) * (1 << 32) + low.astype(object)
        return _decimal_column(running, out_type, valid)
    acc = np.int64 if out_type.id() == TypeId.INT64 else _sim.storage_dtype(out_type)
    x = np.where(valid, _numbers(arr, dtype).astype(acc), 1 if kind == Kind.PRODUCT else 0).astype(acc)
    with np.errstate(over="ignore"):
        out = _segmented_cumulative(x, seg, np.multiply if kind == Kind.PRODUCT else np.add)
    return _numeric_column(out, valid if mask is not None else None, out_type)


def _segmented_cumulative(x: np.ndarray, seg: np.ndarray, op: Any) -> np.ndarray:
    """An inclusive scan of ``x`` with ``op`` restarting at every new segment id."""
    if op is np.add and x.dtype.kind in "iu" and len(x):
        with np.errstate(over="ignore"):
            total = np.cumsum(x, dtype=x.dtype)
            starts = np.flatnonzero(np.r_[True, seg[1:] != seg[:-1]])
            before = np.r_[np.zeros(1, x.dtype), total[starts[1:] - 1]] if len(starts) > 1 else np.zeros(1, x.dtype)
            return total - before[seg]
    out = np.array(x, copy=True)
    for i in range(1, len(out)):
        if seg[i] == seg[i - 1]:
            out[i] = op(out[i - 1], out[i])
    return out


# ---- the GroupBy object ------------------------------------------------------------------------


class GroupBy:
    """Groups the rows of ``keys``; see the module docstring for the order and null rules."""

    def __init__(self, keys: Table, null_handling: NullPolicy = NullPolicy.EXCLUDE,
                 keys_are_sorted: Sorted = Sorted.NO, column_order: list[Order] | None = None,
                 null_precedence: list[NullOrder] | None = None) -> None:
        if not isinstance(keys, Table):
            raise TypeError(f"keys must be a Table, not {type(keys).__name__}")
        for name, value in (("column_order", column_order), ("null_precedence", null_precedence)):
            if value is not None and not isinstance(value, list):
                raise TypeError(f"{name} must be a list or None")
        self._keys = keys
        self._null_handling = NullPolicy(int(null_handling))
        self._sorted = Sorted(int(keys_are_sorted))
        self._column_order = [Order(int(o)) for o in column_order or []]
        self._null_precedence = [NullOrder(int(o)) for o in null_precedence or []]
        self._layout: tuple[np.ndarray, int, np.ndarray] | None = None

    __hash__ = None  # type: ignore[assignment]

    def _groups(self) -> tuple[np.ndarray, int, np.ndarray]:
        """(group id per key row, -1 for a dropped row; number of groups; first row per group)."""
        if self._layout is not None:
            return self._layout
        cols = self._keys.columns()
        n = self._keys.num_rows()
        if not cols:
            raise ValueError("GroupBy needs at least one key column (simulated)")
        included = np.ones(n, dtype=bool)
        if self._null_handling == NullPolicy.EXCLUDE:
            for c in cols:
                if c.null_count():
                    included &= _valid_flags(_sim.column_to_arrow(c))
        inc = np.flatnonzero(included)
        ids = row_group_ids(cols)[inc]
        uniq, first_pos, inverse = np.unique(ids, return_index=True, return_inverse=True)
        ngroups = len(uniq)
        appearance = np.argsort(first_pos, kind="stable")
        position = np.empty(ngroups, dtype=np.int64)
        position[appearance] = np.arange(ngroups)
        if self._sorted == Sorted.YES:
            orders = self._column_order or None
            nulls = self._null_precedence or None
            if not is_sorted(take_table(self._keys, inc), orders, nulls):  # type: ignore[arg-type]
                raise RuntimeError("GroupBy(keys_are_sorted=YES) over keys that are not sorted by column_order/"
                                   "null_precedence (simulated: libcudf trusts the flag and forms wrong groups)")
        else:
            position = _sim.scramble(ngroups)[position]
        gids = np.full(n, -1, dtype=np.int64)
        gids[inc] = position[np.asarray(inverse).reshape(-1)]
        first_rows = np.zeros(ngroups, dtype=np.int64)
        first_rows[position] = inc[first_pos]
        self._layout = (gids, ngroups, first_rows)
        return self._layout

    def _check_requests(self, requests: Any, algorithm: str) -> list[GroupByRequest]:
        if not isinstance(requests, list):
            raise TypeError(f"requests must be a list, not {type(requests).__name__}")
        for r in requests:
            if not isinstance(r, GroupByRequest):
                raise TypeError(f"requests must hold GroupByRequests, not {type(r).__name__}")
            for agg in r._aggregations:
                agg._require(algorithm)
        n = self._keys.num_rows()
        if any(r._values.size() != n for r in requests):
            raise RuntimeError("Size mismatch between request values and groupby keys.")
        for r in requests:
            for agg in r._aggregations:
                if target_type(r._values.type(), agg) is None:
                    raise RuntimeError(f"Invalid type/aggregation combination: {agg.kind().name} of "
                                       f"{r._values.type()}")
        return requests

    def _grouped_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Rows in grouped order (groups in output order, rows in input order) and their group ids."""
        gids, _, _ = self._groups()
        if (gids < 0).any():
            raise NotImplementedError("grouped scans/replace_nulls/shift with NULL keys dropped by EXCLUDE are not "
                                      "modelled by the simulator")
        order = np.argsort(gids, kind="stable")
        return order, gids[order]

    def aggregate(self, requests: list[GroupByRequest], stream: Any = None, mr: Any = None
                  ) -> tuple[Table, list[Table]]:
        requests = self._check_requests(requests, "groupby")
        if self._keys.num_rows() == 0:
            return _empty_like(self._keys), [Table([_empty_of(target_type(r._values.type(), a))  # type: ignore[arg-type]
                                                    for a in r._aggregations]) for r in requests]
        gids, ngroups, first_rows = self._groups()
        keys = take_table(self._keys, first_rows)
        results = [Table([aggregate_groups(r._values, gids, ngroups, a) for a in r._aggregations]) for r in requests]
        return keys, results

    def scan(self, requests: list[GroupByRequest], stream: Any = None, mr: Any = None) -> tuple[Table, list[Table]]:
        requests = self._check_requests(requests, "groupby_scan")
        for r in requests:
            for a in r._aggregations:
                if a.kind() not in _SCAN_KINDS:
                    raise RuntimeError(f"Unsupported groupby scan aggregation {a.kind().name}")
        if self._keys.num_rows() == 0:
            return _empty_like(self._keys), [Table([_empty_of(target_type(r._values.type(), a))  # type: ignore[arg-type]
                                                    for a in r._aggregations]) for r in requests]
        order, gsorted = self._grouped_rows()
        keys = take_table(self._keys, order)
        return keys, [Table([_scan_groups(r._values, order, gsorted, a) for a in r._aggregations]) for r in requests]

    def replace_nulls(self, value: Table, replace_policies: list[Any], stream: Any = None, mr: Any = None
                      ) -> tuple[Table, Table]:
        from pylibcudf.replace import ReplacePolicy

        if not isinstance(value, Table) or not isinstance(replace_policies, list):
            raise TypeError("replace_nulls takes a Table and a list of ReplacePolicy")
        if len(replace_policies) != value.num_columns():
            raise RuntimeError("Size mismatch between num_columns and replace_policies.")
        if value.num_rows() != self._keys.num_rows():
            raise RuntimeError("Size mismatch between group labels and value.")
        if self._keys.num_rows() == 0:
            return _empty_like(self._keys), _empty_like(value)
        order, gsorted = self._grouped_rows()
        out = []
        for col, policy in zip(value.columns(), replace_policies):
            forward = ReplacePolicy(int(policy)) == ReplacePolicy.PRECEDING
            grouped = take_column(col, order)
            valid = _valid_flags(_sim.column_to_arrow(grouped))
            source = np.arange(len(order))
            steps = range(len(order)) if forward else range(len(order) - 1, -1, -1)
            last: int | None = None
            prev_g: int | None = None
            for i in steps:
                if gsorted[i] != prev_g:
                    last, prev_g = None, gsorted[i]
                if valid[i]:
                    last = i
                elif last is not None:
                    source[i] = last
            out.append(take_column(grouped, source))
        return take_table(self._keys, order), Table(out)

    def shift(self, values: Table, offset: list[int], fill_values: list[Scalar], stream: Any = None,
              mr: Any = None) -> tuple[Table, Table]:
        if not isinstance(values, Table) or not isinstance(offset, list) or not isinstance(fill_values, list):
            raise TypeError("shift takes a Table, a list of offsets and a list of Scalars")
        if not len(offset) == len(fill_values) == values.num_columns():
            raise RuntimeError("Mismatch number of fill_values and columns.")
        if values.num_rows() != self._keys.num_rows():
            raise RuntimeError("Size mismatch between group labels and values.")
        for col, fill in zip(values.columns(), fill_values):
            if not isinstance(fill, Scalar) or fill.type() != col.type():
                raise RuntimeError("values and fill_value should have the same type.")
        if self._keys.num_rows() == 0:
            return _empty_like(self._keys), _empty_like(values)
        order, gsorted = self._grouped_rows()
        n = len(order)
        starts = np.r_[True, gsorted[1:] != gsorted[:-1]]
        seg = np.cumsum(starts) - 1
        first = np.flatnonzero(starts)
        pos_in_group = np.arange(n) - first[seg]
        sizes = np.bincount(seg)
        out = []
        for col, k, fill in zip(values.columns(), offset, fill_values):
            grouped = take_column(col, order)
            src = pos_in_group - int(k)
            ok = (src >= 0) & (src < sizes[seg])
            arr = _sim.column_to_arrow(grouped)
            taken = arr.take(pa.array(np.where(ok, first[seg] + src, 0), pa.int64()))
            filler = pa.array([fill._value] * n, _sim.value_type(fill.type()))
            out.append(_sim.column_from_arrow(pc.if_else(pa.array(ok), taken, filler), col.type()))
        return take_table(self._keys, order), Table(out)

    def get_groups(self, values: Table | None = None, stream: Any = None, mr: Any = None
                   ) -> tuple[list[int], Table, Table | None]:
        order, gsorted = self._grouped_rows()
        starts = np.flatnonzero(np.r_[True, gsorted[1:] != gsorted[:-1]]) if len(order) else np.zeros(0, np.int64)
        offsets = [int(s) for s in starts] + [len(order)]
        grouped_values = take_table(values, order) if values is not None and values.num_columns() else None
        return offsets, take_table(self._keys, order), grouped_values


def _empty_of(dtype: DataType) -> Column:
    return _sim.column_from_arrow(pa.array([], _sim.value_type(dtype)), dtype)


def _empty_like(table: Table) -> Table:
    return Table([_empty_of(c.type()) for c in table.columns()])
