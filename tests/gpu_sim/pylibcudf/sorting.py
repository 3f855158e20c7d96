"""Simulated ``pylibcudf.sorting`` (models pylibcudf 26.10, ``sorting.pyx``; libcudf
``cpp/src/sort/sort_impl.cuh``, ``cpp/src/sort/rank.cu``).

Behaviour modelled:

- Row order is lexicographic over the key columns, each with its ``Order`` and ``NullOrder``.
  ``NullOrder`` is relative to the *ascending* order of values (BEFORE = a null is smaller than
  every value) and DESCENDING inverts the whole comparison, nulls included: DESC NULLS FIRST is
  ``(DESCENDING, AFTER)`` (libcudf ``row_operator`` null_compare, then the lexicographic
  comparator negates the result for DESCENDING).
- Floats: NaN sorts above +inf and NaN == NaN; -0.0 ties 0.0. Strings compare by UTF-8 bytes.
- ``sorted_order`` / ``sort`` / ``sort_by_key`` are not stable: tied rows come out in a seeded
  random order (``_sim.scramble``), so callers that need ties in input order must use the
  ``stable_*`` variants as libcudf requires.
- Results are INT32 (``size_type``) permutations; ``rank`` is INT32, or FLOAT64 for AVERAGE or a
  percentage, with the input's null mask when ``null_handling`` is EXCLUDE (ranks themselves are
  computed with the nulls in their sorted place, as libcudf does).

The module also holds the simulator's shared key machinery (dense value codes, row grouping,
gathers by index) used by ``groupby``, ``join``, ``stream_compaction`` and ``partitioning``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pylibcudf import _sim
from pylibcudf.column import Column
from pylibcudf.table import Table
from pylibcudf.types import DataType, NullOrder, NullPolicy, Order, TypeId

__all__ = [
    "is_sorted",
    "rank",
    "sort",
    "sort_by_key",
    "sorted_order",
    "stable_sort",
    "stable_sort_by_key",
    "stable_sorted_order",
]

_UNMODELLED_KEYS = (TypeId.LIST, TypeId.STRUCT, TypeId.DICTIONARY32)


# ---- shared key machinery ----------------------------------------------------------------------


def _valid_flags(arr: pa.Array) -> np.ndarray:
    if arr.null_count == 0:
        return np.ones(len(arr), dtype=bool)
    return np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)


def _value_codes(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Dense codes 1..k of the valid values in libcudf's ascending order (NaN above +inf and
    equal to every NaN, -0.0 equal to 0.0, strings by bytes), 0 for nulls; and the valid flags."""
    n = len(arr)
    valid = _valid_flags(arr)
    if n == 0 or pa.types.is_null(arr.type) or not valid.any():
        return np.zeros(n, dtype=np.int64), valid
    codes = np.asarray(pc.rank(arr, "ascending", tiebreaker="dense").to_numpy(), dtype=np.int64)
    codes[~valid] = 0
    return codes, valid


def _key_check(col: Column, what: str) -> None:
    if col.type().id() in _UNMODELLED_KEYS:
        raise NotImplementedError(f"{what} on {col.type()} keys is not modelled by the simulator")


def column_codes(col: Column) -> tuple[np.ndarray, np.ndarray]:
    """``_value_codes`` of a column."""
    _key_check(col, "comparing rows")
    return _value_codes(_sim.column_to_arrow(col))


def _as_enum(values: Sequence[Any] | None, enum: Any, n: int, default: Any, what: str) -> list[Any]:
    if values is None:
        return [default] * n
    if not isinstance(values, list):
        raise TypeError(f"{what} must be a list, not {type(values).__name__}")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{what} entries must be {enum.__name__}, not {type(v).__name__}")
        out.append(enum(int(v)))
    if not out:
        return [default] * n
    if len(out) != n:
        raise RuntimeError(f"Mismatch between number of columns and {what} size.")
    return out


def order_keys(table: Table, column_order: list[Any] | None, null_precedence: list[Any] | None) -> list[np.ndarray]:
    """One int64 key per column, most significant first, such that ascending lexicographic order
    of the keys is libcudf's row order for these orders and null orders."""
    cols = table.columns()
    orders = _as_enum(column_order, Order, len(cols), Order.ASCENDING, "column_order")
    nulls = _as_enum(null_precedence, NullOrder, len(cols), NullOrder.AFTER, "null_precedence")
    keys = []
    for col, order, null in zip(cols, orders, nulls):
        codes, valid = column_codes(col)
        top = int(codes.max()) if codes.size else 0
        codes = codes.copy()
        codes[~valid] = 0 if null == NullOrder.BEFORE else top + 1
        keys.append(-codes if order == Order.DESCENDING else codes)
    return keys


