"""Relational kernels on the device: filter, gather, joins, distinct, sort, hash partition."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import pyarrow as pa

from fallback_cpu.partition_hash import ColumnBuffers, partition_ids
from gpu_exec.cudf.columns import (
    CudfColumn,
    CudfTable,
    _all_null,
    _binop,
    _compare,
    _count_true,
    _iota,
    _kernel,
    _scalar,
)
from gpu_exec.cudf.host import _empty
from gpu_exec.cudf.io import make_table, slice_table
from gpu_exec.cudf.lazy import array_module
from gpu_exec.cudf.types import _bool8, _dtype, _int64, _is_float

if TYPE_CHECKING:
    import cupy as cp
    import pylibcudf as plc
else:
    from gpu_exec.cudf.lazy import cp, plc


def filter(table: CudfTable, mask: CudfColumn) -> CudfTable:
    if not table.table.num_columns():
        return CudfTable(plc.Table([], num_rows=_count_true(mask.data)), table.schema)
    # Keeps rows where the mask is valid and true: NULL drops the row, as SQL WHERE.
    return CudfTable(plc.stream_compaction.apply_retention_mask(table.table, mask.data), table.schema)


# @_kernel here too (cross_join calls it): a failure inside names gather, as the method would.
@_kernel
def gather(table: CudfTable, indices: CudfColumn) -> CudfTable:
    if not table.table.num_columns():
        return CudfTable(plc.Table([], num_rows=len(indices)), table.schema)
    gather_map = indices.data
    if gather_map.null_count():
        # A NULL index (a join's no-match) becomes an out-of-range index, which NULLIFY
        # gathers as an all-NULL row (a gather map itself may hold no NULLs: NOTES.md, 'Gather maps').
        fill = _scalar(table.table.num_rows(), gather_map.type())
        gather_map = plc.replace.replace_nulls(gather_map, fill)
    # NULLIFY everywhere: DONT_CHECK with a bad index is undefined behaviour that can kill
    # the CUDA context (NOTES.md, 'Gather maps'); the bounds check is cheap next to that.
    gathered = plc.copying.gather(table.table, gather_map, plc.copying.OutOfBoundsPolicy.NULLIFY)
    return CudfTable(gathered, table.schema)


def join(
    left_keys: CudfTable, right_keys: CudfTable, how: str, nulls_equal: bool
) -> tuple[CudfColumn, CudfColumn | None]:
    if how not in ("inner", "left", "full", "left_semi", "left_anti"):
        raise ValueError(f"unknown join type {how!r}")
    nl, nr = left_keys.table.num_rows(), right_keys.table.num_rows()
    if nl == 0 or nr == 0:
        return _join_with_an_empty_side(how, nl, nr)
    # SQL '=' never matches NULL keys; IS NOT DISTINCT FROM does.
    equality = plc.types.NullEquality.EQUAL if nulls_equal else plc.types.NullEquality.UNEQUAL
    left = plc.Table([_normalized_key(c) for c in left_keys.table.columns()])
    right = plc.Table([_normalized_key(c) for c in right_keys.table.columns()])
    if how in ("left_semi", "left_anti"):
        join = plc.join.left_semi_join if how == "left_semi" else plc.join.left_anti_join
        left_map = join(left, right, equality)
        # Sorted, the map keeps the left rows in their input order (as the CPU's).
        ordered = plc.sorting.sort(
            plc.Table([left_map]), [plc.types.Order.ASCENDING], [plc.types.NullOrder.AFTER]
        ).columns()[0]
        return CudfColumn(plc.unary.cast(ordered, _int64()), pa.int64()), None
    joiner = {"inner": plc.join.inner_join, "left": plc.join.left_join, "full": plc.join.full_join}[how]
    left_map, right_map = joiner(left, right, equality)
    # Unmatched rows hold JoinNoMatch (INT32_MIN): the protocol wants NULL indices (NOTES.md,
    # 'Join gather maps').
    lmap = _nullify_no_match(left_map) if how == "full" else plc.unary.cast(left_map, _int64())
    rmap = _nullify_no_match(right_map) if how != "inner" else plc.unary.cast(right_map, _int64())
    return CudfColumn(lmap, pa.int64()), CudfColumn(rmap, pa.int64())


def _join_with_an_empty_side(how: str, nl: int, nr: int) -> tuple[CudfColumn, CudfColumn | None]:
    """Maps of a join where one side has no rows, built directly (no hash table over nothing)."""
    none = CudfColumn(plc.column_factories.make_empty_column(plc.TypeId.INT64), pa.int64())
    every_left = CudfColumn(_iota(nl, _int64()), pa.int64())
    if how in ("left_semi", "left_anti"):
        return (every_left if how == "left_anti" and nr == 0 else none), None
    if how == "inner" or (how == "left" and nl == 0):
        return none, none
    if how == "left" or nr == 0:  # left, or full with an empty right: every left row, unmatched
        return every_left, _all_null(pa.int64(), nl)
    return _all_null(pa.int64(), nr), CudfColumn(_iota(nr, _int64()), pa.int64())  # full, empty left


def cross_join(left: CudfTable, right: CudfTable, schema: pa.Schema) -> CudfTable:
    nl, nr = left.table.num_rows(), right.table.num_rows()
    if nl == 0 or nr == 0:
        return _empty(schema) if len(schema) else CudfTable(plc.Table([], num_rows=0), schema)
    if left.table.num_columns() and right.table.num_columns():
        return CudfTable(plc.join.cross_join(left.table, right.table), schema)
    # A side without columns (COUNT(*) inputs): gather each side by the pair indices.
    left_rows = CudfColumn(
        plc.filling.repeat(plc.Table([_iota(nl, _int64())]), nr).columns()[0], pa.int64()
    )
    right_rows = CudfColumn(
        _binop(
            _iota(nl * nr, _int64()), _scalar(nr, _int64()), plc.binaryop.BinaryOperator.MOD, _int64()
        ),
        pa.int64(),
    )
    lt, rt = gather(left, left_rows), gather(right, right_rows)
    columns = [lt.column(i) for i in range(len(left.schema))] + [
        rt.column(i) for i in range(len(right.schema))
    ]
    return make_table(columns, schema, nl * nr)


def index_mask(num_rows: int, indices: CudfColumn) -> CudfColumn:
    if num_rows == 0:
        return CudfColumn(plc.column_factories.make_empty_column(plc.TypeId.BOOL8), pa.bool_())
    idx = indices.data
    if idx.size() == 0:
        return CudfColumn(plc.Column.from_scalar(_scalar(False, _bool8()), num_rows), pa.bool_())
    # Row r is marked when r occurs in the indices. A scatter of True at the indices would be
    # shorter, but a join's map repeats indices and libcudf leaves a scatter map with a repeated
    # index undefined (cpp/include/cudf/copying.hpp); ``contains`` has no such condition. Its
    # haystack NULLs match no row number (the needles have none).
    rows = _iota(num_rows, idx.type())
    return CudfColumn(plc.search.contains(idx, rows), pa.bool_())


def distinct(table: CudfTable) -> CudfTable:
    n = table.table.num_rows()
    if not table.table.num_columns():
        return CudfTable(plc.Table([], num_rows=min(1, n)), table.schema)
    keys = plc.Table([_normalized_key(c) for c in table.table.columns()])
    unique = plc.stream_compaction.distinct(
        keys,
        list(range(keys.num_columns())),
        plc.stream_compaction.DuplicateKeepOption.KEEP_ANY,
        plc.types.NullEquality.EQUAL,  # SQL DISTINCT: NULLs are equal
        plc.types.NanEquality.ALL_EQUAL,
    )
    return CudfTable(unique, table.schema)


def sort_indices(table: CudfTable, keys: Sequence[tuple[int, bool, bool]]) -> CudfColumn:
    n = table.table.num_rows()
    if not keys or n == 0:
        return CudfColumn(_iota(n, _int64()), pa.int64())
    order = _sort_order(table, keys)
    return CudfColumn(plc.unary.cast(order, _int64()), pa.int64())


def hash_partition(table: CudfTable, keys: Sequence[int], num_partitions: int) -> list[CudfTable]:
    if not keys:
        return [table] + [slice_table(table, 0, 0) for _ in range(num_partitions - 1)]
    # The shared array-API hash over the columns' Arrow-layout device buffers (cupy): the
    # same partition as the CPU backend for every key (cuDF's murmur3 would differ: NOTES.md,
    # 'Partition hash').
    buffers = [_device_column_buffers(table.table.columns()[k]) for k in keys]
    ids = partition_ids(array_module(), buffers, num_partitions)
    partition_map = plc.Column.from_cuda_array_interface(ids)
    ordered, offsets = plc.partitioning.partition(table.table, partition_map, num_partitions)
    # 26.10 returns num_partitions + 1 offsets (older releases num_partitions): the inner
    # boundaries are offsets[1:num_partitions] either way.
    pieces = plc.copying.split(ordered, list(offsets[1:num_partitions]))
    return [CudfTable(p, table.schema) for p in pieces]


_JOIN_NO_MATCH = -(2**31)  # libcudf's JoinNoMatch sentinel (cpp/include/cudf/join/join.hpp)


def _null_order(ascending: bool, nulls_first: bool) -> plc.types.NullOrder:
    """libcudf's NullOrder is relative to the ascending order and DESCENDING flips it (NOTES.md,
    'Null ordering'): DESC NULLS FIRST is (DESCENDING, AFTER)."""
    return plc.types.NullOrder.AFTER if (not ascending) == nulls_first else plc.types.NullOrder.BEFORE


def _normalized_key(col: plc.Column) -> plc.Column:
    """A key column as DataFusion groups and joins it: -0.0 is 0.0 and every NaN one NaN."""
    if _is_float(col.type()):
        return plc.replace.normalize_nans_and_zeros(col)
    return col


def _nullify_no_match(gather_map: plc.Column) -> plc.Column:
    """A join gather map with libcudf's JoinNoMatch sentinels turned into NULLs (the protocol's
    no-match), as INT64 like the CPU's maps."""
    matched = _compare(
        gather_map, _scalar(_JOIN_NO_MATCH, gather_map.type()), plc.binaryop.BinaryOperator.NOT_EQUAL
    )
    mask, null_count = plc.transform.bools_to_mask(matched)
    with_nulls = gather_map.with_mask(mask, null_count) if null_count else gather_map
    return plc.unary.cast(with_nulls, _int64())


