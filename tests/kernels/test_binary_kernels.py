"""binary: arithmetic (integer, float, decimal, date/interval), comparisons, Kleene AND/OR,
IS [NOT] DISTINCT FROM and ||, each checked against the same SQL expression in DataFusion."""

from __future__ import annotations

import datetime
import itertools
import random
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from planner.errors import ExecutionError
from planner.expr import BinaryOperator as Op
from planner.expr import Literal

I64 = pa.int64()


def _operand(io: Any, t: pa.Table, x: str | Literal) -> Any:
    return x if isinstance(x, Literal) else io.column(t.column(x).combine_chunks())


def check(
    kernels: Any,
    io: Any,
    oracle: Any,
    values_match: Any,
    t: pa.Table,
    op: Op,
    left: str | Literal,
    right: str | Literal,
    sql: str,
) -> None:
    """``left op right`` through the kernel equals ``sql`` in DataFusion, values and type."""
    __tracebackhide__ = True
    expected, dtype = oracle.eval(sql, t)
    out = kernels.binary(op, _operand(io, t, left), _operand(io, t, right), dtype, t.num_rows)
    actual = io.values(out, dtype)
    assert values_match(actual, expected), f"{sql}\n  actual:   {actual}\n  expected: {expected}"


INTS = pa.table(
    {
        "a": pa.array([7, -7, 7, -7, 0, None, 2**62, 5], I64),
        "b": pa.array([2, 2, -2, -2, 3, 1, 3, None], I64),
        "x": pa.array([7, -7, 7, -7, 0, None, 2**31 - 1, 5], pa.int32()),
        "y": pa.array([2, 2, -2, -2, 3, 1, 2, None], pa.int32()),
    }
)


@pytest.mark.parametrize("op", [Op.ADD, Op.SUBTRACT, Op.MULTIPLY, Op.DIVIDE, Op.MODULO], ids=lambda o: o.name)
@pytest.mark.parametrize("cols", [("a", "b"), ("x", "y")])
def test_integer_arithmetic_truncates_and_wraps_like_datafusion(
    kernels: Any, io: Any, oracle: Any, values_match: Any, op: Op, cols: tuple[str, str]
) -> None:
    # int32 2^31-1 * 2 wraps (DataFusion's default); -7 / 2 = -3 and -7 % 2 = -1 (toward zero).
    check(kernels, io, oracle, values_match, INTS, op, cols[0], cols[1], f"{cols[0]} {op.value} {cols[1]}")


@pytest.mark.parametrize("op", [Op.ADD, Op.SUBTRACT, Op.MULTIPLY, Op.DIVIDE, Op.MODULO], ids=lambda o: o.name)
def test_integer_arithmetic_with_literals_on_either_side(
    kernels: Any, io: Any, oracle: Any, values_match: Any, op: Op
) -> None:
    check(kernels, io, oracle, values_match, INTS, op, "a", Literal(3, I64), f"a {op.value} 3")
    check(kernels, io, oracle, values_match, INTS, op, Literal(100, I64), "b", f"100 {op.value} b")
    check(
        kernels,
        io,
        oracle,
        values_match,
        INTS,
        op,
        "a",
        Literal(None, I64),
        f"a {op.value} CAST(NULL AS BIGINT)",
    )


@pytest.mark.parametrize("op", [Op.DIVIDE, Op.MODULO], ids=lambda o: o.name)
def test_integer_division_by_zero_raises(kernels: Any, io: Any, oracle: Any, op: Op) -> None:
    t = pa.table({"a": pa.array([1, 2], I64), "b": pa.array([1, 0], I64)})
    with pytest.raises(Exception, match="(?i)divide by zero"):
        oracle.eval(f"a {op.value} b", t)
    with pytest.raises(ExecutionError, match="(?i)divide by zero"):
        kernels.binary(op, io.column(t["a"].combine_chunks()), io.column(t["b"].combine_chunks()), I64, 2)


def test_division_by_a_null_divisor_is_null_not_an_error(kernels: Any, io: Any) -> None:
    # A NULL divisor row may hold 0 underneath: it must not raise.
    out = kernels.binary(Op.DIVIDE, io.column([4, 5], I64), io.column([None, 5], I64), I64, 2)
    assert io.values(out, I64) == [None, 1]


