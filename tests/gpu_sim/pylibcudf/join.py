"""Simulated ``pylibcudf.join`` (models pylibcudf 26.10, ``join.pyx``; libcudf
``cpp/include/cudf/join/join.hpp``, ``cpp/src/join/``).

Behaviour modelled:

- Hash equi-joins return gather maps as INT32 columns: ``inner_join/left_join/full_join`` →
  ``(left_map, right_map)``; ``left_semi_join/left_anti_join`` → the left map. A row without a
  match on the other side gets libcudf's ``JoinNoMatch`` sentinel, INT32_MIN, in that side's map.
- The key tables must have the same number of columns (ValueError) and identical types column
  by column, decimal scale included (``cudf::have_same_types`` → TypeError): libcudf does not
  promote.
- ``NullEquality.UNEQUAL``: a key row with a NULL in any column matches nothing (SQL ``=``);
  EQUAL: NULL matches NULL. NaN equals NaN and -0.0 equals 0.0 (libcudf's hasher and comparator).
- libcudf promises no order of the map rows: the simulator scrambles them (pairs stay aligned).
- ``cross_join`` returns the joined Table (left columns then right): every left row repeated
  ``right.num_rows()`` times against the tiled right table — a deterministic order, as libcudf's
  repeat + tile.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from pylibcudf import _sim
from pylibcudf.column import Column
from pylibcudf.sorting import _valid_flags, index_column, row_group_ids, take_table
from pylibcudf.table import Table
from pylibcudf.types import NullEquality

__all__ = ["cross_join", "full_join", "inner_join", "left_anti_join", "left_join", "left_semi_join"]

JOIN_NO_MATCH = -(2**31)


def _check(left_keys: Any, right_keys: Any, nulls_equal: Any) -> NullEquality:
    if not isinstance(left_keys, Table) or not isinstance(right_keys, Table):
        raise TypeError("join keys must be Tables")
    if isinstance(nulls_equal, bool) or not isinstance(nulls_equal, int):
        raise TypeError(f"nulls_equal must be a NullEquality, not {type(nulls_equal).__name__}")
    if left_keys.num_columns() == 0 or right_keys.num_columns() == 0:
        raise ValueError("Hash join table is empty (no key columns)")
    if left_keys.num_columns() != right_keys.num_columns():
        raise ValueError("Mismatch in number of columns to be joined on")
    for i, (lc, rc) in enumerate(zip(left_keys.columns(), right_keys.columns())):
        if lc.type() != rc.type():
            raise TypeError(f"Mismatch in joining column data types: key {i} is {lc.type()} on the left and "
                            f"{rc.type()} on the right (libcudf does not promote join keys)")
    return NullEquality(int(nulls_equal))


def _key_ids(left_keys: Table, right_keys: Table, equality: NullEquality) -> tuple[np.ndarray, np.ndarray]:
    """A key id per left row and per right row (equal ids = matching keys); -1 for a row that
    can match nothing (a NULL key under UNEQUAL)."""
    nl, nr = left_keys.num_rows(), right_keys.num_rows()
    both = []
    for lc, rc in zip(left_keys.columns(), right_keys.columns()):
        arr = pa.concat_arrays([_sim.column_to_arrow(lc), _sim.column_to_arrow(rc)])
        both.append(_sim.column_from_arrow(arr, lc.type()))
    ids = row_group_ids(both) if nl + nr else np.zeros(0, np.int64)
    if equality == NullEquality.UNEQUAL:
        for c in both:
            if c.null_count():
                ids = np.where(_valid_flags(_sim.column_to_arrow(c)), ids, -1)
    return ids[:nl], ids[nl:]


def _pairs(lid: np.ndarray, rid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All (left row, right row) pairs with equal non-negative ids."""
    lrows = np.flatnonzero(lid >= 0)
    rrows = np.flatnonzero(rid >= 0)
    rorder = rrows[np.argsort(rid[rrows], kind="stable")]
    rsorted = rid[rorder]
    lo = np.searchsorted(rsorted, lid[lrows], side="left")
    hi = np.searchsorted(rsorted, lid[lrows], side="right")
    counts = hi - lo
    left = np.repeat(lrows, counts)
    starts = np.repeat(lo, counts)
    within = np.arange(len(left)) - np.repeat(np.cumsum(counts) - counts, counts)
    right = rorder[starts + within] if len(left) else np.zeros(0, np.int64)
    return left.astype(np.int64), right.astype(np.int64)


