"""The simulator's core: libcudf types ↔ Arrow types, simulated columns ↔ Arrow arrays, and the
seeded scrambling of orders libcudf does not promise.

A simulated column stores exactly what a libcudf column stores — a data buffer in libcudf's layout
(BOOL8 one byte per row, DECIMAL32/64/128 as 4/8/16-byte unscaled integers, dates as int32 days,
strings as chars + an INT32 offsets child), a null bitmask, a row offset into both — in simulated
device memory (``rmm``), so reinterpreting buffers, views and sizes behave as on a device. Every
operation reads its inputs as Arrow arrays of their *value type* (``value_type``: decimals as
decimal128(38, −scale), BOOL8 as bool, TIMESTAMP_DAYS as date32, DURATION_DAYS as int32), computes
with pyarrow/numpy, and writes a new column of the libcudf type it returns.
"""

from __future__ import annotations

import os
import random
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pylibcudf.types import DataType, TypeId

if TYPE_CHECKING:
    from pylibcudf.column import Column

__all__ = ["value_type", "datatype_from_arrow", "arrow_type_of", "column_to_arrow", "column_from_arrow",
           "scramble", "is_decimal", "is_integer", "is_floating", "is_timestamp", "is_duration",
           "storage_dtype", "INTEGER_IDS", "FLOAT_IDS", "DECIMAL_IDS", "TIMESTAMP_IDS", "DURATION_IDS"]

INTEGER_IDS = frozenset({TypeId.INT8, TypeId.INT16, TypeId.INT32, TypeId.INT64,
                         TypeId.UINT8, TypeId.UINT16, TypeId.UINT32, TypeId.UINT64})
FLOAT_IDS = frozenset({TypeId.FLOAT32, TypeId.FLOAT64})
DECIMAL_IDS = frozenset({TypeId.DECIMAL32, TypeId.DECIMAL64, TypeId.DECIMAL128})
TIMESTAMP_IDS = frozenset({TypeId.TIMESTAMP_DAYS, TypeId.TIMESTAMP_SECONDS, TypeId.TIMESTAMP_MILLISECONDS,
                           TypeId.TIMESTAMP_MICROSECONDS, TypeId.TIMESTAMP_NANOSECONDS})
DURATION_IDS = frozenset({TypeId.DURATION_DAYS, TypeId.DURATION_SECONDS, TypeId.DURATION_MILLISECONDS,
                          TypeId.DURATION_MICROSECONDS, TypeId.DURATION_NANOSECONDS})

_UNITS = {TypeId.TIMESTAMP_SECONDS: "s", TypeId.TIMESTAMP_MILLISECONDS: "ms",
          TypeId.TIMESTAMP_MICROSECONDS: "us", TypeId.TIMESTAMP_NANOSECONDS: "ns",
          TypeId.DURATION_SECONDS: "s", TypeId.DURATION_MILLISECONDS: "ms",
          TypeId.DURATION_MICROSECONDS: "us", TypeId.DURATION_NANOSECONDS: "ns"}
_PLAIN = {TypeId.INT8: pa.int8(), TypeId.INT16: pa.int16(), TypeId.INT32: pa.int32(), TypeId.INT64: pa.int64(),
          TypeId.UINT8: pa.uint8(), TypeId.UINT16: pa.uint16(), TypeId.UINT32: pa.uint32(),
          TypeId.UINT64: pa.uint64(), TypeId.FLOAT32: pa.float32(), TypeId.FLOAT64: pa.float64(),
          TypeId.BOOL8: pa.bool_(), TypeId.TIMESTAMP_DAYS: pa.date32(), TypeId.DURATION_DAYS: pa.int32(),
          TypeId.STRING: pa.string(), TypeId.EMPTY: pa.null()}
_STORAGE = {TypeId.INT8: np.int8, TypeId.INT16: np.int16, TypeId.INT32: np.int32, TypeId.INT64: np.int64,
            TypeId.UINT8: np.uint8, TypeId.UINT16: np.uint16, TypeId.UINT32: np.uint32,
            TypeId.UINT64: np.uint64, TypeId.FLOAT32: np.float32, TypeId.FLOAT64: np.float64,
            TypeId.BOOL8: np.uint8, TypeId.TIMESTAMP_DAYS: np.int32, TypeId.DURATION_DAYS: np.int32,
            TypeId.DECIMAL32: np.int32, TypeId.DECIMAL64: np.int64}
_DECIMAL_WIDTH = {TypeId.DECIMAL32: (pa.decimal32, 9), TypeId.DECIMAL64: (pa.decimal64, 18),
                  TypeId.DECIMAL128: (pa.decimal128, 38)}


def is_decimal(dtype: DataType) -> bool:
    return dtype.id() in DECIMAL_IDS


def is_integer(dtype: DataType) -> bool:
    return dtype.id() in INTEGER_IDS


def is_floating(dtype: DataType) -> bool:
    return dtype.id() in FLOAT_IDS


def is_timestamp(dtype: DataType) -> bool:
    return dtype.id() in TIMESTAMP_IDS


def is_duration(dtype: DataType) -> bool:
    return dtype.id() in DURATION_IDS


