"""Simulated ``pylibcudf.unary`` (pylibcudf 26.10): casts, unary operators, null and NaN tests.

Models libcudf's ``cpp/src/unary/cast_ops.cu``, ``math_ops.cu``, ``null_ops.cu`` and
``nan_ops.cu``:

- ``cast`` supports fixed-width types only, and not every pair: numeric (bool included) ↔
  numeric, numeric ↔ decimal, decimal ↔ decimal, timestamp ↔ timestamp, timestamp ↔ duration,
  duration ↔ duration, numeric ↔ duration. Timestamp ↔ numeric, anything ↔ STRING and decimal ↔
  chrono raise RuntimeError (``is_supported_cast`` is False). Ints wrap; float → int truncates
  toward zero (NaN/±inf/out of range is undefined behaviour: raised here); a decimal rescale to
  fewer fractional digits and decimal → int truncate toward zero; float → decimal truncates (after
  libcudf's half-ulp nudge) and NaN/inf become NULL; timestamp/duration unit changes floor.
- ``unary_operation``: math ops keep the input type (SQRT of INT32 is INT32), NEGATE needs a
  signed or duration type, NOT gives BOOL8; decimals support only CEIL, FLOOR, ABS, NEGATE.
- ``is_null``/``is_valid``: BOOL8 without nulls. ``is_nan`` is false and ``is_not_nan`` true on
  NULL rows, both without nulls; non-float input raises RuntimeError.
- ``bit_cast``: a zero-copy view as another type of the same storage width.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

import numpy as np

from pylibcudf import _fixed_width as fw
from pylibcudf import _sim
from pylibcudf.column import Column
from pylibcudf.types import DataType, TypeId, size_of

__all__ = ["UnaryOperator", "unary_operation", "is_null", "is_valid", "cast", "bit_cast", "is_nan",
           "is_not_nan", "is_supported_cast"]


class UnaryOperator(IntEnum):
    """``cudf::unary_operator`` (cpp/include/cudf/unary.hpp)."""

    SIN = 0
    COS = 1
    TAN = 2
    ARCSIN = 3
    ARCCOS = 4
    ARCTAN = 5
    SINH = 6
    COSH = 7
    TANH = 8
    ARCSINH = 9
    ARCCOSH = 10
    ARCTANH = 11
    EXP = 12
    LOG = 13
    SQRT = 14
    CBRT = 15
    CEIL = 16
    FLOOR = 17
    ABS = 18
    RINT = 19
    BIT_COUNT = 20
    BIT_INVERT = 21
    NOT = 22
    NEGATE = 23


_NUMERIC = ("bool", "int", "float")


def _check_column(x: Any) -> Column:
    if not isinstance(x, Column):
        raise TypeError(f"expected a Column, got {type(x).__name__}")
    return x


def is_supported_cast(from_: DataType, to: DataType) -> bool:
    """libcudf's ``is_supported_cast`` (cast_ops.cu): which type pairs ``cast`` converts."""
    a, b = fw.kind(from_), fw.kind(to)
    if a in ("string", "other") or b in ("string", "other"):
        return False
    if a == "decimal" or b == "decimal":
        return (a == "decimal" and b in (*_NUMERIC, "decimal")) or (a in _NUMERIC and b == "decimal")
    if (a == "timestamp" and b in _NUMERIC) or (b == "timestamp" and a in _NUMERIC):
        return False
    return True


def _unsupported_cast_message(from_: DataType, to: DataType) -> str:
    a, b = fw.kind(from_), fw.kind(to)
    if b in ("string", "other"):
        return "Unary cast type must be fixed-width."
    if a in ("string", "other"):
        return "Column type must be numeric or chrono or decimal32/64/128"
    if a == "decimal":
        return "Currently only decimal32/64/128 to floating point/integral is supported"
    if a == "timestamp" and b in _NUMERIC:
        return "Timestamps can be created only from duration"
    return "Timestamps cannot be converted to numeric without converting it to a duration"


