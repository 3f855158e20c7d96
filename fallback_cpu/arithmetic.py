"""Binary and unary operators: comparisons, logic, integer and float arithmetic (decimals: .decimals)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fallback_cpu.cast import _cast_array
from fallback_cpu.columns import (
    Operand,
    _arg,
    _array,
    _as_column,
    _column_of,
    _data_errors,
    _from_numpy,
    _numpy_values,
    _valid_mask,
)
from fallback_cpu.decimals import _Dec, _decimal_arithmetic, _decimal_array
from fallback_cpu.temporal import _temporal_arithmetic
from fallback_cpu.types import int_bounds, is_temporal_arithmetic, operand_type
from planner.errors import ExecutionError
from planner.expr import BinaryOperator, UnaryOperator


def binary(
    op: BinaryOperator, left: Operand, right: Operand, out_type: pa.DataType, num_rows: int
) -> pa.Array:
    if op is BinaryOperator.AND:
        return _as_column(pc.and_kleene(_arg(left), _arg(right)), num_rows).cast(out_type)
    if op is BinaryOperator.OR:
        return _as_column(pc.or_kleene(_arg(left), _arg(right)), num_rows).cast(out_type)
    if op is BinaryOperator.STRING_CONCAT:
        a = _cast_array(_column_of(left, num_rows), pa.string(), safe=False)
        b = _cast_array(_column_of(right, num_rows), pa.string(), safe=False)
        return pc.binary_join_element_wise(a, b, "", null_handling="emit_null").cast(out_type)
    if op in _COMPARE:
        a, b = _arg(left), _arg(right)
        with _data_errors(f"comparison {op.value}"):
            if _operand_has_nan(a) or _operand_has_nan(b):
                return _compare_with_nan(op, _as_column(a, num_rows), _as_column(b, num_rows)).cast(
                    out_type
                )
            return _as_column(_COMPARE[op](a, b), num_rows).cast(out_type)
    if op in (BinaryOperator.IS_DISTINCT_FROM, BinaryOperator.IS_NOT_DISTINCT_FROM):
        a, b = _column_of(left, num_rows), _column_of(right, num_rows)
        both_null = pc.and_(pc.is_null(a), pc.is_null(b))
        # SQL equality (NaN = NaN in DataFusion); one side NULL → not the same.
        same = pc.fill_null(binary(BinaryOperator.EQ, a, b, pa.bool_(), num_rows), both_null)
        return (pc.invert(same) if op is BinaryOperator.IS_DISTINCT_FROM else same).cast(out_type)
    if op.is_bitwise:
        return _bitwise(op, left, right, out_type, num_rows)
    return _arithmetic(op, left, right, out_type, num_rows)


_BIT_OPS = {
    BinaryOperator.BITWISE_AND: pc.bit_wise_and,
    BinaryOperator.BITWISE_OR: pc.bit_wise_or,
    BinaryOperator.BITWISE_XOR: pc.bit_wise_xor,
}


def _bitwise(op: BinaryOperator, left: Operand, right: Operand, t: pa.DataType, num_rows: int) -> pa.Array:
    if not pa.types.is_integer(t):
        raise ExecutionError(f"bit operator {op.value} → {t} is not supported")
    a, b = _column_of(left, num_rows), _column_of(right, num_rows)
    if pa.types.is_null(a.type) or pa.types.is_null(b.type):
        return pa.nulls(num_rows, t)
    a, b = a.cast(t, safe=False), b.cast(t, safe=False)
    if op in _BIT_OPS:
        return _BIT_OPS[op](a, b)
    # DataFusion shifts with Rust's wrapping_shl/shr: the count modulo the bit width (so -1 is
    # width - 1). Arrow's shift kernels return a signed value unchanged when the count reaches its
    # sign bit, so shift in numpy: left on the unsigned view (bits fall off, the sign bit may
    # turn on), right on the value itself (arithmetic for signed types, as Rust's >>).
    valid = _valid_mask(a) & _valid_mask(b)
    x = _numpy_values(a)
    count = (_numpy_values(b) & (t.bit_width - 1)).astype(x.dtype)
    if op is BinaryOperator.SHIFT_LEFT:
        unsigned = np.dtype(f"u{x.dtype.itemsize}")
        shifted = np.left_shift(x.view(unsigned), count.view(unsigned)).view(x.dtype)
    else:
        shifted = np.right_shift(x, count)
    return _from_numpy(shifted, valid, t)


def _arithmetic(
    op: BinaryOperator, left: Operand, right: Operand, out_type: pa.DataType, num_rows: int
) -> pa.Array:
    lt, rt = operand_type(left), operand_type(right)
    if is_temporal_arithmetic(lt, rt):
        return _temporal_arithmetic(op, left, right, out_type, num_rows)
    a, b = _column_of(left, num_rows), _column_of(right, num_rows)
    if pa.types.is_null(a.type) or pa.types.is_null(b.type):
        return pa.nulls(num_rows, out_type)
    if pa.types.is_decimal(out_type):
        return _decimal_arithmetic(op, a, b, out_type)
    if pa.types.is_floating(out_type):
        return _float_arithmetic(op, a, b, out_type)
    if pa.types.is_integer(out_type):
        return _integer_arithmetic(op, a, b, out_type)
    raise ExecutionError(f"arithmetic {lt} {op.value} {rt} → {out_type} is not supported")


def unary(op: UnaryOperator, operand: pa.Array, out_type: pa.DataType) -> pa.Array:
    x = _array(operand)
    if op is UnaryOperator.NOT:
        return pc.invert(x).cast(out_type)  # NOT NULL is NULL
    if op is UnaryOperator.NEGATE:
        if pa.types.is_decimal(x.type):
            dec = _Dec.of(x)
            negated = _decimal_array(-dec.values, dec.valid, x.type, safe=False, what="negate")
            return _cast_array(negated, out_type, safe=False)
        return _cast_array(pc.negate(x), out_type, safe=False)  # wraps, as DataFusion
    if op is UnaryOperator.IS_NULL:
        return pc.is_null(x)
    if op is UnaryOperator.IS_NOT_NULL:
        return pc.is_valid(x)
    is_true = pc.fill_null(x, False)
    is_false = pc.fill_null(pc.invert(x), False)
    return {
        UnaryOperator.IS_TRUE: is_true,
        UnaryOperator.IS_FALSE: is_false,
        UnaryOperator.IS_NOT_TRUE: pc.invert(is_true),
        UnaryOperator.IS_NOT_FALSE: pc.invert(is_false),
    }[op]


_COMPARE = {
    BinaryOperator.EQ: pc.equal,
    BinaryOperator.NOT_EQ: pc.not_equal,
    BinaryOperator.LT: pc.less,
    BinaryOperator.LT_EQ: pc.less_equal,
    BinaryOperator.GT: pc.greater,
    BinaryOperator.GT_EQ: pc.greater_equal,
}


def _operand_has_nan(x: pa.Array | pa.Scalar) -> bool:
    if not pa.types.is_floating(x.type):
        return False
    if isinstance(x, pa.Scalar):
        return x.is_valid and x.as_py() != x.as_py()
    return bool(pc.any(pc.is_nan(x)).as_py())


def _compare_with_nan(op: BinaryOperator, a: pa.Array, b: pa.Array) -> pa.Array:
    """Float comparison as DataFusion does it: NaN equals NaN and is greater than every number
    (IEEE, and pyarrow, answer false to every comparison with a NaN)."""
    a_nan, b_nan = pc.is_nan(a), pc.is_nan(b)
    some_nan = pc.fill_null(pc.or_(a_nan, b_nan), False)
    # Where a NaN is involved the answer depends only on which sides are NaN (NaN is the top).
    by_nan = _COMPARE[op](a_nan.cast(pa.int8()), b_nan.cast(pa.int8()))
    return pc.if_else(some_nan, by_nan, _COMPARE[op](a, b))


def _has_zero(divisor: pa.Array) -> bool:
    return bool(pc.any(pc.equal(divisor, pa.scalar(0, divisor.type))).as_py() or False)


def _integer_arithmetic(op: BinaryOperator, a: pa.Array, b: pa.Array, t: pa.DataType) -> pa.Array:
    a, b = a.cast(t, safe=False), b.cast(t, safe=False)
    if op is BinaryOperator.ADD:
        return pc.add(a, b)  # wraps on overflow, as DataFusion's default
    if op is BinaryOperator.SUBTRACT:
        return pc.subtract(a, b)
    if op is BinaryOperator.MULTIPLY:
        return pc.multiply(a, b)
    if _has_zero(b):
        raise ExecutionError("Divide by zero")
    if pa.types.is_signed_integer(t):
        lo, _ = int_bounds(t)
        overflow = pc.and_(pc.equal(a, pa.scalar(lo, t)), pc.equal(b, pa.scalar(-1, t)))
        if pc.any(overflow).as_py():
            raise ExecutionError(f"Arithmetic overflow: {lo} {op.value} -1")
    if op is BinaryOperator.DIVIDE:
        return pc.divide(a, b)  # C++ integer division: truncates toward zero, like SQL
    # pyarrow has no modulo kernel; np.fmod keeps the dividend's sign (SQL, C).
    valid = _valid_mask(a) & _valid_mask(b)
    x, y = _numpy_values(a), _numpy_values(b, 1)
    return _from_numpy(np.fmod(x, np.where(valid, y, 1)), valid, t)


def _float_arithmetic(op: BinaryOperator, a: pa.Array, b: pa.Array, t: pa.DataType) -> pa.Array:
    a, b = _cast_array(a, t, safe=False), _cast_array(b, t, safe=False)
    if op is BinaryOperator.ADD:
        return pc.add(a, b)
    if op is BinaryOperator.SUBTRACT:
        return pc.subtract(a, b)
    if op is BinaryOperator.MULTIPLY:
        return pc.multiply(a, b)
    if op is BinaryOperator.DIVIDE:
        return pc.divide(a, b)  # x/0.0 → ±inf, 0/0 → NaN (IEEE, as DataFusion)
    valid = _valid_mask(a) & _valid_mask(b)
    with np.errstate(invalid="ignore", divide="ignore"):
        return _from_numpy(np.fmod(_numpy_values(a, 0.0), _numpy_values(b, 1.0)), valid, t)
