"""Relational kernels on Arrow and acero: filter, gather, joins, distinct, sort, hash partition."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fallback_cpu.columns import _array, _from_numpy, _valid_mask, make_table
from fallback_cpu.decimals import _unscaled
from fallback_cpu.partition_hash import arrow_column_buffers, partition_ids
from fallback_cpu.types import is_string


def filter(table: pa.Table, mask: pa.Array) -> pa.Table:
    return table.filter(_array(mask))  # NULL drops the row (null_selection_behavior="drop")


def gather(table: pa.Table, indices: pa.Array) -> pa.Table:
    return table.take(_array(indices))  # a NULL index gives an all-NULL row


def join(
    left_keys: pa.Table, right_keys: pa.Table, how: str, nulls_equal: bool, use_threads: bool
) -> tuple[pa.Array, pa.Array | None]:
    acero_how = {
        "inner": "inner",
        "left": "left outer",
        "full": "full outer",
        "left_semi": "left semi",
        "left_anti": "left anti",
    }.get(how)
    if acero_how is None:
        raise ValueError(f"unknown join type {how!r}")
    left, left_names = _join_side(left_keys, "l", nulls_equal)
    right, right_names = _join_side(right_keys, "r", nulls_equal)
    joined = left.join(
        right,
        keys=left_names,
        right_keys=right_names,
        join_type=acero_how,
        use_threads=use_threads,
        coalesce_keys=False,
    )
    left_map = _array(joined.column("l_row"))
    if how in ("left_semi", "left_anti"):
        # acero's output order varies with its threads; sorted, the map keeps the left rows
        # in their input order, the same on every run.
        return pa.array(np.sort(left_map.to_numpy()), type=pa.int64()), None
    return left_map.cast(pa.int64()), _array(joined.column("r_row")).cast(pa.int64())


def cross_join(left: pa.Table, right: pa.Table, schema: pa.Schema) -> pa.Table:
    nl, nr = left.num_rows, right.num_rows
    left_rows = pa.array(np.repeat(np.arange(nl, dtype=np.int64), nr))
    right_rows = pa.array(np.tile(np.arange(nr, dtype=np.int64), nl))
    columns = list(left.take(left_rows).columns) + list(right.take(right_rows).columns)
    return make_table(columns, schema, nl * nr)


def index_mask(num_rows: int, indices: pa.Array) -> pa.Array:
    idx = _array(indices)
    if idx.null_count:
        idx = idx.drop_null()
    mask = np.zeros(num_rows, dtype=bool)
    mask[idx.to_numpy(zero_copy_only=False).astype(np.int64)] = True
    return pa.array(mask)


def distinct(table: pa.Table, use_threads: bool) -> pa.Table:
    if table.num_columns == 0:
        return table.slice(0, min(1, table.num_rows))
    names = [f"c{i}" for i in range(table.num_columns)]
    keys = pa.Table.from_arrays([_group_key(c) for c in table.columns], names=names)
    grouped = keys.group_by(names, use_threads=use_threads).aggregate([]).select(names)
    return pa.Table.from_arrays(grouped.columns, schema=table.schema)


def sort_indices(table: pa.Table, keys: Sequence[tuple[int, bool, bool]]) -> pa.Array:
    n = table.num_rows
    if not keys or n == 0:
        return pa.array(np.arange(n, dtype=np.int64))
    columns, sort_keys = [], []
    for j, (index, ascending, nulls_first) in enumerate(keys):
        col = _array(table.column(index))
        order = "ascending" if ascending else "descending"
        if col.null_count:
            # pyarrow's null placement is one setting for the call; SQL's is per key and
            # absolute. An is-valid flag key in front puts this key's NULLs where asked
            # (false < true), whatever the direction.
            columns.append(pc.is_valid(col))
            sort_keys.append((f"v{j}", "ascending" if nulls_first else "descending"))
        if pa.types.is_floating(col.type) and pc.any(pc.is_nan(col)).as_py():
            # DataFusion orders NaN above every number (DESC puts it first); pyarrow puts
            # NaN at the end in both directions.
            columns.append(pc.fill_null(pc.is_nan(col), False))
            sort_keys.append((f"n{j}", order))
        columns.append(_fast_sort_key(col))
        sort_keys.append((f"k{j}", order))
    names = [name for name, _ in sort_keys]
    order_table = pa.Table.from_arrays(columns, names=names)
    return pc.sort_indices(order_table, sort_keys=sort_keys).cast(pa.int64())  # stable


def hash_partition(table: pa.Table, keys: Sequence[int], num_partitions: int) -> list[pa.Table]:
    if not keys:
        return [table] + [table.slice(0, 0) for _ in range(num_partitions - 1)]
    ids = partition_ids(np, [arrow_column_buffers(table.column(k)) for k in keys], num_partitions)
    # One take into partition order (stable: rows keep their order inside a partition), then
    # zero-copy slices.
    order = np.argsort(ids, kind="stable")
    counts = np.bincount(ids, minlength=num_partitions)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    ordered = table.take(pa.array(order))
    return [ordered.slice(int(offsets[p]), int(counts[p])) for p in range(num_partitions)]


def _filler(t: pa.DataType) -> pa.Scalar:
    """A fixed non-NULL value of type ``t`` (what a NULL key is replaced by for nulls_equal)."""
    if is_string(t):
        return pa.scalar("", type=t)
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return pa.scalar(b"", type=t)
    if pa.types.is_boolean(t):
        return pa.scalar(False)
    return pa.scalar(0, type=t)  # numbers, decimals, dates and timestamps (the epoch)


def _fast_sort_key(col: pa.Array) -> pa.Array:
    """A column that sorts like ``col``: decimals as their int64 unscaled values when they fit
    (pyarrow sorts decimal128 several times slower than int64; one scale, so same order)."""
    if pa.types.is_decimal(col.type) and col.type.bit_width == 128:
        values = _unscaled(col)
        if values.dtype != object:
            return _from_numpy(values, _valid_mask(col), pa.int64())
    return col


def _group_key(col: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """A key column as DataFusion groups it: -0.0 and 0.0 are one group (pyarrow hashes the bits
    and splits them; adding 0.0 turns -0.0 into 0.0). NaNs already group together."""
    if pa.types.is_floating(col.type):
        return pc.add(col, pa.scalar(0.0, col.type))
    return col


def _join_side(keys: pa.Table, prefix: str, nulls_equal: bool) -> tuple[pa.Table, list[str]]:
    """One side of an acero join: the key columns (named ``{prefix}0``...) and the row number
    (``{prefix}_row``), and the key names to join on. acero never matches NULL keys, which is
    SQL ``=``; for ``nulls_equal`` (IS NOT DISTINCT FROM) every key becomes two: the value with
    NULL replaced by a fixed filler, and an is-NULL flag, so two rows match exactly when both
    keys are NULL or both are equal."""
    columns, names = [], []
    for j, col in enumerate(keys.columns):
        col = _array(_group_key(col))  # -0.0 joins 0.0
        if nulls_equal:
            filled = pc.fill_null(col, _filler(col.type)) if col.null_count else col
            columns += [filled, pc.is_null(col)]
            names += [f"{prefix}{j}", f"{prefix}{j}_isnull"]
        else:
            columns.append(col)
            names.append(f"{prefix}{j}")
    row_numbers = pa.array(np.arange(keys.num_rows, dtype=np.int64))
    table = pa.Table.from_arrays(columns + [row_numbers], names=names + [f"{prefix}_row"])
    return table, names