def cast(input: Column, data_type: DataType, stream: Any = None, mr: Any = None) -> Column:
    col = _check_column(input)
    src = col.type()
    if not is_supported_cast(src, data_type):
        raise RuntimeError(_unsupported_cast_message(src, data_type))
    valid = fw.valid_flags(col)
    has_nulls = col.null_count() > 0
    keep = valid if has_nulls else None
    vals = fw.values(col)
    a, b = fw.kind(src), fw.kind(data_type)
    if a == "decimal" and b == "decimal":
        ints = np.where(valid, vals, 0)
        return fw.make_column(data_type, fw.rescale(ints, src.scale(), data_type.scale()), keep)
    if a == "decimal":
        return fw.make_column(data_type, fw.from_fixed(vals, src.scale(), valid, data_type), keep)
    if b == "decimal":
        if a == "float":
            finite = valid & np.isfinite(vals)  # NaN and ±inf become NULL (is_convertible_floating_point)
            out_valid = finite if not finite.all() else None
            return fw.make_column(data_type, fw.to_fixed(vals, finite, a, data_type.scale()), out_valid)
        return fw.make_column(data_type, fw.to_fixed(vals, valid, a, data_type.scale()), keep)
    if a in ("timestamp", "duration") and b in ("timestamp", "duration"):
        return fw.make_column(data_type, fw.convert_ticks(vals, src.id(), data_type.id()), keep)
    if a == "duration":  # duration → numeric: the tick count
        return fw.make_column(data_type, fw.static_cast(vals, valid, "int", data_type), keep)
    if b == "duration":  # numeric → duration: the count, static_cast to the rep
        rep = DataType(TypeId.INT32 if data_type.id() == TypeId.DURATION_DAYS else TypeId.INT64)
        return fw.make_column(data_type, fw.static_cast(vals, valid, a, rep), keep)
    return fw.make_column(data_type, fw.static_cast(vals, valid, a, data_type), keep)


def bit_cast(input: Column, data_type: DataType, stream: Any = None, mr: Any = None) -> Column:
    """The same buffers read as ``data_type`` (``cudf::bit_cast``: same storage size)."""
    col = _check_column(input)
    try:
        same = size_of(col.type()) == size_of(data_type)
    except RuntimeError:
        same = False
    if not same:
        raise RuntimeError(f"types are not bit-castable: {col.type()} → {data_type}")
    return Column(data_type, col.size(), col.data(), col.null_mask(), col.null_count(), col.offset(),
                  col.children())


def is_null(input: Column, stream: Any = None, mr: Any = None) -> Column:
    col = _check_column(input)
    return fw.make_column(DataType(TypeId.BOOL8), ~fw.valid_flags(col))


def is_valid(input: Column, stream: Any = None, mr: Any = None) -> Column:
    col = _check_column(input)
    return fw.make_column(DataType(TypeId.BOOL8), fw.valid_flags(col))


def _nan_flags(col: Column) -> tuple[np.ndarray, np.ndarray]:
    if not _sim.is_floating(col.type()):
        raise RuntimeError("NAN is not supported in a Non-floating point type column")
    vals, valid = fw.values(col), fw.valid_flags(col)
    return np.isnan(vals), valid


def is_nan(input: Column, stream: Any = None, mr: Any = None) -> Column:
    nan, valid = _nan_flags(_check_column(input))
    return fw.make_column(DataType(TypeId.BOOL8), nan & valid)


def is_not_nan(input: Column, stream: Any = None, mr: Any = None) -> Column:
    nan, valid = _nan_flags(_check_column(input))
    return fw.make_column(DataType(TypeId.BOOL8), ~valid | ~nan)


# ---- unary_operation ----------------------------------------------------------------------------

_MATH = {
    UnaryOperator.SIN: np.sin, UnaryOperator.COS: np.cos, UnaryOperator.TAN: np.tan,
    UnaryOperator.ARCSIN: np.arcsin, UnaryOperator.ARCCOS: np.arccos, UnaryOperator.ARCTAN: np.arctan,
    UnaryOperator.SINH: np.sinh, UnaryOperator.COSH: np.cosh, UnaryOperator.TANH: np.tanh,
    UnaryOperator.ARCSINH: np.arcsinh, UnaryOperator.ARCCOSH: np.arccosh, UnaryOperator.ARCTANH: np.arctanh,
    UnaryOperator.EXP: np.exp, UnaryOperator.LOG: np.log, UnaryOperator.SQRT: np.sqrt,
    UnaryOperator.CBRT: np.cbrt, UnaryOperator.CEIL: np.ceil, UnaryOperator.FLOOR: np.floor,
}