def _maps(left: np.ndarray, right: np.ndarray) -> tuple[Column, Column]:
    order = _sim.scramble(len(left))
    return index_column(left[order]), index_column(right[order])


def inner_join(left_keys: Table, right_keys: Table, nulls_equal: NullEquality, stream: Any = None,
               mr: Any = None) -> tuple[Column, Column]:
    equality = _check(left_keys, right_keys, nulls_equal)
    return _maps(*_pairs(*_key_ids(left_keys, right_keys, equality)))


def left_join(left_keys: Table, right_keys: Table, nulls_equal: NullEquality, stream: Any = None,
              mr: Any = None) -> tuple[Column, Column]:
    equality = _check(left_keys, right_keys, nulls_equal)
    lid, rid = _key_ids(left_keys, right_keys, equality)
    left, right = _pairs(lid, rid)
    unmatched = np.setdiff1d(np.arange(left_keys.num_rows()), left)
    left = np.r_[left, unmatched]
    right = np.r_[right, np.full(len(unmatched), JOIN_NO_MATCH, np.int64)]
    return _maps(left, right)


def full_join(left_keys: Table, right_keys: Table, nulls_equal: NullEquality, stream: Any = None,
              mr: Any = None) -> tuple[Column, Column]:
    equality = _check(left_keys, right_keys, nulls_equal)
    lid, rid = _key_ids(left_keys, right_keys, equality)
    left, right = _pairs(lid, rid)
    lonely_left = np.setdiff1d(np.arange(left_keys.num_rows()), left)
    lonely_right = np.setdiff1d(np.arange(right_keys.num_rows()), right)
    left_map = np.r_[left, lonely_left, np.full(len(lonely_right), JOIN_NO_MATCH, np.int64)]
    right_map = np.r_[right, np.full(len(lonely_left), JOIN_NO_MATCH, np.int64), lonely_right]
    return _maps(left_map, right_map)


def _semi(left_keys: Table, right_keys: Table, nulls_equal: NullEquality, keep_matched: bool) -> Column:
    equality = _check(left_keys, right_keys, nulls_equal)
    lid, rid = _key_ids(left_keys, right_keys, equality)
    matched = np.isin(lid, rid[rid >= 0]) & (lid >= 0)
    rows = np.flatnonzero(matched if keep_matched else ~matched)
    return index_column(rows[_sim.scramble(len(rows))])


def left_semi_join(left_keys: Table, right_keys: Table, nulls_equal: NullEquality, stream: Any = None,
                   mr: Any = None) -> Column:
    """Left rows with a match on the right (each once), in unspecified order."""
    return _semi(left_keys, right_keys, nulls_equal, True)


def left_anti_join(left_keys: Table, right_keys: Table, nulls_equal: NullEquality, stream: Any = None,
                   mr: Any = None) -> Column:
    """Left rows without a match on the right (NULL keys under UNEQUAL never match, so they are
    kept), in unspecified order."""
    return _semi(left_keys, right_keys, nulls_equal, False)


def cross_join(left: Table, right: Table, stream: Any = None, mr: Any = None) -> Table:
    if not isinstance(left, Table) or not isinstance(right, Table):
        raise TypeError("cross_join takes two Tables")
    nl, nr = left.num_rows(), right.num_rows()
    if nl * nr > 2**31 - 1:
        raise OverflowError("Cross join result exceeds the column size limit")
    left_rows = np.repeat(np.arange(nl), nr)
    right_rows = np.tile(np.arange(nr), nl)
    lt, rt = take_table(left, left_rows), take_table(right, right_rows)
    columns = lt.columns() + rt.columns()
    return Table(columns) if columns else Table([], num_rows=nl * nr)
