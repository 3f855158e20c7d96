"""Scalar functions on the device (one per name in planner.functions.SCALAR_FUNCTIONS), CASE and IN."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from fallback_cpu.types import int_bounds
from gpu_exec.cudf.arithmetic import _comparison
from gpu_exec.cudf.cast import _cast, _literal_as
from gpu_exec.cudf.columns import (
    CudfColumn,
    Operand,
    _all_null,
    _any_true,
    _binop,
    _broadcast,
    _column_of,
    _compare,
    _decimal_scalar,
    _is_nan,
    _null_scalar,
    _null_where,
    _or,
    _scalar,
)
from gpu_exec.cudf.numeric import NUMERIC_FUNCTION_KERNELS
from gpu_exec.cudf.regex import REGEX_KERNELS
from gpu_exec.cudf.strings import (
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
from gpu_exec.cudf.temporal import (
    TEMPORAL_FUNCTION_KERNELS,
    _fn_date_part,
    _fn_date_trunc,
)
from gpu_exec.cudf.types import _MAX_DIGITS, _bool8, _decimal, _frac, _int64, _is_float
from planner.errors import ExecutionError
from planner.expr import BinaryOperator, Literal

if TYPE_CHECKING:
    import pylibcudf as plc
else:
    from gpu_exec.cudf.lazy import plc


def scalar_function(
    name: str, args: Sequence[Operand], out_type: pa.DataType, num_rows: int
) -> CudfColumn:
    handler = SCALAR_FUNCTION_KERNELS.get(name)
    if handler is None:
        raise ExecutionError(f"scalar function {name!r} is not implemented")
    result = handler(list(args), out_type, num_rows)
    return _cast(result, out_type, safe=False)


def if_else(
    cond: CudfColumn, then: Operand, otherwise: Operand, out_type: pa.DataType, num_rows: int
) -> CudfColumn:
    # copy_if_else takes the ELSE branch for a NULL condition, as SQL CASE; both branches
    # must have exactly the same type (NOTES.md, 'Exact types').
    mask = _column_of(cond, num_rows).data
    branches: list[plc.Column | plc.Scalar] = []
    for x in (then, otherwise):
        if isinstance(x, Literal):
            branches.append(_literal_as(x, out_type))
        else:
            branches.append(_cast(x, out_type, safe=False).data)
    return CudfColumn(plc.copying.copy_if_else(branches[0], branches[1], mask), out_type)


def is_in(operand: CudfColumn, values: Sequence[Literal]) -> CudfColumn:
    x = operand
    n = len(x)
    present = [v for v in values if v.value is not None]
    list_has_null = len(present) < len(values)
    if not present:
        # Only NULLs in the list: nothing is ever found, so every row is NULL.
        return _all_null(pa.bool_(), n)
    # The list as a small device column of the operand's type (types must match: NOTES.md, 'Exact types').
    haystack = plc.Column.from_scalar(_literal_as(present[0], x.type), 1)
    if len(present) > 1:
        rest = [plc.Column.from_scalar(_literal_as(v, x.type), 1) for v in present[1:]]
        haystack = plc.concatenate.concatenate([haystack, *rest])
    # contains keeps the needles' NULLs: NULL IN (...) is NULL.
    found = plc.search.contains(haystack, x.data)
    if _is_float(x.data.type()) and any(
        isinstance(v.value, float) and math.isnan(v.value) for v in present
    ):
        found = _or(found, _is_nan(x.data))  # DataFusion: NaN IN (NaN) is true
    if list_has_null:
        # No match against a list holding NULL is NULL: true stays, the rest becomes NULL.
        found = plc.copying.copy_if_else(found, _null_scalar(_bool8()), found)
    return CudfColumn(found, pa.bool_())


def _round_column(x: CudfColumn, digits: int, t: pa.DataType) -> CudfColumn:
    """round(x, d) half away from zero (DataFusion)."""
    xt = x.type
    Op = plc.binaryop.BinaryOperator
    if pa.types.is_floating(xt):
        # DataFusion: (x * 10^d).round() / 10^d in the input's float type, so round(0.285, 2)
        # = 0.28 because 0.285 * 100 = 28.499999999999996. The same three steps here.
        dtype = x.data.type()
        factor = _scalar(
            float(np.float32(10.0) ** np.float32(digits)) if xt.bit_width == 32 else 10.0**digits, dtype
        )
        scaled = _binop(x.data, factor, Op.MUL, dtype)
        rounded = plc.round.round(scaled, 0, plc.round.RoundingMethod.HALF_UP)
        return _cast(CudfColumn(_binop(rounded, factor, Op.DIV, dtype), xt), t, safe=False)
    if pa.types.is_integer(xt):
        if digits >= 0:
            return _cast(x, t, safe=False)
        rounded = plc.round.round(x.data, digits, plc.round.RoundingMethod.HALF_UP)
        return _cast(CudfColumn(rounded, xt), t, safe=False)
    if pa.types.is_decimal(xt):
        if digits >= xt.scale:
            return _cast(x, t, safe=False)
        # libcudf's fixed-point round gives scale -digits (a positive libcudf scale for d < 0:
        # multiples of 10^-d); the cast below puts it on the planned scale exactly.
        rounded = plc.round.round(x.data, digits, plc.round.RoundingMethod.HALF_UP)
        label = pa.decimal128(_MAX_DIGITS, max(digits, 0))
        if digits < 0:
            rounded = plc.unary.cast(rounded, _decimal(0))
        return _cast(CudfColumn(rounded, label), t, safe=False)
    raise ExecutionError(f"round is not defined for {xt}")


def _floor_ceil(x: CudfColumn, t: pa.DataType, floor: bool) -> CudfColumn:
    Op = plc.binaryop.BinaryOperator
    if pa.types.is_decimal(x.type):
        # Decimals keep their type: floor(-1.55) = -2.00. The scale-0 cast truncates toward zero;
        # step down (floor) or up (ceil) where that moved the wrong way.
        whole = plc.unary.cast(x.data, _decimal(0))
        if floor:
            wrong, step = _compare(x.data, whole, Op.LESS), Op.SUB
        else:
            wrong, step = _compare(x.data, whole, Op.GREATER), Op.ADD
        stepped = _binop(whole, _decimal_scalar(1, 0), step, _decimal(0))
        whole = plc.copying.copy_if_else(stepped, whole, wrong)
        back = plc.unary.cast(whole, x.data.type())
        return _cast(CudfColumn(back, x.type), t, safe=False)
    if pa.types.is_integer(x.type):
        return _cast(x, t, safe=False)
    as_float = _cast(x, t, safe=False) if pa.types.is_floating(t) else x
    op = plc.unary.UnaryOperator.FLOOR if floor else plc.unary.UnaryOperator.CEIL
    return _cast(CudfColumn(plc.unary.unary_operation(as_float.data, op), as_float.type), t, safe=False)


def _abs(x: CudfColumn, t: pa.DataType) -> CudfColumn:
    Op = plc.binaryop.BinaryOperator
    if pa.types.is_decimal(x.type):
        negated = _binop(_decimal_scalar(0, _frac(x.data)), x.data, Op.SUB, x.data.type())
        negative = _compare(x.data, _decimal_scalar(0, _frac(x.data)), Op.LESS)
        return _cast(CudfColumn(plc.copying.copy_if_else(negated, x.data, negative), x.type), t, safe=False)
    if pa.types.is_signed_integer(x.type):
        lo, _ = int_bounds(x.type)
        if _any_true(_compare(x.data, _scalar(lo, x.data.type()), Op.EQUAL)):
            # abs(i64::MIN) overflows: DataFusion errors.
            raise ExecutionError(f"abs: overflow taking the absolute value of {lo}")
    return _cast(
        CudfColumn(plc.unary.unary_operation(x.data, plc.unary.UnaryOperator.ABS), x.type), t, safe=False
    )


def _fn_abs(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    return _abs(_column_of(args[0], n), t)


def _fn_round(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    x = _column_of(args[0], n)
    if len(args) < 2:
        return _round_column(x, 0, t)
    digits = args[1]
    if isinstance(digits, Literal):
        if digits.value is None:
            return _all_null(t, n)
        return _round_column(x, int(digits.value), t)
    # Per-row digits: round once per distinct value (a handful), picking rows with copy_if_else.
    d = _cast(digits, pa.int64(), safe=False).data
    distinct = plc.stream_compaction.distinct(
        plc.Table([d]),
        [0],
        plc.stream_compaction.DuplicateKeepOption.KEEP_ANY,
        plc.types.NullEquality.EQUAL,
        plc.types.NanEquality.ALL_EQUAL,
    )
    result = _all_null(t, n).data
    for value in distinct.columns()[0].to_pylist():
        if value is None:
            continue
        rows = _compare(d, _scalar(int(value), _int64()), plc.binaryop.BinaryOperator.EQUAL)
        result = plc.copying.copy_if_else(_round_column(x, int(value), t).data, result, rows)
    return CudfColumn(result, t)


def _fn_floor(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    return _floor_ceil(_column_of(args[0], n), t, floor=True)


def _fn_ceil(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    return _floor_ceil(_column_of(args[0], n), t, floor=False)


def _fn_coalesce(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    # replace_nulls folded left to right, every argument in the result type first (NOTES.md, 'Exact types').
    first = args[0]
    result = _broadcast(Literal(first.value, first.dtype), n) if isinstance(first, Literal) else first
    acc = _cast(result, t, safe=False).data
    for x in args[1:]:
        if not acc.null_count():
            break
        replacement: plc.Column | plc.Scalar = (
            _literal_as(x, t) if isinstance(x, Literal) else _cast(x, t, safe=False).data
        )
        acc = plc.replace.replace_nulls(acc, replacement)
    return CudfColumn(acc, t)


def _fn_nullif(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    a = _column_of(args[0], n)
    same = _comparison(BinaryOperator.EQ, a, args[1], n)
    return CudfColumn(_null_where(a.data, same), a.type)  # a NULL comparison keeps a


_ScalarFunction = Callable[[list[Operand], pa.DataType, int], CudfColumn]

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
