"""The simulated pylibcudf.binaryop, unary and round: libcudf's result types and scales, the
output type taking part in the arithmetic, null rules, and raising where libcudf gives garbage."""

from __future__ import annotations

import datetime
import sys
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "gpu_sim"))

import pylibcudf as plc  # noqa: E402

T, D = plc.TypeId, plc.DataType
B = plc.binaryop.BinaryOperator
U = plc.unary.UnaryOperator
R = plc.round.RoundingMethod


def col(values: list, t: pa.DataType | None = None) -> plc.Column:
    return plc.Column.from_arrow(pa.array(values, t))


def binop(a, b, op, out: D) -> list:
    result = plc.binaryop.binary_operation(a, b, op, out)
    assert result.type() == out
    return result.to_arrow().to_pylist()


# ---- binaryop -----------------------------------------------------------------------------------


def test_the_output_type_chooses_integer_or_float_division() -> None:
    a, b = col([5, -7, None], pa.int32()), col([2, 2, 3], pa.int32())
    assert binop(a, b, B.DIV, D(T.INT32)) == [2, -3, None]  # truncation toward zero
    assert binop(a, b, B.DIV, D(T.FLOAT64)) == [2.5, -3.5, None]
    assert binop(a, b, B.MOD, D(T.INT32)) == [1, -1, None]  # the dividend's sign


def test_integer_division_by_zero_raises_instead_of_garbage() -> None:
    a, b = col([1, 2], pa.int64()), col([1, 0], pa.int64())
    with pytest.raises(RuntimeError, match="simulated"):
        plc.binaryop.binary_operation(a, b, B.DIV, D(T.INT64))
    with pytest.raises(RuntimeError, match="simulated"):
        plc.binaryop.binary_operation(a, b, B.MOD, D(T.INT64))
    # a zero under a NULL row is no division
    nulled = col([1, None], pa.int64())
    assert binop(a, nulled, B.DIV, D(T.INT64)) == [1, None]
    assert binop(col([1.0]), col([0.0]), B.DIV, D(T.FLOAT64)) == [float("inf")]


def test_integer_arithmetic_wraps_in_the_common_type() -> None:
    big = col([2**31 - 1], pa.int32())
    assert binop(big, plc.Scalar.from_py(1, D(T.INT32)), B.ADD, D(T.INT32)) == [-(2**31)]
    assert binop(big, plc.Scalar.from_py(1, D(T.INT32)), B.ADD, D(T.INT64)) == [2**31]


def test_comparisons_are_null_when_either_side_is_and_null_equals_never() -> None:
    a, b = col([1, None, None, 2]), col([1, 3, None, None])
    assert binop(a, b, B.EQUAL, D(T.BOOL8)) == [True, None, None, None]
    assert binop(a, b, B.NULL_EQUALS, D(T.BOOL8)) == [True, False, True, False]
    assert binop(a, b, B.NULL_MAX, D(T.INT64)) == [1, 3, None, 2]
    with pytest.raises(TypeError):
        plc.binaryop.binary_operation(a, b, B.LESS, D(T.INT32))  # comparisons need BOOL8


def test_logical_and_or_are_not_kleene_but_the_null_variants_are() -> None:
    x, y = col([True, None, False, None]), col([None, False, None, True], pa.bool_())
    assert binop(x, y, B.LOGICAL_AND, D(T.BOOL8)) == [None, None, None, None]
    assert binop(x, y, B.NULL_LOGICAL_AND, D(T.BOOL8)) == [None, False, False, None]
    assert binop(x, y, B.NULL_LOGICAL_OR, D(T.BOOL8)) == [True, None, None, True]


def test_decimal_result_scales_and_truncation() -> None:
    a = col([Decimal("10.00"), Decimal("-1.25")], pa.decimal128(10, 2))
    b = col([Decimal("3.00"), Decimal("0.50")], pa.decimal128(10, 2))
    assert binop(a, b, B.DIV, D(T.DECIMAL128, 0)) == [Decimal(3), Decimal(-2)]  # s1 - s2
    assert binop(a, b, B.MUL, D(T.DECIMAL128, -4)) == [Decimal("30.0000"), Decimal("-0.6250")]
    assert binop(a, b, B.ADD, D(T.DECIMAL128, -2)) == [Decimal("13.00"), Decimal("-0.75")]
    assert binop(a, b, B.ADD, D(T.DECIMAL128, -1)) == [Decimal("13.0"), Decimal("-0.7")]  # truncated
    assert plc.binaryop.is_supported_operation(D(T.DECIMAL128, -2), D(T.DECIMAL128, -2), D(T.DECIMAL128, -2), B.ADD)


