"""group_by and average: NULL keys group, exact result types, empty inputs, decimal widths."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

I64 = pa.int64()


def _sorted(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return sorted(rows, key=lambda r: tuple((v is None, str(v)) for v in r))


VALUE_CASES = {
    "int32": (pa.int32(), [3, None, -7, 2**31 - 1, 5, None, 2**31 - 1]),
    "float64": (pa.float64(), [1.5, None, -0.25, 1e10, 3.0, None, 2.0]),
    "decimal(15,2)": (
        pa.decimal128(15, 2),
        [
            Decimal("9999999999999.99"),
            None,
            Decimal("-1.25"),
            Decimal("9999999999999.99"),
            Decimal("0.01"),
            None,
            Decimal("3.10"),
        ],
    ),
    "decimal(38,4)": (
        pa.decimal128(38, 4),
        [
            Decimal("1.0001"),
            None,
            Decimal("-2.5"),
            Decimal("3"),
            Decimal("0"),
            None,
            Decimal("12345678901234567890.1234"),
        ],
    ),
    "string": (pa.string(), ["b", None, "a", "é", "", None, "b"]),
}
KEYS = ["x", None, "y", "x", None, "y", "x"]


@pytest.mark.parametrize("case", list(VALUE_CASES))
def test_group_by_matches_datafusion(kernels: Any, io: Any, oracle: Any, case: str) -> None:
    dtype, values = VALUE_CASES[case]
    t = pa.table({"k": pa.array(KEYS), "v": pa.array(values, dtype)})
    numeric = not pa.types.is_string(dtype)
    sql = (
        "SELECT k, "
        + ("sum(v) AS s, " if numeric else "")
        + "min(v) AS lo, max(v) AS hi, count(v) AS c, count(*) AS n FROM t GROUP BY k"
    )
    expected = oracle.query(sql, t=t)
    funcs = (["sum"] if numeric else []) + ["min", "max", "count", "count_all"]
    specs = [
        (None if f == "count_all" else 1, f, expected.schema.field(i + 1).type) for i, f in enumerate(funcs)
    ]
    out = kernels.group_by(io.table(t), [0], specs)
    assert _sorted(io.rows(out, expected.schema)) == _sorted(
        list(zip(*(c.to_pylist() for c in expected.columns)))
    )


def test_decimal_sum_does_not_overflow_the_input_width(kernels: Any, io: Any, oracle: Any) -> None:
    # DataFusion: SUM(decimal(15, 2)) is decimal(25, 2); 10 000 values near 10^13 need 17 digits.
    n = 10_000
    t = pa.table(
        {
            "k": pa.array([i % 2 for i in range(n)], I64),
            "v": pa.array([Decimal("9999999999999.99")] * n, pa.decimal128(15, 2)),
        }
    )
    expected = oracle.query("SELECT k, sum(v) AS s FROM t GROUP BY k", t=t)
    assert expected.schema.field(1).type == pa.decimal128(25, 2)
    out = kernels.group_by(io.table(t), [0], [(1, "sum", pa.decimal128(25, 2))])
    assert _sorted(io.rows(out, expected.schema)) == [
        (0, Decimal("49999999999999950.00")),
        (1, Decimal("49999999999999950.00")),
    ]


def test_null_keys_are_one_group_and_all_null_groups_aggregate_to_null(kernels: Any, io: Any) -> None:
    t = pa.table({"k": pa.array([None, 1, None, 1], I64), "v": pa.array([None, None, 4, None], I64)})
    schema = pa.schema([("k", I64), ("s", I64), ("lo", I64), ("c", I64), ("n", I64)])
    out = kernels.group_by(
        io.table(t), [0], [(1, "sum", I64), (1, "min", I64), (1, "count", I64), (None, "count_all", I64)]
    )
    assert _sorted(io.rows(out, schema)) == _sorted([(None, 4, 4, 1, 2), (1, None, None, 0, 2)])


def test_several_keys_including_null_combinations(kernels: Any, io: Any) -> None:
    t = pa.table(
        {"a": ["x", "x", None, None, "x"], "b": pa.array([1, None, 1, 1, None], I64), "v": [1, 2, 3, 4, 5]}
    )
    schema = pa.schema([("a", pa.string()), ("b", I64), ("s", I64)])
    out = kernels.group_by(io.table(t), [0, 1], [(2, "sum", I64)])
    assert _sorted(io.rows(out, schema)) == _sorted([("x", 1, 1), ("x", None, 7), (None, 1, 7)])


def test_no_keys_gives_one_row_even_for_empty_input(kernels: Any, io: Any, oracle: Any) -> None:
    t = pa.table({"v": pa.array([], pa.decimal128(10, 2))})
    expected = oracle.query("SELECT sum(v) AS s, min(v) AS lo, count(v) AS c, count(*) AS n FROM t", t=t)
    specs = [
        (0, "sum", pa.decimal128(20, 2)),
        (0, "min", pa.decimal128(10, 2)),
        (0, "count", I64),
        (None, "count_all", I64),
    ]
    out = kernels.group_by(io.table(t), [], specs)
    assert (
        io.rows(out, expected.schema)
        == [(None, None, 0, 0)]
        == list(zip(*(c.to_pylist() for c in expected.columns)))
    )
    full = pa.table({"v": pa.array([Decimal("1.5"), None, Decimal("2")], pa.decimal128(10, 2))})
    out = kernels.group_by(io.table(full), [], specs)
    assert io.rows(out, expected.schema) == [(Decimal("3.50"), Decimal("1.50"), 2, 3)]


def test_keys_with_empty_input_give_no_rows(kernels: Any, io: Any) -> None:
    t = pa.table({"k": pa.array([], pa.string()), "v": pa.array([], I64)})
    out = kernels.group_by(io.table(t), [0], [(1, "sum", I64), (None, "count_all", I64)])
    assert io.rows(out, pa.schema([("k", pa.string()), ("s", I64), ("n", I64)])) == []


def test_sum_of_int32_and_float32_widen(kernels: Any, io: Any) -> None:
    t = pa.table({"a": pa.array([2**31 - 1, 2**31 - 1], pa.int32()), "f": pa.array([0.1, 0.2], pa.float32())})
    out = kernels.group_by(io.table(t), [], [(0, "sum", I64), (1, "sum", pa.float64())])
    ((total, ftotal),) = io.rows(out, pa.schema([("s", I64), ("f", pa.float64())]))
    assert total == 2 * (2**31 - 1)
    assert ftotal == pytest.approx(
        float(pa.scalar(0.1, pa.float32()).as_py()) + float(pa.scalar(0.2, pa.float32()).as_py())
    )



def test_grouped_sum_of_uint64_stays_uint64(kernels: Any, io: Any) -> None:
    # libcudf sums any integer into INT64; the planned type (DataFusion: UInt64) is what comes back.
    t = pa.table({"k": [1, 1, 2], "v": pa.array([2**62, 2**62 - 1, 5], pa.uint64())})
    out = kernels.group_by(io.table(t), [0], [(1, "sum", pa.uint64())])
    got = dict(io.rows(out, pa.schema([("k", I64), ("s", pa.uint64())])))
    assert got == {1: 2**63 - 1, 2: 5}

def test_any_value_is_a_value_of_the_group(kernels: Any, io: Any) -> None:
    t = pa.table({"k": [1, 1, 2, 3], "v": ["a", "b", None, "c"]})
    out = kernels.group_by(io.table(t), [0], [(1, "any_value", pa.string())])
    got = dict(io.rows(out, pa.schema([("k", I64), ("v", pa.string())])))
    assert got[1] in ("a", "b") and got[2] is None and got[3] == "c"


def test_many_groups_match_datafusion(kernels: Any, io: Any, oracle: Any) -> None:
    rng = random.Random(3)
    n = 20_000
    t = pa.table(
        {
            "k": pa.array([rng.choice([None, *range(500)]) for _ in range(n)], I64),
            "v": pa.array(
                [rng.choice([None, Decimal(rng.randint(-(10**6), 10**6)) / 100]) for _ in range(n)],
                pa.decimal128(12, 2),
            ),
        }
    )
    expected = oracle.query("SELECT k, sum(v) AS s, count(v) AS c, max(v) AS hi FROM t GROUP BY k", t=t)
    specs = [
        (1, "sum", expected.schema.field(1).type),
        (1, "count", I64),
        (1, "max", expected.schema.field(3).type),
    ]
    out = kernels.group_by(io.table(t), [0], specs)
    assert _sorted(io.rows(out, expected.schema)) == _sorted(
        list(zip(*(c.to_pylist() for c in expected.columns)))
    )


# ---- average(total, count, out_type) --------------------------------------------------------

AVG_CASES = [
    ([Decimal("1"), Decimal("2"), Decimal("2")], pa.decimal128(10, 2)),  # 1.666666 (truncated)
    ([Decimal("-1"), Decimal("-2"), Decimal("-2")], pa.decimal128(10, 2)),  # -1.666666
    ([Decimal("0.01"), Decimal("0.02")], pa.decimal128(5, 2)),
    ([Decimal("12345678901234567890123456.78"), Decimal("1")], pa.decimal128(35, 2)),
    ([1.0, 2.0, 4.0], pa.float64()),
    ([None, None], pa.decimal128(10, 2)),
]


@pytest.mark.parametrize(("values", "dtype"), AVG_CASES)
def test_average_from_sum_and_count_matches_datafusion_avg(
    kernels: Any, io: Any, oracle: Any, values: list[Any], dtype: pa.DataType
) -> None:
    t = pa.table({"v": pa.array(values, dtype)})
    expected, avg_type = oracle.eval("avg(v)", t)
    sums = oracle.query("SELECT sum(v) AS s, count(v) AS c FROM t", t=t)
    total = io.column(sums.column(0).combine_chunks())
    count = io.column(sums.column(1).combine_chunks())
    assert io.values(kernels.average(total, count, avg_type), avg_type) == expected


def test_average_of_zero_count_is_null(kernels: Any, io: Any) -> None:
    total = io.column([Decimal("0"), Decimal("10")], pa.decimal128(20, 2))
    count = io.column([0, 4], I64)
    assert io.values(kernels.average(total, count, pa.decimal128(14, 6)), pa.decimal128(14, 6)) == [
        None,
        Decimal("2.500000"),
    ]
    assert io.values(
        kernels.average(io.column([None, 3.0], pa.float64()), io.column([0, 2], I64), pa.float64()),
        pa.float64(),
    ) == [None, 1.5]
