"""Arrow types on the device: the pylibcudf DataType that holds each, and back."""

from __future__ import annotations

from decimal import Context
from typing import TYPE_CHECKING

import pyarrow as pa

from fallback_cpu.types import is_string
from planner.errors import ExecutionError

if TYPE_CHECKING:
    import pylibcudf as plc
else:
    from gpu_exec.cudf.lazy import plc


_MAX_DIGITS = 38  # DECIMAL128 holds every 38-digit value (and a little more: 2**127 ~ 1.7e38)
_DECIMAL_CONTEXT = Context(prec=100)  # quantizing 38-digit literals needs more than the default 28
_INT32_MAX = 2**31 - 1
_INT_DIGITS = {8: 3, 16: 5, 32: 10, 64: 19}  # decimal digits of the widest value of an integer type


def _dtype(type_id: plc.TypeId, scale: int = 0) -> plc.DataType:
    return plc.DataType(type_id, scale)


def _bool8() -> plc.DataType:
    return _dtype(plc.TypeId.BOOL8)


def _int32() -> plc.DataType:
    return _dtype(plc.TypeId.INT32)


def _int64() -> plc.DataType:
    return _dtype(plc.TypeId.INT64)


def _float64() -> plc.DataType:
    return _dtype(plc.TypeId.FLOAT64)


def _decimal(frac: int) -> plc.DataType:
    """DECIMAL128 with ``frac`` fractional digits: libcudf's scale is the negated Arrow scale
    (NOTES.md, 'Decimal scales')."""
    return _dtype(plc.TypeId.DECIMAL128, -frac)


def _device_type(t: pa.DataType) -> plc.DataType:
    """The pylibcudf type that holds an Arrow type on the device (see the module docstring)."""
    if pa.types.is_decimal(t):
        if t.precision > _MAX_DIGITS:
            raise ExecutionError(f"{t} has more digits than the GPU's DECIMAL128 holds")
        return _decimal(t.scale)
    if is_string(t):
        return _dtype(plc.TypeId.STRING)
    if pa.types.is_dictionary(t):
        return _device_type(t.value_type)
    if pa.types.is_null(t):
        return _dtype(plc.TypeId.INT8)
    if pa.types.is_date32(t):
        return _dtype(plc.TypeId.TIMESTAMP_DAYS)
    if pa.types.is_date64(t):
        return _dtype(plc.TypeId.TIMESTAMP_MILLISECONDS)
    if pa.types.is_timestamp(t):
        return plc.DataType.from_arrow(pa.timestamp(t.unit))  # the timezone stays in the label
    if pa.types.is_interval(t):
        raise ExecutionError(f"{t} columns are not supported on the GPU (intervals are literals only)")
    return plc.DataType.from_arrow(t)


def _arrow_label(dtype: plc.DataType) -> pa.DataType:
    """The Arrow type a raw kernel result stands for (decimals at full precision)."""
    tid = dtype.id()
    if tid in (plc.TypeId.DECIMAL32, plc.TypeId.DECIMAL64, plc.TypeId.DECIMAL128):
        return pa.decimal128(_MAX_DIGITS, max(-dtype.scale(), 0))
    if tid == plc.TypeId.STRING:
        return pa.string()
    if tid == plc.TypeId.TIMESTAMP_DAYS:
        return pa.date32()
    return dtype.to_arrow()


def _frac(col: plc.Column | plc.Scalar) -> int:
    """Fractional digits of a DECIMAL128 column or scalar."""
    return -col.type().scale()


def _digits(t: pa.DataType) -> int:
    """Most decimal digits an unscaled value of ``t`` (decimal or integer) can have."""
    if pa.types.is_decimal(t):
        return int(t.precision)
    if pa.types.is_boolean(t):
        return 1
    if pa.types.is_unsigned_integer(t) and t.bit_width == 64:
        return 20
    return _INT_DIGITS[t.bit_width]


def _is_float(dtype: plc.DataType) -> bool:
    return dtype.id() in (plc.TypeId.FLOAT32, plc.TypeId.FLOAT64)