def _decimal_unary(col: Column, op: UnaryOperator) -> Column:
    dtype = col.type()
    valid = fw.valid_flags(col)
    ints = np.where(valid, fw.values(col), 0)
    keep = valid if col.null_count() else None
    if op in (UnaryOperator.CEIL, UnaryOperator.FLOOR):
        if dtype.scale() >= 0:
            return fw.make_column(dtype, ints, keep)
        unit = np.full(len(ints), 10 ** -dtype.scale(), dtype=object)
        down = fw.tdiv(ints, unit) * unit  # toward zero, at the input scale
        if op is UnaryOperator.CEIL:
            out = np.where((ints > 0) & (down != ints), down + unit, down)
        else:
            out = np.where((ints < 0) & (down != ints), down - unit, down)
        return fw.make_column(dtype, out, keep)
    if op is UnaryOperator.ABS:
        return fw.make_column(dtype, np.where(ints < 0, -ints, ints), keep)
    if op is UnaryOperator.NEGATE:
        return fw.make_column(dtype, -ints, keep)
    raise RuntimeError("Unsupported fixed_point unary operation")


def unary_operation(input: Column, op: UnaryOperator, stream: Any = None, mr: Any = None) -> Column:
    col = _check_column(input)
    if not isinstance(op, UnaryOperator):
        raise TypeError(f"op must be a UnaryOperator, not {type(op).__name__}")
    dtype = col.type()
    k = fw.kind(dtype)
    if k == "decimal":
        return _decimal_unary(col, op)
    if col.size() == 0:  # libcudf returns before checking the type
        if op is UnaryOperator.NOT:
            return fw.make_column(DataType(TypeId.BOOL8), np.zeros(0, bool))
        if op is UnaryOperator.BIT_COUNT:
            return fw.make_column(DataType(TypeId.INT32), np.zeros(0, np.int32))
        return fw.make_column(dtype, np.zeros(0, dtype=_sim.storage_dtype(dtype))) if k not in (
            "string", "other") else col
    valid = fw.valid_flags(col)
    keep = valid if col.null_count() else None
    arithmetic = k in _NUMERIC
    if op is UnaryOperator.NOT:
        if not arithmetic:
            raise RuntimeError("Unsupported datatype for operation")
        return fw.make_column(DataType(TypeId.BOOL8), fw.values(col) == 0, keep)
    if op is UnaryOperator.NEGATE:
        signed = (k == "int" and np.issubdtype(_sim.storage_dtype(dtype), np.signedinteger)) or k in (
            "float", "duration")
        if not signed:
            raise RuntimeError("Unsupported data type for this operation")
        with np.errstate(over="ignore"):
            return fw.make_column(dtype, -fw.values(col), keep)  # INT_MIN stays INT_MIN (wraps)
    if op in (UnaryOperator.BIT_INVERT, UnaryOperator.BIT_COUNT):
        if k not in ("int", "bool"):
            raise RuntimeError("Unsupported datatype for operation")
        vals = fw.values(col)
        if op is UnaryOperator.BIT_INVERT:
            return fw.make_column(dtype, ~vals, keep)
        unsigned = vals.astype(np.uint64) if k == "int" else vals.astype(np.uint64)
        if k == "int":
            width = np.dtype(_sim.storage_dtype(dtype)).itemsize * 8
            unsigned = unsigned & np.uint64((1 << width) - 1 if width < 64 else 2**64 - 1)
        counts = np.array([bin(int(v)).count("1") for v in unsigned], dtype=np.int32)
        return fw.make_column(DataType(TypeId.INT32), counts, keep)
    if not arithmetic:
        raise RuntimeError("Unsupported data type for this operation")
    vals = fw.values(col)
    if op is UnaryOperator.RINT:
        if k != "float":
            raise RuntimeError("Unsupported data type for this operation")
        return fw.make_column(dtype, np.rint(vals), keep)
    if op is UnaryOperator.ABS:
        with np.errstate(over="ignore"):
            return fw.make_column(dtype, np.abs(vals) if k != "bool" else vals, keep)
    if op in _MATH:
        # The device computes in the input type: an integer result is truncated back into it.
        with np.errstate(all="ignore"):
            result = _MATH[op](vals.astype(np.float64) if k != "float" else vals)
        if k == "float":
            return fw.make_column(dtype, result.astype(vals.dtype), keep)
        return fw.make_column(dtype, fw.static_cast(result, valid, "float", dtype), keep)
    raise RuntimeError(f"Undefined unary operation {op!r}")
