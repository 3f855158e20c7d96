"""Group-by aggregates and AVG on Arrow (acero's hash aggregates, DataFusion's rules)."""

from __future__ import annotations

from typing import Any, Sequence

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
    make_table,
)
from fallback_cpu.decimals import _Dec, _decimal_array, _int_divide, _rescale_up
from fallback_cpu.relational import _group_key
from fallback_cpu.types import sum_type_of


def group_by(
    table: pa.Table,
    keys: Sequence[int],
    aggs: Sequence[tuple[int | None, str, pa.DataType]],
    use_threads: bool,
) -> pa.Table:
    n = table.num_rows
    columns: dict[str, pa.Array | pa.ChunkedArray] = {}
    for j, k in enumerate(keys):
        columns[f"k{j}"] = _group_key(table.column(k))
    requests = []
    nan_flags: dict[int, str] = {}  # agg index → name of its "any NaN in the group" result
    folded: dict[int, pa.Array] = {}  # agg index → its result, computed beside acero (no keys)
    for i, (index, func, _out_type) in enumerate(aggs):
        source = table.column(index) if index is not None else pa.nulls(n, pa.int8())
        if func == "string_agg":
            # Concatenated in input order: acero's "list" keeps it only without threads (below).
            if keys:
                columns[f"v{i}"] = source
                requests.append((f"v{i}", "list", None))
            else:
                folded[i] = _concat(_array(source), np.zeros(n, np.int64), 1)
            continue
        if func in _BIT_UFUNCS:
            # acero has no bitwise aggregate: the group's values are collected ("list") and folded
            # with numpy; without keys, the column is folded at once (acero's "list" is hash-only).
            if keys:
                columns[f"v{i}"] = source
                requests.append((f"v{i}", "list", None))
            else:
                folded[i] = _bitwise(func, _array(source), np.zeros(n, np.int64), 1)
            continue
        if func == "sum" and not pa.types.is_decimal128(source.type):
            # (Arrow's hash_sum of a decimal128 already accumulates in 128 bits and returns
            # decimal128(38, s), sum_type_of's type: no cast needed.)
            source = source.cast(sum_type_of(source.type))
        kernel, options = _aggregate_plan(func)
        columns[f"v{i}"] = source
        requests.append((f"v{i}", kernel, options))
        if func == "max" and _has_nan(source):
            # pyarrow's MAX skips NaN; DataFusion orders NaN above every number, so a group
            # holding a NaN has MAX NaN.
            columns[f"nan{i}"] = pc.is_nan(source)
            requests.append((f"nan{i}", "any", pc.ScalarAggregateOptions(skip_nulls=True, min_count=1)))
            nan_flags[i] = f"nan{i}_any"
    if not columns:
        columns["_"] = pa.nulls(n, pa.int8())
    ordered = any(func == "string_agg" for _, func, _ in aggs)
    grouped = (
        pa.table(columns)
        .group_by([f"k{j}" for j in range(len(keys))], use_threads=use_threads and not ordered)
        .aggregate(requests)
    )
    out_columns, names = [], []
    for j, k in enumerate(keys):
        out_columns.append(_array(grouped.column(f"k{j}")))
        names.append(table.schema.field(k).name)
    for i, (_index, func, out_type) in enumerate(aggs):
        if func in _BIT_UFUNCS or func == "string_agg":
            if i in folded:
                result = folded[i]
            else:
                lists = _array(grouped.column(f"v{i}_list"))
                parents = _numpy_values(pc.list_parent_indices(lists)).astype(np.int64)
                fold = _concat if func == "string_agg" else lambda *a: _bitwise(func, *a)
                result = fold(_array(pc.list_flatten(lists)), parents, len(lists))
            out_columns.append(result.cast(out_type))
            names.append(f"{func}_{i}")
            continue
        kernel, _ = _aggregate_plan(func)
        result = _array(grouped.column(f"v{i}_{kernel}"))
        if i in nan_flags:
            has_nan = pc.fill_null(_array(grouped.column(nan_flags[i])), False)
            result = pc.if_else(has_nan, pa.scalar(float("nan"), result.type), result)
        with _data_errors(f"{func} aggregate"):
            out_columns.append(_cast_array(result, out_type, safe=False))
        names.append(f"{func}_{i}")
    fields = [pa.field(nm, c.type) for nm, c in zip(names, out_columns)]
    return make_table(out_columns, pa.schema(fields), grouped.num_rows)