def lexsort(keys: list[np.ndarray], n: int, stable: bool) -> np.ndarray:
    """The permutation ordering rows by ``keys`` (most significant first); ties keep their input
    order when ``stable``, else come out scrambled."""
    tiebreak = np.arange(n, dtype=np.int64) if stable else _sim.scramble(n)
    if not keys:
        return tiebreak
    return np.lexsort([tiebreak] + keys[::-1]).astype(np.int64)


def row_group_ids(columns: list[Column], nulls_equal: bool = True, nans_equal: bool = True) -> np.ndarray:
    """A dense group id (0..g-1, in no particular order) per row: rows get one id when every key
    column holds equal values (NULL equal to NULL when ``nulls_equal``; NaN equal to NaN when
    ``nans_equal``; -0.0 equal to 0.0). Unequal NULL/NaN rows each get an id of their own."""
    n = columns[0].size() if columns else 0
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    parts = []
    unique_rows = np.zeros(n, dtype=bool)
    for col in columns:
        arr = _sim.column_to_arrow(col)
        _key_check(col, "grouping rows")
        codes, valid = _value_codes(arr)
        parts.append(codes)
        if not nulls_equal:
            unique_rows |= ~valid
        if not nans_equal and pa.types.is_floating(arr.type):
            unique_rows |= np.asarray(pc.fill_null(pc.is_nan(arr), False).to_numpy(zero_copy_only=False), bool)
    if unique_rows.any():
        parts.append(np.where(unique_rows, np.arange(1, n + 1), 0))
    # Mixed-radix combination of the per-column codes into one int64 key (densified whenever the
    # next radix would overflow), then dense ids; the same grouping as np.unique(axis=0), faster.
    key, size = _dense(parts[0], int(parts[0].max()) + 1)
    for codes in parts[1:]:
        radix = int(codes.max()) + 1
        if size * radix >= 1 << 62:
            key, size = _dense(key, size)
        key, size = _dense(key * radix + codes, size * radix)
    return key


def _dense(key: np.ndarray, size: int) -> tuple[np.ndarray, int]:
    """``key`` (non-negative ints below ``size``) renumbered 0..g-1 keeping their order, and g."""
    if size <= 4 * len(key) + 1024:
        present = np.zeros(size, dtype=bool)
        present[key] = True
        remap = np.cumsum(present, dtype=np.int64) - 1
        return remap[key], int(remap[-1]) + 1
    uniques, inverse = np.unique(key, return_inverse=True)
    return np.asarray(inverse, dtype=np.int64).reshape(-1), len(uniques)


def index_column(indices: np.ndarray) -> Column:
    """An INT32 (size_type) column of row indices."""
    return _sim.column_from_arrow(pa.array(np.asarray(indices, dtype=np.int32), pa.int32()), DataType(TypeId.INT32))


def take_column(col: Column, indices: np.ndarray) -> Column:
    arr = _sim.column_to_arrow(col)
    return _sim.column_from_arrow(arr.take(pa.array(np.asarray(indices, dtype=np.int64), pa.int64())), col.type())


def take_table(table: Table, indices: np.ndarray) -> Table:
    """A new table of the rows at ``indices`` (every index in range)."""
    if not table.num_columns():
        return Table([], num_rows=len(indices))
    return Table([take_column(c, indices) for c in table.columns()])


def _check_table(t: Any, what: str) -> Table:
    if not isinstance(t, Table):
        raise TypeError(f"{what} must be a Table, not {type(t).__name__}")
    return t


# ---- the API -----------------------------------------------------------------------------------


def _order(source_table: Table, column_order: list[Order], null_precedence: list[NullOrder], stable: bool) -> np.ndarray:
    _check_table(source_table, "source_table")
    keys = order_keys(source_table, column_order, null_precedence)
    return lexsort(keys, source_table.num_rows(), stable)


def sorted_order(source_table: Table, column_order: list[Order], null_precedence: list[NullOrder],
                 stream: Any = None, mr: Any = None) -> Column:
    """The INT32 permutation that sorts ``source_table``; ties in unspecified (scrambled) order."""
    return index_column(_order(source_table, column_order, null_precedence, stable=False))


def stable_sorted_order(source_table: Table, column_order: list[Order], null_precedence: list[NullOrder],
                        stream: Any = None, mr: Any = None) -> Column:
    """The INT32 permutation that sorts ``source_table``, ties in input order."""
    return index_column(_order(source_table, column_order, null_precedence, stable=True))


def sort(source_table: Table, column_order: list[Order], null_precedence: list[NullOrder],
         stream: Any = None, mr: Any = None) -> Table:
    return take_table(source_table, _order(source_table, column_order, null_precedence, stable=False))


def stable_sort(source_table: Table, column_order: list[Order], null_precedence: list[NullOrder],
                stream: Any = None, mr: Any = None) -> Table:
    return take_table(source_table, _order(source_table, column_order, null_precedence, stable=True))


