"""Scalar functions (one per name in planner.functions.SCALAR_FUNCTIONS), CASE and IN."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fallback_cpu.arithmetic import binary
from fallback_cpu.cast import _cast_array, _ints_to_int, _round_half_away
from fallback_cpu.columns import (
    Operand,
    _array,
    _as_column,
    _column_of,
    _data_errors,
    _from_numpy,
    _literal_scalar,
    _numpy_values,
    _valid_mask,
)
from fallback_cpu.decimals import (
    _Dec,
    _decimal_array,
    _int_divide,
    _mul,
    _rescale,
    _rescale_up,
)
from fallback_cpu.numeric import NUMERIC_FUNCTION_KERNELS
from fallback_cpu.regex import REGEX_KERNELS
from fallback_cpu.strings import (
    MORE_STRING_KERNELS,
    _fn_character_length,
    _fn_concat,
    _fn_ends_with,
    _fn_lower,
    _fn_ltrim,
    _fn_octet_length,
    _fn_replace,
    _fn_rtrim,
    _fn_starts_with,
    _fn_strpos,
    _fn_substr,
    _fn_trim,
    _fn_upper,
)
from fallback_cpu.temporal import (
    TEMPORAL_FUNCTION_KERNELS,
    _fn_date_part,
    _fn_date_trunc,
)
from planner.errors import ExecutionError
from planner.expr import BinaryOperator, Literal


def scalar_function(
    name: str, args: Sequence[Operand], out_type: pa.DataType, num_rows: int
) -> pa.Array:
    handler = SCALAR_FUNCTION_KERNELS.get(name)
    if handler is None:
        raise ExecutionError(f"scalar function {name!r} is not implemented")
    result = handler(list(args), out_type, num_rows)
    with _data_errors(name):
        return _cast_array(_as_column(result, num_rows), out_type, safe=False)


def if_else(
    cond: pa.Array, then: Operand, otherwise: Operand, out_type: pa.DataType, num_rows: int
) -> pa.Array:
    c = pc.fill_null(_column_of(cond, num_rows), False)  # pc.if_else gives NULL for NULL
    branches = []
    for x in (then, otherwise):
        if isinstance(x, Literal):
            branches.append(_literal_scalar(x, out_type))
        else:
            branches.append(_cast_array(_array(x), out_type, safe=False))
    return _as_column(pc.if_else(c, branches[0], branches[1]), num_rows)


def is_in(operand: pa.Array, values: Sequence[Literal]) -> pa.Array:
    x = _array(operand)
    present = [_literal_scalar(v, x.type) for v in values if v.value is not None]
    list_has_null = len(present) < len(values)
    value_set = pa.array([s.as_py() for s in present], type=x.type)
    found = pc.is_in(x, value_set=value_set, skip_nulls=True)
    null = pa.scalar(None, pa.bool_())
    found = pc.if_else(pc.is_null(x), null, found)  # NULL IN (...) is NULL
    if list_has_null:
        found = pc.if_else(found, True, null)  # no match against a list with NULL: NULL
    return found


def _round(x: pa.Array, digits: int, t: pa.DataType) -> pa.Array:
    """round(x, d) half away from zero (pc.round's default is half to even)."""
    xt = x.type
    if pa.types.is_floating(xt):
        # DataFusion: (x * 10^d).round() / 10^d in the input's float type, so round(0.285, 2)
        # = 0.28 because 0.285 * 100 = 28.499999999999996.
        dtype = np.dtype(np.float32 if xt.bit_width == 32 else np.float64)
        values: np.ndarray = _numpy_values(x, 0.0).astype(dtype)
        factor = np.power(np.array(10.0, dtype=dtype), np.array(digits, dtype=dtype))
        rounded = (_round_half_away(values * factor) / factor).astype(dtype)
        return _cast_array(_from_numpy(rounded, _valid_mask(x), xt), t, safe=False)
    if pa.types.is_integer(xt) or pa.types.is_decimal(xt):
        dec = _Dec.of(x)
        if digits >= dec.scale:
            values, scale = dec.values, dec.scale
        else:
            values = _int_divide(dec.values, 10 ** (dec.scale - digits), "half_away")
            scale = digits
            if digits < 0:
                values, scale = _rescale_up(values, -digits), 0
        if pa.types.is_integer(t):
            return _ints_to_int(_rescale(values, scale, 0, "trunc"), dec.valid, t, False, x)
        if pa.types.is_decimal(t):
            return _decimal_array(
                _rescale(values, scale, t.scale, "half_away"), dec.valid, t, safe=False, what="round"
            )
        out = _decimal_array(values, dec.valid, pa.decimal128(38, max(scale, 0)), safe=False, what="round")
        return _cast_array(out, t, safe=False)
    raise ExecutionError(f"round is not defined for {xt}")


def _floor_ceil(x: pa.Array, t: pa.DataType, floor: bool) -> pa.Array:
    if pa.types.is_decimal(x.type):
        # Decimals keep their type: floor(-1.55) = -2.00 as decimal(10, 2).
        dec = _Dec.of(x)
        unit = 10**dec.scale
        values = _mul(_int_divide(dec.values, unit, "floor" if floor else "ceil"), unit)
        return _cast_array(_decimal_array(values, dec.valid, x.type, safe=False, what="floor"), t, safe=False)
    as_float = _cast_array(x, t, safe=False) if pa.types.is_floating(t) else x
    if pa.types.is_integer(as_float.type):
        return _cast_array(as_float, t, safe=False)
    return _cast_array(pc.floor(as_float) if floor else pc.ceil(as_float), t, safe=False)


def _abs(x: pa.Array, t: pa.DataType) -> pa.Array:
    if pa.types.is_decimal(x.type):
        dec = _Dec.of(x)
        return _cast_array(
            _decimal_array(np.abs(dec.values), dec.valid, x.type, safe=False, what="abs"), t, False
        )
    with _data_errors("abs"):
        # abs(i64::MIN) overflows: DataFusion errors, so the checked kernel.
        return _cast_array(pc.abs_checked(x), t, safe=False)


def _fn_abs(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    return _abs(_column_of(args[0], n), out_type)


def _fn_round(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    x = _column_of(args[0], n)
    if len(args) < 2:
        return _round(x, 0, out_type)
    digits = args[1]
    if isinstance(digits, Literal):
        if digits.value is None:
            return pa.nulls(n, out_type)
        return _round(x, int(digits.value), out_type)
    # Per-row digits: round once per distinct value.
    d = _array(digits)
    result = pa.nulls(n, out_type)
    for value in pc.unique(d.drop_null()).to_pylist():
        rows = pc.equal(d, value)
        result = pc.if_else(pc.fill_null(rows, False), _round(x, int(value), out_type), result)
    return result


def _fn_floor(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    return _floor_ceil(_column_of(args[0], n), out_type, floor=True)


def _fn_ceil(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    return _floor_ceil(_column_of(args[0], n), out_type, floor=False)


def _fn_coalesce(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    values = [
        _literal_scalar(a, out_type)
        if isinstance(a, Literal)
        else _cast_array(_array(a), out_type, safe=False)
        for a in args
    ]
    return pc.coalesce(*values)


def _fn_nullif(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    a = _column_of(args[0], n)
    same = pc.fill_null(binary(BinaryOperator.EQ, a, args[1], pa.bool_(), n), False)  # NaN = NaN
    return pc.if_else(same, pa.scalar(None, a.type), a)


_ScalarFunction = Callable[[list[Operand], pa.DataType, int], pa.Array]

SCALAR_FUNCTION_KERNELS: dict[str, _ScalarFunction] = {
    "substr": _fn_substr,
    "upper": _fn_upper,
    "lower": _fn_lower,
    "character_length": _fn_character_length,
    "octet_length": _fn_octet_length,
    "trim": _fn_trim,
    "ltrim": _fn_ltrim,
    "rtrim": _fn_rtrim,
    "concat": _fn_concat,
    "starts_with": _fn_starts_with,
    "ends_with": _fn_ends_with,
    "strpos": _fn_strpos,
    "replace": _fn_replace,
    "abs": _fn_abs,
    "round": _fn_round,
    "floor": _fn_floor,
    "ceil": _fn_ceil,
    "coalesce": _fn_coalesce,
    "nullif": _fn_nullif,
    "date_part": _fn_date_part,
    "date_trunc": _fn_date_trunc,
    **NUMERIC_FUNCTION_KERNELS,
    **MORE_STRING_KERNELS,
    **REGEX_KERNELS,
    **TEMPORAL_FUNCTION_KERNELS,
}
