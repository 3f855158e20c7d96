"""Simulated ``pylibcudf.binaryop`` (pylibcudf 26.10): ``binary_operation`` and
``is_supported_operation`` with libcudf's compiled binary-op semantics (``cpp/src/binaryop/``).

What it models (type rules in ``_binop_types``):

- The output type takes part in the arithmetic: operands are converted to the common type of
  (output, lhs, rhs) before the operator runs, so INT32 DIV INT32 with a FLOAT64 output is a
  float division and with an INT32/INT64 output C++ integer division (truncation toward zero).
  Integer ADD/SUB/MUL wrap. MOD is C++ ``%`` (sign of the dividend; ``fmod`` for floats).
- Integer division or modulo by zero, and MIN / -1, are undefined behaviour on the device
  (garbage values): the simulator raises RuntimeError instead.
- Comparisons need a BOOL8 output and are NULL when either side is NULL; NULL_EQUALS /
  NULL_NOT_EQUALS are never NULL; LOGICAL_AND/OR are NULL when either side is (not Kleene);
  NULL_LOGICAL_AND/OR follow Kleene logic; NULL_MAX/NULL_MIN skip a NULL side.
- Decimals: both decimal operands must have the same width (else no common type: unsupported);
  ADD/SUB/MOD/comparisons work at min(s1, s2), MUL at s1 + s2, DIV at s1 − s2 (integer division of
  the unscaled values), then the result is rescaled to the output's scale — truncated toward zero
  if the output has fewer fractional digits. An int operand is a scale-0 decimal; a float operand
  is truncated to a scale-0 decimal (hence libcudf's wrong decimal-vs-float comparisons).
  Overflow of the width raises OverflowError (libcudf wraps silently).
- Timestamps: timestamp ± duration (unit of the finer side; the output must be a timestamp at
  least that fine), timestamp − timestamp → duration, comparisons across units.
- Unsupported combinations (string + int, DECIMAL64 + DECIMAL128, ...) raise TypeError, as
  libcudf's ``data_type_error``.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pylibcudf import _binop_types as rules
from pylibcudf import _fixed_width as fw
from pylibcudf import _sim
from pylibcudf.column import Column
from pylibcudf.scalar import Scalar
from pylibcudf.types import DataType, TypeId

__all__ = ["BinaryOperator", "binary_operation", "is_supported_operation"]


class BinaryOperator(IntEnum):
    """``cudf::binary_operator`` (cpp/include/cudf/binaryop.hpp)."""

    ADD = 0
    SUB = 1
    MUL = 2
    DIV = 3
    TRUE_DIV = 4
    FLOOR_DIV = 5
    MOD = 6
    PMOD = 7
    PYMOD = 8
    POW = 9
    INT_POW = 10
    LOG_BASE = 11
    ATAN2 = 12
    SHIFT_LEFT = 13
    SHIFT_RIGHT = 14
    SHIFT_RIGHT_UNSIGNED = 15
    BITWISE_AND = 16
    BITWISE_OR = 17
    BITWISE_XOR = 18
    LOGICAL_AND = 19
    LOGICAL_OR = 20
    EQUAL = 21
    NOT_EQUAL = 22
    LESS = 23
    GREATER = 24
    LESS_EQUAL = 25
    GREATER_EQUAL = 26
    NULL_EQUALS = 27
    NULL_MAX = 28
    NULL_MIN = 29
    NULL_NOT_EQUALS = 30
    GENERIC_BINARY = 31
    NULL_LOGICAL_AND = 32
    NULL_LOGICAL_OR = 33
    INVALID_BINARY = 34


def is_supported_operation(out: DataType, lhs: DataType, rhs: DataType, op: BinaryOperator) -> bool:
    return rules.result_kind(out, lhs, rhs, BinaryOperator(op).name) is not None


_CMP = {"EQUAL": np.equal, "NOT_EQUAL": np.not_equal, "LESS": np.less, "GREATER": np.greater,
        "LESS_EQUAL": np.less_equal, "GREATER_EQUAL": np.greater_equal,
        "NULL_EQUALS": np.equal, "NULL_NOT_EQUALS": np.not_equal}


def binary_operation(lhs: Column | Scalar, rhs: Column | Scalar, op: BinaryOperator, output_type: DataType,
                     stream: Any = None, mr: Any = None) -> Column:
    if not (isinstance(lhs, (Column, Scalar)) and isinstance(rhs, (Column, Scalar))) or (
            isinstance(lhs, Scalar) and isinstance(rhs, Scalar)):
        raise ValueError(f"Invalid arguments {lhs} and {rhs}")
    if not isinstance(output_type, DataType):
        raise TypeError(f"output_type must be a DataType, not {type(output_type).__name__}")
    name = BinaryOperator(op).name
    if isinstance(lhs, Column) and isinstance(rhs, Column) and lhs.size() != rhs.size():
        raise ValueError("Column sizes don't match")
    n = lhs.size() if isinstance(lhs, Column) else rhs.size()
    lt, rt = lhs.type(), rhs.type()
    result = rules.result_kind(output_type, lt, rt, name)
    if result is None:
        raise TypeError(f"Unsupported operator for these types: {lt} {name} {rt} → {output_type}")
    if (fw.kind(lt) == "decimal" or fw.kind(rt) == "decimal") and name not in rules.ARITHMETIC | rules.COMPARISONS:
        raise RuntimeError("Unsupported fixed_point binary operation")
    if result == "string":
        return _string_null_min_max(lhs, rhs, name, n)
    if fw.kind(lt) == "string":
        return _string_compare(lhs, rhs, name, n)
    _, a, va = fw.operand(lhs, n)
    _, b, vb = fw.operand(rhs, n)
    compute = rules.compute_type(output_type, lt, rt)
    if compute is not None and fw.kind(compute) == "decimal":
        vals, valid = _decimal_op(name, (lt, a, va), (rt, b, vb), compute, output_type)
    elif compute is not None and fw.kind(compute) in ("bool", "int", "float"):
        vals, kind, valid = _numeric_op(name, a, b, compute, va, vb)
        if kind != "bool" or output_type.id() != TypeId.BOOL8:
            vals = _write_numeric(vals, kind, valid, output_type)
    else:
        vals, valid = _chrono_op(name, (lt, a, va), (rt, b, vb), output_type)
    return fw.make_column(output_type, vals, None if valid.all() else valid)


def _null_aware_validity(name: str, va: np.ndarray, vb: np.ndarray, tx: np.ndarray | None = None,
                         ty: np.ndarray | None = None) -> np.ndarray:
    """Output validity: NULL_EQUALS/NULL_NOT_EQUALS never NULL; NULL_MAX/NULL_MIN NULL only when
    both sides are; Kleene AND/OR (``tx``/``ty``: the truth of each side); else either NULL."""
    if name in ("NULL_EQUALS", "NULL_NOT_EQUALS"):
        return np.ones(len(va), dtype=bool)
    if name in ("NULL_MAX", "NULL_MIN"):
        return va | vb
    if name == "NULL_LOGICAL_AND":  # (NULL, false) is false; any other NULL side is NULL
        return (va & vb) | (va & ~tx) | (vb & ~ty)
    if name == "NULL_LOGICAL_OR":  # (NULL, true) is true
        return (va & vb) | (va & tx) | (vb & ty)
    return va & vb


def _null_equals(name: str, eq: np.ndarray, va: np.ndarray, vb: np.ndarray) -> np.ndarray:
    same = np.where(va & vb, eq, ~va & ~vb).astype(bool)
    return same if name == "NULL_EQUALS" else ~same


# ---- bool / int / float -------------------------------------------------------------------------


def _int_guard(name: str, x: np.ndarray, y: np.ndarray, both: np.ndarray) -> None:
    zero = both & (y == 0)
    if zero.any():
        raise RuntimeError(f"integer {name} by zero {fw.UB}")
    if np.issubdtype(x.dtype, np.signedinteger):
        lo = np.iinfo(x.dtype).min
        if (both & (x == lo) & (y == -1)).any():
            raise RuntimeError(f"integer {name} of {lo} by -1 overflows {fw.UB}")


def _numeric_op(name: str, a: np.ndarray, b: np.ndarray, compute: DataType, va: np.ndarray,
                vb: np.ndarray) -> tuple[np.ndarray, str, np.ndarray]:
    """The operator applied in the common type ``compute``: (values, their kind, validity)."""
    k = fw.kind(compute)
    target = np.bool_ if k == "bool" else _sim.storage_dtype(compute)
    both = va & vb
    with np.errstate(all="ignore"):
        x, y = a.astype(target), b.astype(target)
    if name in _CMP:
        result = _CMP[name](x, y)
        if name in ("NULL_EQUALS", "NULL_NOT_EQUALS"):
            result = _null_equals(name, x == y, va, vb)
        return result, "bool", _null_aware_validity(name, va, vb)
    if name in rules.LOGICAL:
        tx, ty = x != 0, y != 0
        if name == "NULL_LOGICAL_AND":
            result = np.where(both, tx & ty, False)
        elif name == "NULL_LOGICAL_OR":
            result = np.where(both, tx | ty, True)
        else:
            result = (tx & ty) if name == "LOGICAL_AND" else (tx | ty)
        return result, "bool", _null_aware_validity(name, va, vb, tx, ty)
    if name in ("NULL_MAX", "NULL_MIN"):
        pick = (x > y) if name == "NULL_MAX" else (x < y)
        chosen = np.where(both, np.where(pick, x, y), np.where(va, x, y))
        return chosen, k, va | vb
    vals, kind = _arithmetic(name, x, y, k, target, both)
    return vals, kind, both


def _arithmetic(name: str, x: np.ndarray, y: np.ndarray, k: str, target: Any,
                both: np.ndarray) -> tuple[np.ndarray, str]:
    if k == "bool":  # bool arithmetic promotes to int
        x, y = x.astype(np.int32), y.astype(np.int32)
    elif k == "int" and np.dtype(target).itemsize < 4:
        x, y = x.astype(np.int32), y.astype(np.int32)
    floating = k == "float"
    safe_y = y if floating else np.where(both, y, 1).astype(y.dtype)
    with np.errstate(all="ignore"):
        if name == "ADD":
            return x + y, "float" if floating else "int"
        if name == "SUB":
            return x - y, "float" if floating else "int"
        if name == "MUL":
            return x * y, "float" if floating else "int"
        if name == "TRUE_DIV":
            return x.astype(np.float64) / y.astype(np.float64), "float"
        if name in ("POW", "LOG_BASE", "ATAN2"):
            fx, fy = x.astype(np.float64), y.astype(np.float64)
            fn = {"POW": np.power, "ATAN2": np.arctan2}.get(name)
            return (fn(fx, fy) if fn else np.log(fx) / np.log(fy)), "float"
        if floating:
            if name == "DIV":
                return x / y, "float"
            if name == "FLOOR_DIV":
                return np.floor(x / y), "float"
            if name == "MOD":
                return np.fmod(x, y), "float"
            if name == "PMOD":
                r = np.fmod(x, y)
                return np.where(r < 0, np.fmod(r + y, y), r), "float"
            if name == "PYMOD":
                fx, fy = x.astype(np.float64), y.astype(np.float64)
                return np.fmod(np.fmod(fx, fy) + fy, fy), "float"
            raise TypeError(f"{name} is not defined for floating-point operands")
        if name in ("DIV", "MOD", "FLOOR_DIV", "PMOD", "PYMOD"):
            _int_guard(name, x, y, both)
            if name == "DIV":
                return fw.tdiv(x, safe_y), "int"
            if name == "MOD":
                return np.fmod(x, safe_y), "int"
            if name == "FLOOR_DIV":
                return x // safe_y, "int"
            r = np.fmod(x, safe_y)
            if name == "PMOD":
                return np.where(r < 0, np.fmod(r + safe_y, safe_y), r), "int"
            return np.fmod(r + safe_y, safe_y), "int"
        if name == "INT_POW":
            out = np.where(y < 0, 0, np.power(x, np.maximum(y, 0)))
            return out.astype(x.dtype), "int"
        if name in ("BITWISE_AND", "BITWISE_OR", "BITWISE_XOR"):
            fn = {"BITWISE_AND": np.bitwise_and, "BITWISE_OR": np.bitwise_or, "BITWISE_XOR": np.bitwise_xor}[name]
            return fn(x, y), "int"
        if name.startswith("SHIFT_"):
            width = x.dtype.itemsize * 8
            if (both & ((y < 0) | (y >= width))).any():
                raise RuntimeError(f"shift by a count outside [0, {width}) {fw.UB}")
            count = np.where(both, y, 0).astype(x.dtype)
            if name == "SHIFT_LEFT":
                return np.left_shift(x, count), "int"
            if name == "SHIFT_RIGHT":
                return np.right_shift(x, count), "int"
            unsigned = x.view(np.dtype(f"u{x.dtype.itemsize}"))
            return np.right_shift(unsigned, count.astype(unsigned.dtype)), "int"
    raise TypeError(f"Unsupported operator {name}")


def _write_numeric(vals: np.ndarray, kind: str, valid: np.ndarray, out: DataType) -> np.ndarray:
    """A bool/int/float result written into the output type (``typed_casted_writer``)."""
    ko = fw.kind(out)
    if out.id() == TypeId.BOOL8:
        return np.asarray(vals) != 0
    if ko == "decimal":
        return fw.to_fixed(vals, valid, kind, out.scale())
    if ko == "duration":
        rep = DataType(TypeId.INT32 if out.id() == TypeId.DURATION_DAYS else TypeId.INT64)
        return fw.static_cast(vals, valid, kind, rep)
    return fw.static_cast(vals, valid, kind, out)


# ---- decimals -----------------------------------------------------------------------------------


def _as_fixed(dtype: DataType, vals: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, int]:
    """An operand in the decimal domain: (unscaled ints, scale)."""
    k = fw.kind(dtype)
    if k == "decimal":
        return np.where(valid, vals, 0), dtype.scale()
    if k == "float":  # convert_floating_to_fixed at scale 0 (truncation)
        return fw.to_fixed(vals, valid & np.isfinite(vals), "float", 0), 0
    return fw.to_fixed(vals, valid, k, 0), 0


def _check_width(ints: np.ndarray, valid: np.ndarray, width: TypeId, what: str) -> None:
    fw.check_decimal_width(np.where(valid, ints, 0), width, f"decimal {what}: ")


def _decimal_op(name: str, left: tuple[DataType, np.ndarray, np.ndarray],
                right: tuple[DataType, np.ndarray, np.ndarray], compute: DataType,
                out: DataType) -> tuple[np.ndarray, np.ndarray]:
    (lt, a, va), (rt, b, vb) = left, right
    x, sx = _as_fixed(lt, a, va)
    y, sy = _as_fixed(rt, b, vb)
    both = va & vb
    width = compute.id()
    if name in ("MUL", "DIV"):
        if name == "MUL":
            r, scale = x * y, sx + sy
        else:
            if (both & (y == 0)).any():
                raise RuntimeError(f"decimal division by zero {fw.UB}")
            r, scale = fw.tdiv(x, np.where(both, y, 1)), sx - sy
        _check_width(r, both, width, name)
        valid = both
    else:
        scale = min(sx, sy)
        x, y = fw.rescale(x, sx, scale), fw.rescale(y, sy, scale)
        _check_width(x, va, width, name)
        _check_width(y, vb, width, name)
        if name in _CMP:
            result = _CMP[name](x, y).astype(bool)
            if name in ("NULL_EQUALS", "NULL_NOT_EQUALS"):
                result = _null_equals(name, x == y, va, vb)
            return result, _null_aware_validity(name, va, vb)
        valid = both
        if name in ("NULL_MAX", "NULL_MIN"):
            pick = (x > y) if name == "NULL_MAX" else (x < y)
            r = np.where(both, np.where(pick, x, y), np.where(va, x, y))
            valid = va | vb
        elif name in ("ADD", "SUB"):
            r = x + y if name == "ADD" else x - y
            _check_width(r, both, width, name)
        else:  # MOD, PMOD, PYMOD
            if (both & (y == 0)).any():
                raise RuntimeError(f"decimal {name} by zero {fw.UB}")
            safe_y = np.where(both, y, 1)
            r = fw.tmod(x, safe_y)
            if name == "PMOD":
                r = np.where(r < 0, fw.tmod(r + safe_y, safe_y), r)
            elif name == "PYMOD":
                r = fw.tmod(r + safe_y, safe_y)
    r = np.where(valid, r, 0)
    if fw.kind(out) == "decimal":
        moved = fw.rescale(r, scale, out.scale())
        _check_width(moved, valid, out.id(), name)
        return moved, valid
    return fw.from_fixed(r, scale, valid, out), valid


# ---- timestamps and durations -------------------------------------------------------------------


def _chrono_op(name: str, left: tuple[DataType, np.ndarray, np.ndarray],
               right: tuple[DataType, np.ndarray, np.ndarray], out: DataType) -> tuple[np.ndarray, np.ndarray]:
    (lt, a, va), (rt, b, vb) = left, right
    both = va & vb
    kl, kr = fw.kind(lt), fw.kind(rt)
    if kl in ("timestamp", "duration") and kr in ("timestamp", "duration"):
        unit = lt.id() if fw.NANOS_PER_TICK[lt.id()] <= fw.NANOS_PER_TICK[rt.id()] else rt.id()
        x, y = fw.convert_ticks(a, lt.id(), unit), fw.convert_ticks(b, rt.id(), unit)
        valid = both
        with np.errstate(over="ignore"):
            if name in _CMP:
                result = _CMP[name](x, y)
                if name in ("NULL_EQUALS", "NULL_NOT_EQUALS"):
                    result = _null_equals(name, x == y, va, vb)
                return result, _null_aware_validity(name, va, vb)
            if name == "ADD":
                r = x + y
            elif name == "SUB":
                r = x - y
            elif name in ("NULL_MAX", "NULL_MIN"):
                pick = (x > y) if name == "NULL_MAX" else (x < y)
                r = np.where(both, np.where(pick, x, y), np.where(va, x, y))
                valid = va | vb
            elif name in ("MOD", "PYMOD", "DIV"):
                if (both & (y == 0)).any():
                    raise RuntimeError(f"duration {name} by zero {fw.UB}")
                safe = np.where(both, y, 1)
                if name == "DIV":
                    return _write_numeric(fw.tdiv(x, safe), "int", both, out), both
                r = fw.tmod(x, safe) if name == "MOD" else fw.tmod(fw.tmod(x, safe) + safe, safe)
            else:
                raise TypeError(f"Unsupported operator {name}")
        return fw.convert_ticks(r, _unit_as(unit, out), out.id()), valid
    # a duration with an integer: MUL, DIV, MOD
    dur_type, dur, count = (lt, a, b) if kl == "duration" else (rt, b, a)
    dur, count = dur.astype(np.int64), count.astype(np.int64)
    with np.errstate(over="ignore"):
        if name == "MUL":
            r = dur * count
        else:
            if (both & (count == 0)).any():
                raise RuntimeError(f"duration {name} by zero {fw.UB}")
            safe = np.where(both, count, 1)
            r = fw.tdiv(dur, safe) if name == "DIV" else fw.tmod(dur, safe)
    return fw.convert_ticks(r, dur_type.id(), out.id()), both


def _unit_as(unit: TypeId, out: DataType) -> TypeId:
    """The unit ``unit`` named as a type of the output's kind (timestamp or duration)."""
    offset = TypeId.DURATION_DAYS - TypeId.TIMESTAMP_DAYS
    is_ts = unit < TypeId.DURATION_DAYS
    if fw.kind(out) == "timestamp":
        return unit if is_ts else TypeId(unit - offset)
    return TypeId(unit + offset) if is_ts else unit