def _by_key(values: Table, keys: Table, column_order: list[Order], null_precedence: list[NullOrder],
            stable: bool) -> Table:
    _check_table(values, "values")
    _check_table(keys, "keys")
    if values.num_rows() != keys.num_rows():
        raise RuntimeError("Mismatch in number of rows for values and keys")
    return take_table(values, _order(keys, column_order, null_precedence, stable))


def sort_by_key(values: Table, keys: Table, column_order: list[Order], null_precedence: list[NullOrder],
                stream: Any = None, mr: Any = None) -> Table:
    return _by_key(values, keys, column_order, null_precedence, stable=False)


def stable_sort_by_key(values: Table, keys: Table, column_order: list[Order], null_precedence: list[NullOrder],
                       stream: Any = None, mr: Any = None) -> Table:
    return _by_key(values, keys, column_order, null_precedence, stable=True)


def is_sorted(tbl: Table, column_order: list[Order], null_precedence: list[NullOrder], stream: Any = None) -> bool:
    _check_table(tbl, "tbl")
    n = tbl.num_rows()
    keys = order_keys(tbl, column_order, null_precedence)
    return bool(np.array_equal(lexsort(keys, n, stable=True), np.arange(n)))


def rank(input_view: Column, method: Any, column_order: Order, null_handling: NullPolicy,
         null_precedence: NullOrder, percentage: bool, stream: Any = None, mr: Any = None) -> Column:
    """libcudf ``rank``: FIRST ranks by stable order; MIN/MAX/DENSE/AVERAGE give ties one rank.
    INT32, or FLOAT64 for AVERAGE or ``percentage``; EXCLUDE copies the input's null mask."""
    from pylibcudf.aggregation import RankMethod

    if not isinstance(input_view, Column):
        raise TypeError(f"input_view must be a Column, not {type(input_view).__name__}")
    method = RankMethod(int(method))
    if not isinstance(percentage, (bool, int, np.bool_)):
        raise TypeError("percentage must be a bool (pylibcudf 26.10 sorting.rank)")
    return rank_values(input_view, method, Order(int(column_order)), NullPolicy(int(null_handling)),
                       NullOrder(int(null_precedence)), bool(percentage))


def rank_values(col: Column, method: Any, order: Order, null_handling: NullPolicy, null_order: NullOrder,
                percentage: bool) -> Column:
    from pylibcudf.aggregation import RankMethod

    n = col.size()
    keys = order_keys(Table([col]), [order], [null_order])
    perm = lexsort(keys, n, stable=True)  # FIRST needs a stable order; ties share ranks otherwise
    key = keys[0][perm] if n else np.zeros(0, np.int64)
    new_group = np.r_[True, key[1:] != key[:-1]] if n else np.zeros(0, bool)
    dense_sorted = np.cumsum(new_group)
    positions = np.arange(1, n + 1, dtype=np.int64)
    group_start = np.maximum.accumulate(np.where(new_group, positions, 0)) if n else positions
    group_ids = dense_sorted - 1
    ends = np.zeros(int(dense_sorted[-1]) if n else 0, dtype=np.int64)
    if n:
        np.maximum.at(ends, group_ids, positions)
    sorted_ranks: np.ndarray
    if method == RankMethod.FIRST:
        sorted_ranks = positions.astype(np.float64)
    elif method == RankMethod.MIN:
        sorted_ranks = group_start.astype(np.float64)
    elif method == RankMethod.MAX:
        sorted_ranks = ends[group_ids].astype(np.float64)
    elif method == RankMethod.DENSE:
        sorted_ranks = dense_sorted.astype(np.float64)
    else:  # AVERAGE
        sorted_ranks = (group_start + ends[group_ids]) / 2.0
    ranks = np.empty(n, dtype=np.float64)
    ranks[perm] = sorted_ranks
    valid = _valid_flags(_sim.column_to_arrow(col))
    if percentage:
        count = int(valid.sum()) if null_handling == NullPolicy.EXCLUDE else n
        if method == RankMethod.DENSE:
            denominator = float(dense_sorted[count - 1]) if count else float("nan")
        else:
            denominator = float(count)
        with np.errstate(divide="ignore", invalid="ignore"):
            ranks = ranks / denominator
    floating = percentage or method == RankMethod.AVERAGE
    mask = ~valid if null_handling == NullPolicy.EXCLUDE and col.null_count() else None
    if floating:
        return _sim.column_from_arrow(pa.array(ranks, pa.float64(), mask=mask), DataType(TypeId.FLOAT64))
    return _sim.column_from_arrow(pa.array(ranks.astype(np.int32), pa.int32(), mask=mask), DataType(TypeId.INT32))
