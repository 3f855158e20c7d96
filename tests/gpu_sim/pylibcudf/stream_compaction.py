"""Simulated ``pylibcudf.stream_compaction`` (models pylibcudf 26.10, ``stream_compaction.pyx``;
libcudf ``cpp/src/stream_compaction/``).

Behaviour modelled:

- ``apply_retention_mask(table, mask)`` keeps the rows where the mask is valid AND true (a NULL
  mask row drops the row). The mask must be BOOL8 and as long as the table (RuntimeError).
  ``apply_deletion_mask`` removes only valid-true rows (NULL rows survive); ``apply_boolean_mask``
  is the deprecated name of the retention form (FutureWarning, as 26.10).
- ``distinct(input, keys, keep, nulls_equal, nans_equal)``: one row per distinct key (KEEP_ANY: an
  arbitrary row of each group, KEEP_FIRST / KEEP_LAST: the first / last, KEEP_NONE: only keys
  that occur once). The output order is unspecified: scrambled. ``stable_distinct`` keeps the
  input order of the surviving rows. NULLs are equal under NullEquality.EQUAL; NaNs under
  NanEquality.ALL_EQUAL; -0.0 equals 0.0.
- ``drop_nulls`` keeps rows with at least ``keep_threshold`` non-null key values.
"""

from __future__ import annotations

import warnings
from enum import IntEnum
from typing import Any

import numpy as np

from pylibcudf import _sim
from pylibcudf.column import Column
from pylibcudf.sorting import _valid_flags, index_column, row_group_ids, take_table
from pylibcudf.table import Table
from pylibcudf.types import NanEquality, NullEquality, TypeId

__all__ = [
    "DuplicateKeepOption",
    "apply_boolean_mask",
    "apply_deletion_mask",
    "apply_retention_mask",
    "distinct",
    "distinct_indices",
    "drop_nulls",
    "stable_distinct",
]


class DuplicateKeepOption(IntEnum):
    KEEP_ANY = 0
    KEEP_FIRST = 1
    KEEP_LAST = 2
    KEEP_NONE = 3


def _mask_rows(source_table: Table, mask: Column, keep_true: bool) -> np.ndarray:
    if not isinstance(source_table, Table) or not isinstance(mask, Column):
        raise TypeError("a boolean mask is applied to a Table with a Column")
    if mask.type().id() != TypeId.BOOL8:
        raise RuntimeError(f"Mask must be Boolean type, not {mask.type()}")
    # libcudf's table_view counts rows from its columns: a Table without columns has 0 rows there.
    n = source_table.num_rows() if source_table.num_columns() else 0
    if n and mask.size() != n:
        raise RuntimeError(f"Column size mismatch: the table has {n} rows and the mask {mask.size()}")
    if n == 0:
        return np.zeros(0, np.int64)
    arr = _sim.column_to_arrow(mask)
    valid = _valid_flags(arr)
    truth = np.asarray(arr.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)
    return np.flatnonzero(valid & truth) if keep_true else np.flatnonzero(~(valid & truth))


def apply_retention_mask(source_table: Table, retention_mask: Column, stream: Any = None, mr: Any = None) -> Table:
    """Rows where ``retention_mask`` is valid and true."""
    if isinstance(source_table, Table) and not source_table.num_columns():
        _mask_rows(source_table, retention_mask, True)
        return Table([])
    return take_table(source_table, _mask_rows(source_table, retention_mask, True))


def apply_boolean_mask(source_table: Table, boolean_mask: Column, stream: Any = None, mr: Any = None) -> Table:
    warnings.warn("apply_boolean_mask is deprecated; use apply_retention_mask", FutureWarning, stacklevel=2)
    return apply_retention_mask(source_table, boolean_mask)


def apply_deletion_mask(source_table: Table, deletion_mask: Column, stream: Any = None, mr: Any = None) -> Table:
    """Rows except those where ``deletion_mask`` is valid and true (NULL mask rows survive)."""
    return take_table(source_table, _mask_rows(source_table, deletion_mask, False))


def _keep_rows(table: Table, keys: list[int], keep: Any, nulls_equal: Any, nans_equal: Any) -> np.ndarray:
    """The indices of the rows ``distinct`` keeps, in input order."""
    if not isinstance(table, Table):
        raise TypeError(f"input must be a Table, not {type(table).__name__}")
    if not isinstance(keys, list):
        raise TypeError("keys must be a list of column indices")
    keep = DuplicateKeepOption(int(keep))
    nulls = NullEquality(int(nulls_equal))
    nans = NanEquality(int(nans_equal))
    cols = table.columns()
    for k in keys:
        if not -len(cols) <= int(k) < len(cols):
            raise IndexError(f"key column {k} is out of range for a table of {len(cols)} columns")
    n = table.num_rows()
    if n == 0:
        return np.zeros(0, np.int64)
    if not keys:
        ids = np.zeros(n, np.int64)  # no key columns: every row has the same (empty) key
    else:
        ids = row_group_ids([cols[int(k)] for k in keys], nulls_equal=nulls == NullEquality.EQUAL,
                            nans_equal=nans == NanEquality.ALL_EQUAL)
    rows = np.arange(n)
    if keep == DuplicateKeepOption.KEEP_ANY:
        shuffled = _sim.scramble(n)  # an arbitrary member of each group
        _, pos = np.unique(ids[shuffled], return_index=True)
        return np.sort(shuffled[pos])
    if keep == DuplicateKeepOption.KEEP_FIRST:
        _, pos = np.unique(ids, return_index=True)
        return np.sort(rows[pos])
    if keep == DuplicateKeepOption.KEEP_LAST:
        _, pos = np.unique(ids[::-1], return_index=True)
        return np.sort(rows[::-1][pos])
    uniq, counts = np.unique(ids, return_counts=True)
    singles = uniq[counts == 1]
    return rows[np.isin(ids, singles)]


def distinct(input: Table, keys: list[int], keep: DuplicateKeepOption, nulls_equal: NullEquality,
             nans_equal: NanEquality, stream: Any = None, mr: Any = None) -> Table:
    """Distinct rows by ``keys``, in unspecified (scrambled) order."""
    rows = _keep_rows(input, keys, keep, nulls_equal, nans_equal)
    return take_table(input, rows[_sim.scramble(len(rows))])


def stable_distinct(input: Table, keys: list[int], keep: DuplicateKeepOption,
                    nulls_equal: NullEquality, nans_equal: NanEquality, stream: Any = None, mr: Any = None) -> Table:
    """Distinct rows by ``keys``, in input order."""
    return take_table(input, _keep_rows(input, keys, keep, nulls_equal, nans_equal))


def distinct_indices(input: Table, keep: DuplicateKeepOption, nulls_equal: NullEquality,
                     nans_equal: NanEquality, stream: Any = None, mr: Any = None) -> Column:
    """INT32 indices of the distinct rows (all columns are keys), in unspecified order."""
    rows = _keep_rows(input, list(range(input.num_columns())), keep, nulls_equal, nans_equal)
    return index_column(rows[_sim.scramble(len(rows))])


def drop_nulls(source_table: Table, keys: list[int], keep_threshold: int, stream: Any = None,
               mr: Any = None) -> Table:
    if not isinstance(source_table, Table):
        raise TypeError("source_table must be a Table")
    cols = source_table.columns()
    n = source_table.num_rows()
    valid_counts = np.zeros(n, np.int64)
    for k in keys:
        valid_counts += _valid_flags(_sim.column_to_arrow(cols[int(k)]))
    return take_table(source_table, np.flatnonzero(valid_counts >= int(keep_threshold)))