def _sort_order(table: CudfTable, keys: Sequence[tuple[int, bool, bool]]) -> plc.Column:
    """A stable INT32 permutation ordering ``table`` by SQL sort keys (NaN above every number and
    -0.0 tied with 0.0 by libcudf's comparator, as DataFusion: NOTES.md, 'Null ordering')."""
    columns = table.table.columns()
    key_table = plc.Table([columns[i] for i, _, _ in keys])
    orders = [plc.types.Order.ASCENDING if asc else plc.types.Order.DESCENDING for _, asc, _ in keys]
    nulls = [_null_order(asc, nulls_first) for _, asc, nulls_first in keys]
    return plc.sorting.stable_sorted_order(key_table, orders, nulls)


def _device_array(buffer: Any, dtype: Any, begin: int, end: int | None) -> Any:
    """Elements [begin, end) of a device buffer (any Span: ``ptr`` and ``size`` in bytes) viewed
    as ``dtype``: a cupy view that keeps ``buffer`` alive, no copy."""
    if buffer is None or buffer.size == 0:
        return cp.zeros(0, dtype=dtype)
    memory = cp.cuda.UnownedMemory(buffer.ptr, buffer.size, buffer)
    raw = cp.ndarray((buffer.size,), dtype=cp.uint8, memptr=cp.cuda.MemoryPointer(memory, 0))
    itemsize = cp.dtype(dtype).itemsize
    return raw[: buffer.size // itemsize * itemsize].view(dtype)[begin:end]


def _device_column_buffers(col: plc.Column) -> ColumnBuffers:
    """Describe a device column for ``partition_ids`` in the Arrow layout it shares with the
    CPU: the same values, the same hash, so a key lands in the same partition on either backend."""
    n, offset = col.size(), col.offset()
    tid = col.type().id()
    validity = None
    if col.null_count():
        # is_valid accounts for the column's offset; its BOOL8 bytes are the validity flags.
        flags = plc.unary.is_valid(col)
        validity = _device_array(flags.data(), cp.uint8, 0, n).astype(cp.bool_)
    if tid == plc.TypeId.STRING:
        if n == 0 or col.num_children() == 0:
            return ColumnBuffers(
                "string", cp.zeros(0, dtype=cp.uint8), cp.zeros(n + 1, dtype=cp.int32), validity
            )
        offsets_col = col.child(0)
        width = cp.int64 if offsets_col.type().id() == plc.TypeId.INT64 else cp.int32
        offsets = _device_array(offsets_col.data(), width, offset, offset + n + 1)
        chars = _device_array(col.data(), cp.uint8, 0, None)
        return ColumnBuffers("string", chars, offsets, validity)
    if tid == plc.TypeId.DECIMAL128:
        return ColumnBuffers(
            "decimal128", _device_array(col.data(), cp.int64, 2 * offset, 2 * (offset + n)), None, validity
        )
    if tid in (plc.TypeId.DECIMAL32, plc.TypeId.DECIMAL64):
        return _device_column_buffers(plc.unary.cast(col, _dtype(plc.TypeId.DECIMAL128, col.type().scale())))
    if tid in (plc.TypeId.FLOAT32, plc.TypeId.FLOAT64):
        dtype = cp.float32 if tid == plc.TypeId.FLOAT32 else cp.float64
        return ColumnBuffers("float", _device_array(col.data(), dtype, offset, offset + n), None, validity)
    if tid == plc.TypeId.BOOL8:
        return ColumnBuffers("bool", _device_array(col.data(), cp.uint8, offset, offset + n), None, validity)
    width = plc.types.size_of(col.type())
    signed = tid not in (plc.TypeId.UINT8, plc.TypeId.UINT16, plc.TypeId.UINT32, plc.TypeId.UINT64)
    dtype = cp.dtype(f"{'i' if signed else 'u'}{width}")
    # ints, timestamps, durations (and the INT8 of a null-typed column): the integer values.
    return ColumnBuffers("int", _device_array(col.data(), dtype, offset, offset + n), None, validity)
