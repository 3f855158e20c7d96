"""unary (NOT, -, IS [NOT] NULL/TRUE/FALSE) and cast / TRY_CAST, against DataFusion."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from planner.errors import ExecutionError
from planner.expr import UnaryOperator as U

I64 = pa.int64()


def _col(io: Any, t: pa.Table, name: str) -> Any:
    return io.column(t.column(name).combine_chunks())


UNARY_TABLE = pa.table(
    {
        "b": pa.array([True, False, None]),
        "i": pa.array([5, -(2**63), None], I64),
        "f": pa.array([1.5, -0.0, None]),
        "d": pa.array([Decimal("1.25"), Decimal("-99.99"), None], pa.decimal128(4, 2)),
        "s": pa.array(["x", "", None]),
    }
)

UNARY_SQL = {
    U.NOT: "NOT {c}",
    U.NEGATE: "-{c}",
    U.IS_NULL: "{c} IS NULL",
    U.IS_NOT_NULL: "{c} IS NOT NULL",
    U.IS_TRUE: "{c} IS TRUE",
    U.IS_FALSE: "{c} IS FALSE",
    U.IS_NOT_TRUE: "{c} IS NOT TRUE",
    U.IS_NOT_FALSE: "{c} IS NOT FALSE",
}
UNARY_CASES = (
    [(op, "b") for op in UNARY_SQL if op is not U.NEGATE]
    + [(U.NEGATE, c) for c in ("i", "f", "d")]
    + [(op, c) for op in (U.IS_NULL, U.IS_NOT_NULL) for c in ("i", "s", "d")]
)


@pytest.mark.parametrize(("op", "col"), UNARY_CASES, ids=lambda x: getattr(x, "name", x))
def test_unary_matches_datafusion(
    kernels: Any, io: Any, oracle: Any, values_match: Any, op: U, col: str
) -> None:
    sql = UNARY_SQL[op].format(c=col)
    expected, dtype = oracle.eval(sql, UNARY_TABLE)
    out = io.values(kernels.unary(op, _col(io, UNARY_TABLE, col), dtype), dtype)
    assert values_match(out, expected), f"{sql}: {out} != {expected}"


def test_not_null_is_null_and_negate_wraps(kernels: Any, io: Any) -> None:
    assert io.values(kernels.unary(U.NOT, io.column([None, True], pa.bool_()), pa.bool_()), pa.bool_()) == [
        None,
        False,
    ]
    assert io.values(kernels.unary(U.NEGATE, io.column([-(2**63)], I64), I64), I64) == [-(2**63)]


CAST_TABLE = pa.table(
    {
        "f": pa.array([2.5, -2.5, 0.125, 1.005, 0.145, -2.99, 1e-7, None, 123.456, 99.95]),
        "f32": pa.array([0.1, 1.0, None, -2.5, 3e-8, 1e20, 0.5, 7.0, 1.5e15, 2.0], pa.float32()),
        "d": pa.array(
            [
                Decimal("123.456"),
                Decimal("-1.25"),
                Decimal("99.96"),
                Decimal("-0.05"),
                None,
                Decimal("2.999"),
                Decimal("-2.999"),
                Decimal("0"),
                Decimal("0.5"),
                Decimal("-0.5"),
            ],
            pa.decimal128(10, 3),
        ),
        "i": pa.array([300, -129, 5, 0, None, 2**31, -(2**31), 127, 1, -1], I64),
        "day": pa.array(
            [datetime.date(2020, 1, 2), None, datetime.date(1969, 12, 31), datetime.date(2024, 2, 29)] * 2
            + [datetime.date(1, 1, 1), datetime.date(9999, 12, 31)]
        ),
        "ts": pa.array(
            [
                datetime.datetime(2020, 1, 2, 3, 4, 5, 500000),
                None,
                datetime.datetime(1969, 12, 31, 23),
                datetime.datetime(2024, 2, 29),
                datetime.datetime(2024, 2, 29, 0, 0, 0, 123456),
            ]
            * 2,
            pa.timestamp("us"),
        ),
        "flag": pa.array([True, False, None] * 3 + [True]),
    }
)

SAFE_CASTS = [
    ("f", "DOUBLE", "DECIMAL(10, 2)"),
    ("f", "", "DECIMAL(3, 1)"),
    ("f", "", "INT"),
    ("f", "", "BIGINT"),
    ("f", "", "VARCHAR"),
    ("f32", "", "VARCHAR"),
    ("f32", "", "DOUBLE"),
    ("d", "", "INT"),
    ("d", "", "DECIMAL(3, 1)"),
    ("d", "", "DECIMAL(12, 1)"),
    ("d", "", "DECIMAL(10, 4)"),
    ("d", "", "DOUBLE"),
    ("d", "", "VARCHAR"),
    ("d", "", "DECIMAL(38, 0)"),
    ("i", "", "TINYINT"),
    ("i", "", "INT"),
    ("i", "", "DECIMAL(5, 2)"),
    ("i", "", "DOUBLE"),
    ("i", "", "VARCHAR"),
    ("i", "", "BOOLEAN"),
    ("flag", "", "INT"),
    ("flag", "", "VARCHAR"),
    ("day", "", "VARCHAR"),
    ("day", "", "TIMESTAMP"),
    ("ts", "", "DATE"),
    ("ts", "", "VARCHAR"),
]


@pytest.mark.parametrize(("col", "_", "to"), SAFE_CASTS, ids=lambda x: str(x))
def test_try_cast_matches_datafusion(
    kernels: Any, io: Any, oracle: Any, values_match: Any, col: str, _: str, to: str
) -> None:
    # TRY_CAST: values that do not fit become NULL. float → decimal rounds half away from zero
    # in f64 (1.005 → 1.00 since 1.005 * 100 = 100.4999...); float/decimal → int truncates.
    expected, dtype = oracle.eval(f"TRY_CAST({col} AS {to})", CAST_TABLE)
    out = io.values(kernels.cast(_col(io, CAST_TABLE, col), dtype, True), dtype)
    assert values_match(out, expected), f"TRY_CAST({col} AS {to})\n  actual:   {out}\n  expected: {expected}"


@pytest.mark.parametrize(("col", "_", "to"), SAFE_CASTS, ids=lambda x: str(x))
def test_cast_matches_datafusion_or_both_fail(
    kernels: Any, io: Any, oracle: Any, values_match: Any, col: str, _: str, to: str
) -> None:
    sql = f"CAST({col} AS {to})"
    try:
        expected, dtype = oracle.eval(sql, CAST_TABLE)
    except Exception:
        _, dtype = oracle.eval(f"TRY_CAST({col} AS {to})", CAST_TABLE)
        with pytest.raises(ExecutionError):
            kernels.cast(_col(io, CAST_TABLE, col), dtype, False)
        return
    out = io.values(kernels.cast(_col(io, CAST_TABLE, col), dtype, False), dtype)
    assert values_match(out, expected), f"{sql}\n  actual:   {out}\n  expected: {expected}"


STRINGS = pa.table(
    {
        "s": pa.array(
            [
                "12",
                " 12",
                "12 ",
                "+12",
                "-0012",
                "1e2",
                "",
                "12.5",
                ".5",
                "1.",
                "1.555",
                "-1.555",
                "abc",
                None,
                "99999999999",
                "-2147483648",
                "nan",
                "inf",
                "-Infinity",
                "NaN",
                "true",
                "t",
                "yes",
                "0",
                "off",
                "FALSE",
                "2020-01-02",
                "2020-1-2",
                "20200102",
                "2020-01-02T00:00:00",
                "2020-02-30",
                " 2020-01-02",
                "2020-01-02 10:00:00",
                "2020-01-02 10:00",
                "2020-01-02T10:00:00Z",
                "2020-01-02 10:00:00.123456789",
                "2020-01-02 10:00:00 ",
                # Which whitespace a number may carry: arrow-rs skips space, tab, LF, FF, CR only.
                "\x0112",
                "\u00a012",
                "\x0b12",
                "\x0c12",
                "\r12\n",
                "\u00a01.5",
                "\t1.5\x0c",
            ]
        )
    }
)


@pytest.mark.parametrize(
    "to",
    [
        "INT",
        "BIGINT",
        "SMALLINT",
        "DOUBLE",
        "DECIMAL(10, 2)",
        "DECIMAL(5, 0)",
        "DATE",
        "TIMESTAMP",
        "BOOLEAN",
    ],
)
def test_try_cast_from_strings_matches_datafusion(
    kernels: Any, io: Any, oracle: Any, values_match: Any, to: str
) -> None:
    expected, dtype = oracle.eval(f"TRY_CAST(s AS {to})", STRINGS)
    out = io.values(kernels.cast(_col(io, STRINGS, "s"), dtype, True), dtype)
    mismatches = [
        (v, a, e) for v, a, e in zip(STRINGS["s"].to_pylist(), out, expected) if not values_match([a], [e])
    ]
    assert not mismatches, f"TRY_CAST(s AS {to}): (input, actual, expected) {mismatches}"


def test_failing_cast_from_string_raises(kernels: Any, io: Any) -> None:
    with pytest.raises(ExecutionError, match="abc"):
        kernels.cast(io.column(["1", "abc"], pa.string()), pa.int32(), False)
    with pytest.raises(ExecutionError):
        kernels.cast(io.column(["2020-02-30"], pa.string()), pa.date32(), False)


def test_cast_decimal_rounding_and_scales(kernels: Any, io: Any) -> None:
    d = io.column([Decimal("-1.25"), Decimal("1.25"), Decimal("-1.24")], pa.decimal128(10, 2))
    # Fewer fraction digits: half away from zero (not truncation, not half-even).
    assert io.values(kernels.cast(d, pa.decimal128(10, 1), False), pa.decimal128(10, 1)) == [
        Decimal("-1.3"),
        Decimal("1.3"),
        Decimal("-1.2"),
    ]
    # To an integer: truncation toward zero.
    assert io.values(kernels.cast(d, pa.int32(), False), pa.int32()) == [-1, 1, -1]
    with pytest.raises(ExecutionError):
        kernels.cast(io.column([Decimal("123.45")], pa.decimal128(10, 2)), pa.decimal128(4, 2), False)
    assert io.values(
        kernels.cast(io.column([Decimal("123.45")], pa.decimal128(10, 2)), pa.decimal128(4, 2), True),
        pa.decimal128(4, 2),
    ) == [None]