def average(total: pa.Array, count: pa.Array, out_type: pa.DataType) -> pa.Array:
    s, c = _array(total), _array(count)
    counts = _numpy_values(c).astype(np.int64)
    has_value = _valid_mask(s) & _valid_mask(c) & (counts != 0)
    safe_counts = np.where(has_value, counts, 1)
    if pa.types.is_decimal(out_type):
        # DataFusion's decimal AVG: the sum rescaled to the result scale, divided by the
        # count, truncated toward zero (avg(1, 2, 2) = 1.666666, not 1.666667).
        dec = _Dec.of(s)
        quotient = _int_divide(_rescale_up(dec.values, out_type.scale - dec.scale), safe_counts, "trunc")
        return _decimal_array(quotient, has_value, out_type, safe=False, what="avg")
    sums = _numpy_values(_cast_array(s, pa.float64(), safe=False), 0.0)
    return _from_numpy(sums / safe_counts, has_value, pa.float64()).cast(out_type)


_BIT_UFUNCS = {"bit_and": np.bitwise_and, "bit_or": np.bitwise_or, "bit_xor": np.bitwise_xor}


def _bitwise(func: str, values: pa.Array, groups: np.ndarray, num_groups: int) -> pa.Array:
    """BIT_AND/OR/XOR of the integer ``values`` by group (``groups``: each value's group): NULLs
    are skipped, and a group without values is NULL."""
    valid = _valid_mask(values)
    ints = _numpy_values(values)[valid]
    owner = groups[valid]
    # The fold starts from the operation's identity: all bits set for AND, none for OR and XOR.
    start = ~np.zeros((), ints.dtype) if func == "bit_and" else np.zeros((), ints.dtype)
    out = np.full(num_groups, start, dtype=ints.dtype)
    _BIT_UFUNCS[func].at(out, owner, ints)
    has_value = np.bincount(owner, minlength=num_groups) > 0
    return _from_numpy(out, has_value, values.type)


def _concat(values: pa.Array, groups: np.ndarray, num_groups: int) -> pa.Array:
    """The non-NULL strings of each group (``groups``: each value's group, values in order)
    concatenated in order; a group without values is NULL."""
    valid = _valid_mask(values)
    owner = groups[valid]
    order = np.argsort(owner, kind="stable")
    kept = values.filter(pa.array(valid)).take(pa.array(order))
    counts = np.bincount(owner, minlength=num_groups)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    lists = pa.ListArray.from_arrays(pa.array(offsets), kept.cast(pa.string()))
    joined = pc.binary_join(lists, "")
    return pc.if_else(pa.array(counts > 0), joined, pa.scalar(None, pa.string()))


def _has_nan(col: pa.Array | pa.ChunkedArray) -> bool:
    return pa.types.is_floating(col.type) and bool(pc.any(pc.is_nan(col)).as_py())


def _aggregate_plan(func: str) -> tuple[str, Any]:
    if func == "sum":
        return "sum", pc.ScalarAggregateOptions(skip_nulls=True, min_count=1)
    if func in ("min", "max"):
        return func, pc.ScalarAggregateOptions(skip_nulls=True, min_count=1)
    if func == "count":
        return "count", pc.CountOptions(mode="only_valid")
    if func == "count_all":
        return "count", pc.CountOptions(mode="all")
    if func == "any_value":
        # "any value of the group": MIN is such a value, and a deterministic one, so the CPU and
        # GPU backends agree row for row.
        return "min", pc.ScalarAggregateOptions(skip_nulls=True, min_count=1)
    raise ValueError(f"unknown aggregate function {func!r}")
