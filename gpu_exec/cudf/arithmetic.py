"""Binary and unary operators on the device: comparisons, logic, integer and float arithmetic."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pyarrow as pa

from fallback_cpu.types import int_bounds, is_temporal_arithmetic, operand_type
from gpu_exec.cudf.cast import _cast
from gpu_exec.cudf.columns import (
    CudfColumn,
    Operand,
    _all_null,
    _and,
    _any_true,
    _binop,
    _broadcast,
    _broadcast_device,
    _cast_scalar,
    _check_no_zero_divisor,
    _column_of,
    _compare,
    _decimal_scalar,
    _device_operand,
    _fill_false,
    _float_nan_flags,
    _has_nan,
    _is_nan,
    _libcudf_op,
    _not,
    _null_scalar,
    _scalar,
    _sized,
    _wrap_int,
)
from gpu_exec.cudf.decimals import _decimal_arithmetic
from gpu_exec.cudf.strings import _strings_of
from gpu_exec.cudf.temporal import _temporal_arithmetic
from gpu_exec.cudf.types import (
    _bool8,
    _decimal,
    _device_type,
    _dtype,
    _float64,
    _frac,
    _is_float,
)
from planner.errors import ExecutionError
from planner.expr import BinaryOperator, Literal, UnaryOperator

if TYPE_CHECKING:
    import pylibcudf as plc
else:
    from gpu_exec.cudf.lazy import plc


def binary(
    op: BinaryOperator, left: Operand, right: Operand, out_type: pa.DataType, num_rows: int
) -> CudfColumn:
    n = num_rows
    if isinstance(left, Literal) and isinstance(right, Literal):
        left = _broadcast(left, n)
    lt, rt = operand_type(left), operand_type(right)
    if op in (BinaryOperator.AND, BinaryOperator.OR):
        a, b = _bool_operand(left), _bool_operand(right)
        # Kleene AND/OR (NOTES.md, 'Three-valued logic').
        name = "NULL_LOGICAL_AND" if op is BinaryOperator.AND else "NULL_LOGICAL_OR"
        return CudfColumn(_sized(_compare(a, b, _libcudf_op(name)), n), out_type)
    if op is BinaryOperator.STRING_CONCAT:
        pieces = plc.Table([_strings_of(left, n), _strings_of(right, n)])
        # An invalid narep makes a row with any NULL operand NULL, as || does; pylibcudf turns
        # narep=None into a valid "" (NULLs would then be skipped, as in concat()).
        joined = plc.strings.combine.concatenate(pieces, _scalar("", _dtype(plc.TypeId.STRING)),
                                                 _null_scalar(_dtype(plc.TypeId.STRING)))
        return _cast(CudfColumn(joined, pa.string()), out_type, safe=False)
    if op in (BinaryOperator.IS_DISTINCT_FROM, BinaryOperator.IS_NOT_DISTINCT_FROM):
        if pa.types.is_null(lt) or pa.types.is_null(rt):
            other = right if pa.types.is_null(lt) else left
            same = plc.unary.is_null(_column_of(other, n).data)
        else:
            same = _not_distinct(left, right, n)
        return CudfColumn(same if op is BinaryOperator.IS_NOT_DISTINCT_FROM else _not(same), out_type)
    if pa.types.is_null(lt) or pa.types.is_null(rt):
        return _all_null(out_type, n)
    if op in _COMPARE_OPS:
        return CudfColumn(_comparison(op, left, right, n), out_type)
    if op.is_bitwise:
        return CudfColumn(_sized(_bitwise(op, left, right, out_type), n), out_type)
    return _arithmetic(op, left, right, out_type, n)


_BITWISE_OPS = {
    BinaryOperator.BITWISE_AND: "BITWISE_AND",
    BinaryOperator.BITWISE_OR: "BITWISE_OR",
    BinaryOperator.BITWISE_XOR: "BITWISE_XOR",
    BinaryOperator.SHIFT_LEFT: "SHIFT_LEFT",
    BinaryOperator.SHIFT_RIGHT: "SHIFT_RIGHT",  # arithmetic on signed types, as DataFusion's >>
}


def _bitwise(op: BinaryOperator, left: Operand, right: Operand, t: pa.DataType) -> plc.Column:
    if not pa.types.is_integer(t):
        raise ExecutionError(f"bit operator {op.value} → {t} is not supported")
    a, b = _integer_operand(left, t), _integer_operand(right, t)
    dtype = _device_type(t)
    if op in (BinaryOperator.SHIFT_LEFT, BinaryOperator.SHIFT_RIGHT):
        # DataFusion's shifts wrap the count modulo the bit width (-1 shifts by width - 1); a C++
        # shift by a count outside [0, width) is undefined, so reduce the count first.
        mask = t.bit_width - 1
        if isinstance(b, plc.Scalar):
            count = b.to_py() if b.is_valid() else None
            b = _scalar(int(count) & mask, dtype) if isinstance(count, int) else b
        else:
            b = _binop(b, _scalar(mask, dtype), _libcudf_op("BITWISE_AND"), dtype)
    return _binop(a, b, _libcudf_op(_BITWISE_OPS[op]), dtype)


def unary(op: UnaryOperator, operand: CudfColumn, out_type: pa.DataType) -> CudfColumn:
    x = operand
    if op is UnaryOperator.NOT:
        return CudfColumn(_not(x.data), out_type)  # NOT NULL is NULL
    if op is UnaryOperator.NEGATE:
        if pa.types.is_decimal(x.type):
            zero = _decimal_scalar(0, _frac(x.data))
            negated = _binop(zero, x.data, plc.binaryop.BinaryOperator.SUB, x.data.type())
            return _cast(CudfColumn(negated, x.type), out_type, safe=False)
        negated = plc.unary.unary_operation(x.data, plc.unary.UnaryOperator.NEGATE)  # wraps
        return _cast(CudfColumn(negated, x.type), out_type, safe=False)
    if op is UnaryOperator.IS_NULL:
        return CudfColumn(plc.unary.is_null(x.data), out_type)
    if op is UnaryOperator.IS_NOT_NULL:
        return CudfColumn(plc.unary.is_valid(x.data), out_type)
    is_true = _fill_false(x.data)
    if op is UnaryOperator.IS_TRUE:
        return CudfColumn(is_true, out_type)
    if op is UnaryOperator.IS_NOT_TRUE:
        return CudfColumn(_not(is_true), out_type)
    is_false = _fill_false(_not(x.data))
    if op is UnaryOperator.IS_FALSE:
        return CudfColumn(is_false, out_type)
    if op is UnaryOperator.IS_NOT_FALSE:
        return CudfColumn(_not(is_false), out_type)
    raise ExecutionError(f"unknown unary operator {op}")


_COMPARE_OPS = {
    BinaryOperator.EQ: "EQUAL",
    BinaryOperator.NOT_EQ: "NOT_EQUAL",
    BinaryOperator.LT: "LESS",
    BinaryOperator.LT_EQ: "LESS_EQUAL",
    BinaryOperator.GT: "GREATER",
    BinaryOperator.GT_EQ: "GREATER_EQUAL",
}
_ARITHMETIC_OPS = {
    BinaryOperator.ADD: "ADD",
    BinaryOperator.SUBTRACT: "SUB",
    BinaryOperator.MULTIPLY: "MUL",
    BinaryOperator.DIVIDE: "DIV",  # integer DIV with an integer output truncates toward zero
    BinaryOperator.MODULO: "MOD",  # C++ %: the dividend's sign, as SQL; fmod for floats
}


def _comparable(
    left: Operand, right: Operand, n: int
) -> tuple[plc.Column | plc.Scalar, plc.Column | plc.Scalar]:
    """Operands of a comparison with types libcudf compares correctly: a decimal against an
    integer compares as decimals, a decimal against a float as floats (libcudf's
    decimal-vs-float comparison gives wrong answers: NOTES.md, 'Mixed-type comparisons')."""
    lt, rt = operand_type(left), operand_type(right)
    a, b = _device_operand(left), _device_operand(right)

    def as_type(x: plc.Column | plc.Scalar, dtype: plc.DataType) -> plc.Column | plc.Scalar:
        if x.type() == dtype:
            return x
        return _cast_scalar(x, dtype) if isinstance(x, plc.Scalar) else plc.unary.cast(x, dtype)

    if pa.types.is_decimal(lt) != pa.types.is_decimal(rt):
        other = rt if pa.types.is_decimal(lt) else lt
        if pa.types.is_floating(other):
            a, b = as_type(a, _float64()), as_type(b, _float64())
        elif pa.types.is_integer(other):
            a = as_type(a, _decimal(0)) if pa.types.is_integer(lt) else a
            b = as_type(b, _decimal(0)) if pa.types.is_integer(rt) else b
    return a, b


def _operand_has_nan(x: plc.Column | plc.Scalar) -> bool:
    if not _is_float(x.type()):
        return False
    if isinstance(x, plc.Scalar):
        value = x.to_py() if x.is_valid() else None
        return isinstance(value, float) and math.isnan(value)
    return _has_nan(x)


def _compare_with_nan(op: BinaryOperator, a: plc.Column, b: plc.Column) -> plc.Column:
    """A float comparison as DataFusion does it: NaN equals NaN and is above every number (IEEE,
    and libcudf's binary ops, answer false to every comparison with a NaN)."""
    a_nan, b_nan = _is_nan(a), _is_nan(b)
    # Where a NaN is involved the answer depends only on which sides are NaN (NaN is the top).
    by_nan = _compare(
        plc.unary.cast(a_nan, _dtype(plc.TypeId.INT8)),
        plc.unary.cast(b_nan, _dtype(plc.TypeId.INT8)),
        _libcudf_op(_COMPARE_OPS[op]),
    )
    # LOGICAL_OR (not Kleene) is NULL when either side is: those rows take the plain comparison,
    # which is NULL there too.
    some_nan = _compare(a_nan, b_nan, plc.binaryop.BinaryOperator.LOGICAL_OR)
    plain = _compare(a, b, _libcudf_op(_COMPARE_OPS[op]))
    return plc.copying.copy_if_else(by_nan, plain, some_nan)


def _comparison(op: BinaryOperator, left: Operand, right: Operand, n: int) -> plc.Column:
    a, b = _comparable(left, right, n)
    if _operand_has_nan(a) or _operand_has_nan(b):
        return _compare_with_nan(op, _broadcast_device(a, n), _broadcast_device(b, n))
    result = _compare(a, b, _libcudf_op(_COMPARE_OPS[op]))
    return result if result.size() == n else _broadcast_device(result.to_scalar(), n)


def _not_distinct(left: Operand, right: Operand, n: int) -> plc.Column:
    """IS NOT DISTINCT FROM: NULL equals NULL, never NULL; NaN equals NaN (DataFusion)."""
    a, b = _comparable(left, right, n)
    a, b = _broadcast_device(a, n), _broadcast_device(b, n)
    same = _compare(a, b, plc.binaryop.BinaryOperator.NULL_EQUALS)
    if _operand_has_nan(a) and _operand_has_nan(b):
        both_nan = _compare(_float_nan_flags(a), _float_nan_flags(b), plc.binaryop.BinaryOperator.LOGICAL_AND)
        same = _compare(same, both_nan, plc.binaryop.BinaryOperator.LOGICAL_OR)
    return same


def _integer_operand(x: Operand, t: pa.DataType) -> plc.Column | plc.Scalar:
    """An integer operand in type ``t``, wrapped like DataFusion's unchecked integer cast."""
    dtype = _device_type(t)
    if isinstance(x, Literal):
        if x.value is None:
            return _null_scalar(dtype)
        return _scalar(_wrap_int(int(x.value), t), dtype)
    return x.data if x.data.type() == dtype else plc.unary.cast(x.data, dtype)


def _integer_arithmetic(op: BinaryOperator, left: Operand, right: Operand, t: pa.DataType) -> plc.Column:
    a, b = _integer_operand(left, t), _integer_operand(right, t)
    dtype = _device_type(t)
    if op in (BinaryOperator.DIVIDE, BinaryOperator.MODULO):
        _check_no_zero_divisor(b)
        if pa.types.is_signed_integer(t) and _min_over_minus_one(a, b, t):
            # MIN / -1 overflows: undefined behaviour in C++, garbage on the GPU.
            raise ExecutionError(f"Arithmetic overflow: {int_bounds(t)[0]} {op.value} -1")
    return _binop(a, b, _libcudf_op(_ARITHMETIC_OPS[op]), dtype)


def _min_over_minus_one(a: plc.Column | plc.Scalar, b: plc.Column | plc.Scalar, t: pa.DataType) -> bool:
    """Does some row divide the type's smallest value by -1?"""
    lo, _ = int_bounds(t)
    Op = plc.binaryop.BinaryOperator

    def flags(x: plc.Column | plc.Scalar, value: int) -> plc.Column | bool:
        if isinstance(x, plc.Scalar):
            return bool(x.is_valid() and x.to_py() == value)
        return _compare(x, _scalar(value, x.type()), Op.EQUAL)

    is_min, minus_one = flags(a, lo), flags(b, -1)
    if isinstance(is_min, bool):
        return is_min and (minus_one if isinstance(minus_one, bool) else _any_true(minus_one))
    if isinstance(minus_one, bool):
        return minus_one and _any_true(is_min)
    return _any_true(_and(is_min, minus_one))


def _float_operand(x: Operand, t: pa.DataType) -> plc.Column | plc.Scalar:
    if isinstance(x, Literal):
        dtype = _device_type(t)
        return _null_scalar(dtype) if x.value is None else _scalar(float(x.value), dtype)
    return _cast(x, t, safe=False).data


def _float_arithmetic(op: BinaryOperator, left: Operand, right: Operand, t: pa.DataType) -> plc.Column:
    # IEEE on the GPU, as DataFusion: x/0.0 → ±inf, 0/0 → NaN, % is fmod.
    a, b = _float_operand(left, t), _float_operand(right, t)
    return _binop(a, b, _libcudf_op(_ARITHMETIC_OPS[op]), _device_type(t))


def _bool_operand(x: Operand) -> plc.Column | plc.Scalar:
    if isinstance(x, Literal):
        return _null_scalar(_bool8()) if x.value is None else _scalar(bool(x.value), _bool8())
    return x.data if x.data.type() == _bool8() else plc.unary.cast(x.data, _bool8())


def _arithmetic(op: BinaryOperator, left: Operand, right: Operand, t: pa.DataType, n: int) -> CudfColumn:
    lt, rt = operand_type(left), operand_type(right)
    if is_temporal_arithmetic(lt, rt):
        return _temporal_arithmetic(op, left, right, t, n)
    if pa.types.is_decimal(t):
        return _decimal_arithmetic(op, left, right, t, n)
    if pa.types.is_floating(t):
        return CudfColumn(_sized(_float_arithmetic(op, left, right, t), n), t)
    if pa.types.is_integer(t):
        return CudfColumn(_sized(_integer_arithmetic(op, left, right, t), n), t)
    raise ExecutionError(f"arithmetic {lt} {op.value} {rt} → {t} is not supported")