def test_decimals_of_different_widths_and_strings_with_ints_are_unsupported() -> None:
    d64, d128 = D(T.DECIMAL64, -2), D(T.DECIMAL128, -2)
    assert not plc.binaryop.is_supported_operation(d128, d64, d128, B.ADD)
    a = plc.unary.cast(col([Decimal("1.00")], pa.decimal128(10, 2)), d64)
    with pytest.raises(TypeError):
        plc.binaryop.binary_operation(a, col([Decimal("1.00")], pa.decimal128(10, 2)), B.ADD, d128)
    with pytest.raises(TypeError):
        plc.binaryop.binary_operation(col(["a"]), plc.Scalar.from_py(1), B.ADD, D(T.INT64))


def test_decimal_against_float_compares_the_truncated_float() -> None:
    # libcudf converts the float to a scale-0 decimal: 1.7 becomes 1, so 1.50 > 1.7 is "true".
    a = col([Decimal("1.50")], pa.decimal128(10, 2))
    assert binop(a, col([1.7]), B.GREATER, D(T.BOOL8)) == [True]


def test_decimal_overflow_raises_instead_of_wrapping() -> None:
    big = col([Decimal("9" * 36)], pa.decimal128(38, 0))
    with pytest.raises(OverflowError, match="simulated"):
        plc.binaryop.binary_operation(big, big, B.MUL, D(T.DECIMAL128, 0))


def test_timestamp_plus_duration_and_timestamp_differences() -> None:
    days = col([datetime.date(2024, 1, 31), None])
    three = plc.Scalar.from_py(3, D(T.DURATION_DAYS))
    assert binop(days, three, B.ADD, D(T.TIMESTAMP_DAYS)) == [datetime.date(2024, 2, 3), None]
    secs = D(T.DURATION_SECONDS)
    # a day plus seconds is a timestamp in seconds: a TIMESTAMP_DAYS output can't hold it
    assert not plc.binaryop.is_supported_operation(D(T.TIMESTAMP_DAYS), D(T.TIMESTAMP_DAYS), secs, B.ADD)
    assert plc.binaryop.is_supported_operation(D(T.TIMESTAMP_SECONDS), D(T.TIMESTAMP_DAYS), secs, B.ADD)
    diff = plc.binaryop.binary_operation(days, days, B.SUB, D(T.DURATION_DAYS))
    assert diff.null_count() == 1


# ---- unary --------------------------------------------------------------------------------------


def test_casts_libcudf_does_not_support_raise() -> None:
    assert not plc.unary.is_supported_cast(D(T.TIMESTAMP_DAYS), D(T.INT32))
    assert not plc.unary.is_supported_cast(D(T.INT32), D(T.STRING))
    assert plc.unary.is_supported_cast(D(T.DURATION_DAYS), D(T.INT32))
    with pytest.raises(RuntimeError):
        plc.unary.cast(col([datetime.date(2024, 1, 1)]), D(T.INT32))
    with pytest.raises(RuntimeError):
        plc.unary.cast(col([1]), D(T.STRING))


def test_cast_truncates_decimals_and_floats() -> None:
    d = col([Decimal("1.99"), Decimal("-1.99"), None], pa.decimal128(10, 2))
    assert plc.unary.cast(d, D(T.DECIMAL128, -1)).to_arrow().to_pylist() == [Decimal("1.9"), Decimal("-1.9"), None]
    assert plc.unary.cast(d, D(T.INT32)).to_arrow().to_pylist() == [1, -1, None]
    f = col([2.7, -2.7, float("nan")])
    as_decimal = plc.unary.cast(f, D(T.DECIMAL128, -0))
    assert as_decimal.to_arrow().to_pylist() == [Decimal(2), Decimal(-2), None]  # NaN becomes NULL
    assert plc.unary.cast(col([1.2]), D(T.DECIMAL64, -1)).to_arrow().to_pylist() == [Decimal("1.2")]
    with pytest.raises(RuntimeError, match="simulated"):
        plc.unary.cast(f, D(T.INT64))  # NaN → int is undefined behaviour
    assert plc.unary.cast(col([2.7, -2.7]), D(T.INT64)).to_arrow().to_pylist() == [2, -2]
    assert plc.unary.cast(col([300], pa.int32()), D(T.INT8)).to_arrow().to_pylist() == [44]  # wraps