def storage_dtype(dtype: DataType) -> Any:
    """The numpy type of one stored element (timestamps and durations: their integer counts)."""
    tid = dtype.id()
    if tid in _STORAGE:
        return _STORAGE[tid]
    if tid in _UNITS:
        return np.int64
    raise RuntimeError(f"{dtype} has no fixed-width storage")


def value_type(dtype: DataType) -> pa.DataType:
    """The Arrow type the simulator computes a libcudf type's values in."""
    tid = dtype.id()
    if tid in DECIMAL_IDS:
        return pa.decimal128(38, -dtype.scale())
    if tid in TIMESTAMP_IDS and tid != TypeId.TIMESTAMP_DAYS:
        return pa.timestamp(_UNITS[tid])
    if tid in DURATION_IDS and tid != TypeId.DURATION_DAYS:
        return pa.duration(_UNITS[tid])
    if tid in _PLAIN:
        return _PLAIN[tid]
    raise TypeError(f"the simulator does not model {dtype}")


def datatype_from_arrow(t: Any) -> DataType:
    """``DataType.from_arrow``: Arrow's scale negated, precision and time zone dropped, every
    string type one STRING; TypeError for what libcudf cannot hold."""
    if not isinstance(t, pa.DataType):
        raise TypeError(f"expected a pyarrow DataType, got {type(t).__name__}")
    if pa.types.is_decimal(t):
        if t.bit_width == 256:
            raise TypeError("Unsupported type: decimal256 (libcudf has no 256-bit decimal)")
        tid = {32: TypeId.DECIMAL32, 64: TypeId.DECIMAL64, 128: TypeId.DECIMAL128}[t.bit_width]
        return DataType(tid, -t.scale)
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return DataType(TypeId.STRING)
    if pa.types.is_timestamp(t):
        return DataType({"s": TypeId.TIMESTAMP_SECONDS, "ms": TypeId.TIMESTAMP_MILLISECONDS,
                         "us": TypeId.TIMESTAMP_MICROSECONDS, "ns": TypeId.TIMESTAMP_NANOSECONDS}[t.unit])
    if pa.types.is_duration(t):
        return DataType({"s": TypeId.DURATION_SECONDS, "ms": TypeId.DURATION_MILLISECONDS,
                         "us": TypeId.DURATION_MICROSECONDS, "ns": TypeId.DURATION_NANOSECONDS}[t.unit])
    if pa.types.is_dictionary(t):
        return DataType(TypeId.DICTIONARY32)
    for tid, plain in _PLAIN.items():
        if tid not in (TypeId.DURATION_DAYS,) and t == plain:
            return DataType(tid)
    raise TypeError(f"Unsupported type: {t} (libcudf cannot hold it)")


def arrow_type_of(dtype: DataType, precision: int | None = None, timezone: str | None = None) -> pa.DataType:
    """The Arrow type ``to_arrow`` produces: decimals keep their width (precision from the
    metadata, else the width's maximum), TIMESTAMP_DAYS is date32."""
    tid = dtype.id()
    if tid in DECIMAL_IDS:
        make, most = _DECIMAL_WIDTH[tid]
        return make(precision or most, -dtype.scale())
    if tid in TIMESTAMP_IDS and tid != TypeId.TIMESTAMP_DAYS:
        return pa.timestamp(_UNITS[tid], tz=timezone or None)
    if tid == TypeId.DURATION_DAYS:
        raise TypeError("Unsupported type: DURATION_DAYS has no Arrow equivalent")
    return value_type(dtype)


# ---- columns ↔ Arrow ---------------------------------------------------------------------------


def _valid_flags(col: Column) -> np.ndarray | None:
    """One bool per row (True = valid), or None when the column has no nulls."""
    if col.null_count() == 0 or col.null_mask() is None:
        return None
    bits = np.unpackbits(col.null_mask().host(), bitorder="little")
    return bits[col.offset():col.offset() + col.size()].astype(bool)