def test_float_arithmetic(kernels: Any, io: Any, oracle: Any, values_match: Any) -> None:
    t = pa.table({"f": [1.5, -2.5, 0.0, None, 1e300, 5.5], "g": [0.0, 2.0, 0.0, 1.0, 1e300, -2.0]})
    for op in (Op.ADD, Op.SUBTRACT, Op.MULTIPLY, Op.DIVIDE, Op.MODULO):
        check(kernels, io, oracle, values_match, t, op, "f", "g", f"f {op.value} g")


DECIMAL_TYPES = [(10, 2), (15, 2), (5, 3), (12, 0), (38, 10), (38, 2), (20, 5), (30, 12)]


def _random_decimals(rng: random.Random, precision: int, scale: int, n: int) -> pa.Array:
    digits = min(precision, 20)
    values = []
    for i in range(n):
        if i % 9 == 0:
            values.append(None)
            continue
        unscaled = rng.randint(-(10**digits) + 1, 10**digits - 1) // rng.choice(
            [1, 10, 10**3, 10 ** (digits // 2)]
        )
        values.append(Decimal(unscaled).scaleb(-scale))
    return pa.array(values, pa.decimal128(precision, scale))


@pytest.mark.parametrize(("lt", "rt"), list(itertools.combinations(DECIMAL_TYPES, 2)), ids=str)
@pytest.mark.parametrize("op", [Op.ADD, Op.SUBTRACT, Op.MULTIPLY, Op.DIVIDE, Op.MODULO], ids=lambda o: o.name)
def test_decimal_arithmetic_matches_datafusion(
    kernels: Any, io: Any, oracle: Any, values_match: Any, lt: tuple[int, int], rt: tuple[int, int], op: Op
) -> None:
    rng = random.Random(f"{lt}{rt}{op.name}")  # a str seed is stable across processes
    t = pa.table({"a": _random_decimals(rng, *lt, 60), "b": _random_decimals(rng, *rt, 60)})
    if op in (Op.DIVIDE, Op.MODULO):
        t = t.filter(pa.compute.not_equal(t["b"], pa.scalar(Decimal(0), t.schema.field("b").type)))
    sql = f"a {op.value} b"
    try:
        _, dtype = oracle.eval(sql, t)
    except Exception as exc:
        if "overflow" not in str(exc).lower():
            pytest.skip(f"DataFusion refuses {sql} for {lt}, {rt}: {str(exc).splitlines()[0][:100]}")
        # DataFusion overflows at run time: the kernel must fail too, not wrap silently.
        dtype = oracle.query(f"SELECT arrow_typeof({sql}) AS t FROM t LIMIT 1", t=t).column(0)[0].as_py()
        out_type = pa.decimal128(*map(int, dtype[dtype.index("(") + 1 : -1].split(",")))
        with pytest.raises(ExecutionError):
            kernels.binary(
                op,
                io.column(t["a"].combine_chunks()),
                io.column(t["b"].combine_chunks()),
                out_type,
                t.num_rows,
            )
        return
    check(kernels, io, oracle, values_match, t, op, "a", "b", sql)


@pytest.mark.parametrize(
    ("a", "b"), [("10.00", "3.00"), ("-7.05", "2.00"), ("2", "3"), ("-2", "3"), ("1", "7")]
)
def test_decimal_division_truncates_at_the_planned_scale(
    kernels: Any, io: Any, oracle: Any, values_match: Any, a: str, b: str
) -> None:
    for (pa_, sa), (pb, sb) in [
        ((10, 2), (10, 2)),
        ((38, 10), (38, 10)),
        ((38, 2), (20, 5)),
        ((15, 2), (15, 2)),
    ]:
        t = pa.table(
            {
                "a": pa.array([Decimal(a)], pa.decimal128(pa_, sa)),
                "b": pa.array([Decimal(b)], pa.decimal128(pb, sb)),
            }
        )
        check(kernels, io, oracle, values_match, t, Op.DIVIDE, "a", "b", "a / b")


def test_decimal_division_by_zero_raises(kernels: Any, io: Any) -> None:
    d = pa.decimal128(10, 2)
    with pytest.raises(ExecutionError, match="(?i)divide by zero"):
        kernels.binary(
            Op.DIVIDE, io.column([Decimal(1)], d), io.column([Decimal(0)], d), pa.decimal128(23, 13), 1
        )


def test_decimal_and_literal(kernels: Any, io: Any, oracle: Any, values_match: Any) -> None:
    t = pa.table({"p": pa.array([Decimal("10.00"), Decimal("-3.33"), None], pa.decimal128(15, 2))})
    # TPC-H style: price * (1 - discount); the literal arrives typed by DataFusion.
    check(
        kernels,
        io,
        oracle,
        values_match,
        t,
        Op.SUBTRACT,
        Literal(Decimal("1"), pa.decimal128(20, 0)),
        "p",
        "CAST(1 AS DECIMAL(20, 0)) - p",
    )
    check(
        kernels,
        io,
        oracle,
        values_match,
        t,
        Op.MULTIPLY,
        "p",
        Literal(Decimal("0.5"), pa.decimal128(3, 1)),
        "p * CAST(0.5 AS DECIMAL(3, 1))",
    )


COMPARE_OPS = [Op.EQ, Op.NOT_EQ, Op.LT, Op.LT_EQ, Op.GT, Op.GT_EQ]
COMPARE_TABLE = pa.table(
    {
        "i": pa.array([1, 2, None, 4, 5], I64),
        "j": pa.array([1, 3, 3, None, 4], I64),
        "s": pa.array(["a", "B", None, "é", ""]),
        "t": pa.array(["a", "b", "x", "e", "a"]),
        "d": pa.array(
            [Decimal("1.10"), Decimal("2"), None, Decimal("-1"), Decimal("0")], pa.decimal128(10, 2)
        ),
        "e": pa.array(
            [Decimal("1.100"), Decimal("1.999"), Decimal(1), Decimal("-1"), None], pa.decimal128(12, 3)
        ),
        "day": pa.array([datetime.date(2024, 1, d) for d in (1, 2, 3, 4, 5)]),
        "day2": pa.array([datetime.date(2024, 1, d) if d else None for d in (1, 1, 9, None, 6)]),
        "f": pa.array([float("nan"), 1.0, float("nan"), -0.0, None]),
        "g": pa.array([float("nan"), float("nan"), 1.0, 0.0, 1.0]),
    }
)


@pytest.mark.parametrize("op", COMPARE_OPS, ids=lambda o: o.name)
@pytest.mark.parametrize("cols", [("i", "j"), ("s", "t"), ("d", "e"), ("day", "day2"), ("f", "g")])
def test_comparisons_match_datafusion(
    kernels: Any, io: Any, oracle: Any, values_match: Any, op: Op, cols: tuple[str, str]
) -> None:
    # Floats: DataFusion has NaN = NaN and NaN above every number; -0.0 = 0.0.
    check(
        kernels,
        io,
        oracle,
        values_match,
        COMPARE_TABLE,
        op,
        cols[0],
        cols[1],
        f"{cols[0]} {op.value} {cols[1]}",
    )


def test_comparisons_with_literals(kernels: Any, io: Any, oracle: Any, values_match: Any) -> None:
    t = COMPARE_TABLE
    check(
        kernels,
        io,
        oracle,
        values_match,
        t,
        Op.LT,
        "day",
        Literal(datetime.date(2024, 1, 3), pa.date32()),
        "day < DATE '2024-01-03'",
    )
    check(kernels, io, oracle, values_match, t, Op.GT_EQ, Literal("b", pa.string()), "s", "'b' >= s")
    check(
        kernels,
        io,
        oracle,
        values_match,
        t,
        Op.EQ,
        "d",
        Literal(Decimal("2.00"), pa.decimal128(10, 2)),
        "d = CAST(2 AS DECIMAL(10, 2))",
    )


BOOLS = pa.table(
    {
        "p": pa.array([True, True, True, False, False, False, None, None, None]),
        "q": pa.array([True, False, None, True, False, None, True, False, None]),
    }
)


@pytest.mark.parametrize("op", [Op.AND, Op.OR], ids=lambda o: o.name)
def test_and_or_are_three_valued(kernels: Any, io: Any, oracle: Any, values_match: Any, op: Op) -> None:
    check(kernels, io, oracle, values_match, BOOLS, op, "p", "q", f"p {op.value} q")
    check(kernels, io, oracle, values_match, BOOLS, op, "p", Literal(None, pa.bool_()), f"p {op.value} NULL")
    check(
        kernels, io, oracle, values_match, BOOLS, op, Literal(False, pa.bool_()), "q", f"false {op.value} q"
    )


@pytest.mark.parametrize("op", [Op.IS_DISTINCT_FROM, Op.IS_NOT_DISTINCT_FROM], ids=lambda o: o.name)
@pytest.mark.parametrize("cols", [("i", "j"), ("s", "t"), ("d", "e")])
def test_is_distinct_from_is_never_null(
    kernels: Any, io: Any, oracle: Any, values_match: Any, op: Op, cols: tuple[str, str]
) -> None:
    check(
        kernels,
        io,
        oracle,
        values_match,
        COMPARE_TABLE,
        op,
        cols[0],
        cols[1],
        f"{cols[0]} {op.value} {cols[1]}",
    )


def test_string_concat_operator_is_null_if_either_side_is(
    kernels: Any, io: Any, oracle: Any, values_match: Any
) -> None:
    check(kernels, io, oracle, values_match, COMPARE_TABLE, Op.STRING_CONCAT, "s", "t", "s || t")
    check(
        kernels,
        io,
        oracle,
        values_match,
        COMPARE_TABLE,
        Op.STRING_CONCAT,
        "s",
        Literal("!", pa.string()),
        "s || '!'",
    )


DATES = pa.table(
    {
        "day": pa.array(
            [
                datetime.date(2020, 1, 31),
                datetime.date(2020, 2, 29),
                datetime.date(1970, 1, 1),
                datetime.date(1969, 12, 31),
                None,
                datetime.date(2021, 3, 31),
            ]
        ),
        "other": pa.array(
            [
                datetime.date(2020, 1, 1),
                None,
                datetime.date(1971, 1, 1),
                datetime.date(1970, 1, 1),
                datetime.date(2000, 1, 1),
                datetime.date(2021, 3, 1),
            ]
        ),
        "ts": pa.array(
            [
                datetime.datetime(2020, 1, 31, 10, 0),
                datetime.datetime(2020, 2, 29, 23, 59, 59, 500000),
                datetime.datetime(1970, 1, 1),
                datetime.datetime(1969, 12, 31, 23),
                None,
                datetime.datetime(2021, 3, 31, 0, 0, 1),
            ],
            pa.timestamp("ns"),
        ),
    }
)

INTERVALS = {
    "1 month": (1, 0, 0),
    "1 month 1 day": (1, 1, 0),
    "1 year": (12, 0, 0),
    "-1 month": (-1, 0, 0),
    "3 day": (0, 3, 0),
    "25 hours": (0, 0, 25 * 3600 * 10**9),
    "1 hour": (0, 0, 3600 * 10**9),
}


@pytest.mark.parametrize("interval", list(INTERVALS))
@pytest.mark.parametrize("op", [Op.ADD, Op.SUBTRACT], ids=lambda o: o.name)
@pytest.mark.parametrize("col", ["day", "ts"])
def test_date_and_timestamp_plus_minus_interval(
    kernels: Any, io: Any, oracle: Any, values_match: Any, interval: str, op: Op, col: str
) -> None:
    # Months first with the day clamped to the month's end, then days, then nanoseconds (which
    # a DATE takes only as whole days, truncated).
    lit = Literal(INTERVALS[interval], pa.month_day_nano_interval())
    check(kernels, io, oracle, values_match, DATES, op, col, lit, f"{col} {op.value} INTERVAL '{interval}'")


def test_date_minus_date_is_days(kernels: Any, io: Any, oracle: Any, values_match: Any) -> None:
    check(kernels, io, oracle, values_match, DATES, Op.SUBTRACT, "day", "other", "day - other")