def test_timestamp_casts_floor() -> None:
    ts = col([datetime.datetime(1969, 12, 31, 23, 0)], pa.timestamp("ms"))
    assert plc.unary.cast(ts, D(T.TIMESTAMP_DAYS)).to_arrow().to_pylist() == [datetime.date(1969, 12, 31)]


def test_unary_operations_keep_libcudf_types() -> None:
    ints = col([4, -9, None], pa.int32())
    assert plc.unary.unary_operation(ints, U.ABS).to_arrow().to_pylist() == [4, 9, None]
    root = plc.unary.unary_operation(col([10], pa.int32()), U.SQRT)
    assert root.type() == D(T.INT32) and root.to_arrow().to_pylist() == [3]
    assert plc.unary.unary_operation(col([True, None]), U.NOT).to_arrow().to_pylist() == [False, None]
    with pytest.raises(RuntimeError):
        plc.unary.unary_operation(col([1], pa.uint32()), U.NEGATE)
    d = col([Decimal("-1.25"), Decimal("1.25")], pa.decimal128(10, 2))
    assert plc.unary.unary_operation(d, U.FLOOR).to_arrow().to_pylist() == [Decimal("-2.00"), Decimal("1.00")]
    with pytest.raises(RuntimeError):
        plc.unary.unary_operation(d, U.SQRT)


def test_null_and_nan_tests_have_no_nulls() -> None:
    f = col([1.0, float("nan"), None])
    assert plc.unary.is_nan(f).to_arrow().to_pylist() == [False, True, False]
    assert plc.unary.is_not_nan(f).to_arrow().to_pylist() == [True, False, True]
    assert plc.unary.is_null(f).to_arrow().to_pylist() == [False, False, True]
    with pytest.raises(RuntimeError):
        plc.unary.is_nan(col([1]))


def test_bit_cast_needs_the_same_width_and_shares_the_buffer() -> None:
    days = col([datetime.date(1970, 1, 2)])
    as_int = plc.unary.bit_cast(days, D(T.INT32))
    assert as_int.to_arrow().to_pylist() == [1] and as_int.data().ptr == days.data().ptr
    with pytest.raises(RuntimeError):
        plc.unary.bit_cast(days, D(T.INT64))


# ---- round --------------------------------------------------------------------------------------


def test_round_half_up_is_away_from_zero_and_half_even_to_even() -> None:
    f = col([2.5, -2.5, 0.125, 2.675])
    assert plc.round.round(f, 0, R.HALF_UP).to_arrow().to_pylist()[:2] == [3.0, -3.0]
    assert plc.round.round(f, 0, R.HALF_EVEN).to_arrow().to_pylist()[:2] == [2.0, -2.0]
    assert plc.round.round(f, 2, R.HALF_UP).to_arrow().to_pylist()[3] == 2.67  # binary 2.675 is below


def test_round_of_a_decimal_changes_its_scale() -> None:
    d = col([Decimal("1.25"), Decimal("-1.25"), None], pa.decimal128(10, 2))
    up = plc.round.round(d, 1, R.HALF_UP)
    assert up.type() == D(T.DECIMAL128, -1)
    assert up.to_arrow().to_pylist() == [Decimal("1.3"), Decimal("-1.3"), None]
    assert plc.round.round(d, 1, R.HALF_EVEN).to_arrow().to_pylist() == [Decimal("1.2"), Decimal("-1.2"), None]
    assert plc.round.round(d, 3).type() == D(T.DECIMAL128, -3)
    assert plc.round.round(col([15, -25], pa.int64()), -1).to_arrow().to_pylist() == [20, -30]
    with pytest.raises(RuntimeError):
        plc.round.round(col([True]), 0)
