"""binary: the integer bit operators &, |, ^ (BIT_XOR), << and >>, checked against DataFusion.

DataFusion's shifts wrap the count modulo the bit width (Rust's wrapping_shl / wrapping_shr: a
count of -1 shifts by width - 1, 65 by 1 on 64 bits) and >> is arithmetic on signed types; C++
(libcudf) and Arrow leave such counts undefined, so the kernels must reduce them first."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from planner.expr import BinaryOperator as Op
from planner.expr import Literal

I64 = pa.int64()

SQL = {Op.BITWISE_AND: "&", Op.BITWISE_OR: "|", Op.BITWISE_XOR: "^", Op.SHIFT_LEFT: "<<", Op.SHIFT_RIGHT: ">>"}
OPS = list(SQL)

TABLE = pa.table(
    {
        "a": pa.array([6, -7, 1, -1, 0, None, 2**62, 5, -(2**63), 3], I64),
        "b": pa.array([3, 2, 63, 1, 5, 1, 1, None, 1, -1], I64),
        "c": pa.array([65, 64, -2, 70, 0, 3, 2, 1, 63, -64], I64),
        "x": pa.array([6, -7, 1, -1, 0, None, 2**31 - 1, 5, -(2**31), 3], pa.int32()),
        "y": pa.array([3, 2, 31, 1, 5, 1, 1, None, 1, 33], pa.int32()),
        "u": pa.array([200, 1, 255, 0, 7, None, 128, 3, 16, 2], pa.uint8()),
        "v": pa.array([1, 7, 3, 8, 0, 1, 9, 2, None, 1], pa.uint8()),
    }
)


def _operand(io: Any, x: str | Literal) -> Any:
    return x if isinstance(x, Literal) else io.column(TABLE.column(x).combine_chunks())


def check(kernels: Any, io: Any, oracle: Any, values_match: Any, op: Op, left: str | Literal,
          right: str | Literal, sql: str) -> None:
    __tracebackhide__ = True
    expected, dtype = oracle.eval(sql, TABLE)
    out = kernels.binary(op, _operand(io, left), _operand(io, right), dtype, TABLE.num_rows)
    actual = io.values(out, dtype)
    assert values_match(actual, expected), f"{sql}\n  actual:   {actual}\n  expected: {expected}"


@pytest.mark.parametrize("op", OPS, ids=lambda o: o.name)
@pytest.mark.parametrize("cols", [("a", "b"), ("a", "c"), ("x", "y"), ("u", "v")], ids="-".join)
def test_bit_operators_on_columns(kernels: Any, io: Any, oracle: Any, values_match: Any, op: Op,
                                  cols: tuple[str, str]) -> None:
    # ("a", "c"): shift counts outside [0, 64), negative ones included, wrap as in DataFusion.
    left, right = cols
    check(kernels, io, oracle, values_match, op, left, right, f"{left} {SQL[op]} {right}")


@pytest.mark.parametrize("op", OPS, ids=lambda o: o.name)
def test_bit_operators_with_literals(kernels: Any, io: Any, oracle: Any, values_match: Any, op: Op) -> None:
    s = SQL[op]
    check(kernels, io, oracle, values_match, op, "a", Literal(3, I64), f"a {s} 3")
    check(kernels, io, oracle, values_match, op, "a", Literal(-1, I64), f"a {s} -1")
    check(kernels, io, oracle, values_match, op, "a", Literal(65, I64), f"a {s} 65")
    check(kernels, io, oracle, values_match, op, Literal(12, I64), "b", f"12 {s} b")
    check(kernels, io, oracle, values_match, op, "a", Literal(None, I64), f"a {s} CAST(NULL AS BIGINT)")


def test_grouping_id_bits_in_uint8(kernels: Any, io: Any, oracle: Any, values_match: Any) -> None:
    # What GROUPING() becomes in DataFusion's plans: (__grouping_id & mask) >> shift, in UInt8.
    u8 = pa.uint8()
    masked = kernels.binary(Op.BITWISE_AND, _operand(io, "u"), Literal(6, u8), u8, TABLE.num_rows)
    out = kernels.binary(Op.SHIFT_RIGHT, masked, Literal(1, u8), u8, TABLE.num_rows)
    expected, dtype = oracle.eval("(u & CAST(6 AS TINYINT UNSIGNED)) >> CAST(1 AS TINYINT UNSIGNED)", TABLE)
    assert dtype == u8
    assert values_match(io.values(out, u8), expected)