def column_to_arrow(col: Column) -> pa.Array:
    """The column's values as an Arrow array of ``value_type(col.type())``."""
    from pylibcudf.column import Column  # noqa: F401 — the type of ``col``

    dtype, n, off = col.type(), col.size(), col.offset()
    tid = dtype.id()
    valid = _valid_flags(col)
    mask = None if valid is None else ~valid
    if tid == TypeId.EMPTY:
        return pa.nulls(n)
    if tid == TypeId.STRING:
        if n == 0:
            return pa.array([], pa.string())
        offsets = np.frombuffer(col.child(0).data().host(), dtype=np.int32)[off:off + n + 1]
        chars = col.data().host() if col.data() is not None else np.zeros(0, np.uint8)
        start, end = int(offsets[0]), int(offsets[-1])
        arr = pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer((offsets - start).astype(np.int32).tobytes()),
                                                     pa.py_buffer(chars[start:end].tobytes())])
        return arr if mask is None else pc.if_else(pa.array(mask), pa.nulls(n, pa.string()), arr)
    data = col.data().host() if col.data() is not None else np.zeros(0, np.uint8)
    if tid == TypeId.DECIMAL128:
        raw = data[off * 16:(off + n) * 16]
        arr = pa.Array.from_buffers(pa.decimal128(38, -dtype.scale()), n, [None, pa.py_buffer(raw.tobytes())])
        return arr if mask is None else pc.if_else(pa.array(mask), pa.nulls(n, arr.type), arr)
    values = np.frombuffer(data, dtype=storage_dtype(dtype))[off:off + n]
    if tid in (TypeId.DECIMAL32, TypeId.DECIMAL64):
        make, most = _DECIMAL_WIDTH[tid]
        arr = pa.Array.from_buffers(make(most, -dtype.scale()), n, [None, pa.py_buffer(values.tobytes())])
        arr = arr.cast(pa.decimal128(38, -dtype.scale()))
        return arr if mask is None else pc.if_else(pa.array(mask), pa.nulls(n, arr.type), arr)
    if tid == TypeId.BOOL8:
        return pa.array(values != 0, type=pa.bool_(), mask=mask)
    target = value_type(dtype)
    plain = pa.array(values, mask=mask)
    return plain if plain.type == target else plain.view(target) if mask is None else \
        pa.Array.from_buffers(target, n, plain.buffers()[:2], null_count=plain.null_count)


def column_from_arrow(arr: pa.Array | pa.ChunkedArray, dtype: DataType) -> Column:
    """A new column of ``dtype`` (fresh buffers, offset 0) holding ``arr``'s values, which must
    convert to ``value_type(dtype)`` without loss (the simulator raises where libcudf would
    silently wrap: a decimal too wide for DECIMAL32/64 is an OverflowError)."""
    from pylibcudf.column import Column
    from pylibcudf.gpumemoryview import gpumemoryview
    from rmm._allocation import DeviceAllocation

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks else pa.array([], arr.type)
    tid = dtype.id()
    target = value_type(dtype)
    if arr.type != target:
        arr = arr.cast(target)
    n, null_count = len(arr), arr.null_count

    def device(data: np.ndarray) -> gpumemoryview:
        return gpumemoryview(DeviceAllocation(np.ascontiguousarray(data).view(np.uint8).reshape(-1)))

    mask = None
    if null_count:
        flags = np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
        packed = np.packbits(flags, bitorder="little")
        mask = device(np.concatenate([packed, np.zeros((-len(packed)) % 64, np.uint8)]))
    if tid == TypeId.EMPTY:
        return Column(dtype, n, None, mask, null_count, 0, [])
    if tid == TypeId.STRING:
        filled = arr.fill_null("") if null_count else arr
        if n:
            offsets = np.frombuffer(filled.buffers()[1], dtype=np.int32)[filled.offset:filled.offset + n + 1]
            chars = np.frombuffer(filled.buffers()[2] or b"", dtype=np.uint8)[int(offsets[0]):int(offsets[-1])]
            offsets = offsets - offsets[0]
        else:
            offsets, chars = np.zeros(1, np.int32), np.zeros(0, np.uint8)
        offsets_col = Column(DataType(TypeId.INT32), n + 1, device(offsets.astype(np.int32)), None, 0, 0, [])
        return Column(dtype, n, device(chars.copy()), mask, null_count, 0, [offsets_col])
    if tid == TypeId.BOOL8:
        data = np.asarray(arr.fill_null(False).to_numpy(zero_copy_only=False), dtype=np.uint8)
        return Column(dtype, n, device(data), mask, null_count, 0, [])
    if tid in DECIMAL_IDS:
        if tid != TypeId.DECIMAL128:
            make, most = _DECIMAL_WIDTH[tid]
            try:
                arr = arr.cast(make(most, -dtype.scale()))
            except pa.ArrowInvalid as exc:
                raise OverflowError(f"a value does not fit {dtype}: {exc} (libcudf would wrap silently)") from None
        width = arr.type.bit_width // 8
        raw = np.frombuffer(arr.buffers()[1], dtype=np.uint8)[arr.offset * width:(arr.offset + n) * width]
        return Column(dtype, n, device(raw.copy()), mask, null_count, 0, [])
    storage = storage_dtype(dtype)
    plain = arr.view(pa.from_numpy_dtype(storage)) if arr.type != pa.from_numpy_dtype(storage) else arr
    values = np.frombuffer(plain.buffers()[1], dtype=storage)[plain.offset:plain.offset + n] if n \
        else np.zeros(0, storage)
    return Column(dtype, n, device(values.copy()), mask, null_count, 0, [])


# ---- orders libcudf does not promise -----------------------------------------------------------

_rng = random.Random(int(os.environ.get("GPU_EXEC_SIM_SEED", "20261204")))


def scramble(n: int) -> np.ndarray:
    """A seeded random permutation of ``range(n)``: applied wherever libcudf leaves the order of
    its output unspecified (hash group-by, join maps, KEEP_ANY distinct, partition contents), so
    code that relies on an accidental order fails on the simulator."""
    order = np.arange(n, dtype=np.int64)
    if n > 1:
        rng = np.random.default_rng(_rng.getrandbits(63))
        rng.shuffle(order)
    return order