# ---- strings ------------------------------------------------------------------------------------


def _string_values(x: Column | Scalar, n: int) -> pa.Array:
    if isinstance(x, Column):
        return _sim.column_to_arrow(x)
    return pa.array([x._value] * n, type=pa.string())


def _string_compare(lhs: Column | Scalar, rhs: Column | Scalar, name: str, n: int) -> Column:
    a, b = _string_values(lhs, n), _string_values(rhs, n)
    fn = {"EQUAL": pc.equal, "NOT_EQUAL": pc.not_equal, "LESS": pc.less, "GREATER": pc.greater,
          "LESS_EQUAL": pc.less_equal, "GREATER_EQUAL": pc.greater_equal,
          "NULL_EQUALS": pc.equal, "NULL_NOT_EQUALS": pc.not_equal}[name]
    result = fn(a, b)
    if name in ("NULL_EQUALS", "NULL_NOT_EQUALS"):
        both_null = pc.and_(pc.is_null(a), pc.is_null(b))
        eq = pc.if_else(pc.is_null(result), both_null, pc.equal(a, b).fill_null(False))
        result = eq if name == "NULL_EQUALS" else pc.invert(eq)
    return _sim.column_from_arrow(result, DataType(TypeId.BOOL8))


def _string_null_min_max(lhs: Column | Scalar, rhs: Column | Scalar, name: str, n: int) -> Column:
    a, b = _string_values(lhs, n), _string_values(rhs, n)
    fn = pc.max_element_wise if name == "NULL_MAX" else pc.min_element_wise
    return _sim.column_from_arrow(fn(a, b, skip_nulls=True), DataType(TypeId.STRING))
