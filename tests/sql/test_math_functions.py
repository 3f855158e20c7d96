"""Math functions and nvl/nvl2/greatest/least in SQL, against DataFusion: NULLs, NaN, signed zeros,
infinities, out-of-domain values, integers and decimals coerced to Float64, Float32 kept."""

from __future__ import annotations

import os
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from planner.errors import ExecutionError

NAN, INF = float("nan"), float("inf")


@pytest.fixture(scope="module")
def math_tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("math")
    m = pa.table(
        {
            "id": pa.array(range(1, 10), pa.int64()),
            "x": pa.array([0.5, -0.0, NAN, None, -1.5, 3.0, -INF, 1.0, 1e308]),
            "y": pa.array([2.0, -1.0, 0.0, 1.5, None, NAN, 3.0, -0.5, 10.0]),
            "p": pa.array([0.0, -0.0, NAN, None, 2.0, 1e-300, INF, 16.0, 0.25]),
            "i": pa.array([12, -4, 0, None, 7, -(2**40), 0, 18, 1], pa.int64()),
            "j": pa.array([18, 6, 0, 5, None, 3, 5, -12, 20], pa.int32()),
            "f": pa.array([2.5, -2.5, 0.125, None, 1.5, 3.0, -0.0, 7.25, NAN], pa.float32()),
            "d": pa.array([Decimal(v) if v else None for v in
                           ["-2.345", "2.355", "15", None, "-1.55", "0.5", "-0.5", "999.999", "0.001"]],
                          pa.decimal128(10, 3)),
        }
    )
    path = root / "m.parquet"
    pq.write_table(m, path, row_group_size=4)
    return {"m": str(path)}


QUERIES = [
    "select id, sqrt(p), cbrt(x), exp(x), ln(x), log(x), log10(x), log2(x) from m",
    "select id, log(2, x), log(y, p), log(10, d), ln(d), log(d), sqrt(abs(d)), sqrt(abs(i)) from m",
    "select id, power(y, x), pow(x, 2), power(x, 0.5), power(i, 2), power(d, 2), power(2, j) from m",
    "select id, sin(x), cos(x), tan(x), cot(x), asin(x), acos(x), atan(x), atan2(x, y) from m",
    "select id, sinh(x), cosh(x), tanh(x), asinh(x), acosh(x), atanh(x) from m",
    "select id, degrees(x), radians(x), degrees(i), radians(d), signum(x), signum(i), signum(d) from m",
    "select id, trunc(x), trunc(y, 1), trunc(x, -1), trunc(i), trunc(d), trunc(d, 2), trunc(d, -1) from m",
    "select id, pi(), pi() * x, isnan(x), isnan(i), isnan(d), iszero(x), iszero(i), iszero(d) from m",
    "select id, nanvl(x, y), nanvl(y, -1), nvl(x, y), ifnull(i, j), nvl(j, 0), nvl2(x, y, -1.0) from m",
    "select id, greatest(x, y), least(x, y), greatest(i, j, 3), least(i, j), greatest(d, 1), least(x, p, y) from m",
    "select id, sqrt(abs(f)), exp(f), sin(f), degrees(f), trunc(f), trunc(f, 1), signum(f), atan2(f, f) from m",
    "select id from m where sqrt(p) > 1 or power(y, 2) = 4 or greatest(x, y) > 2",
    "select id, round(sqrt(p), 3), abs(ln(p)), ceil(log2(p)), floor(exp(y)) from m",
    # Functions that can fail run only on the rows that reach them.
    "select id, case when x >= 0 then sqrt(x) else -1 end, case when y <> 0 then power(y, -1.0) end from m",
]

def _fallback_session(tables: dict[str, str]):
    """A session on the test device that lets CPU-only functions leave the GPU (the shared
    fixtures raise on any fallback)."""
    import gpu_exec
    from gpu_exec.api.sql_scripts import register_tables

    session = gpu_exec.connect(device=os.environ.get("GPU_EXEC_TEST_DEVICE", "cpu"), partitions=2,
                               fallback="silent")
    register_tables(session, tables)
    return session


# gcd, lcm and factorial have no GPU kernel: on a GPU session they run on the CPU.
CPU_ONLY_QUERIES = [
    "select id, gcd(i, j), lcm(i, j), gcd(i, 0), lcm(j, j), factorial(abs(j) % 21) from m",
    # A column of digits: the GPU kernel takes a constant, so this trunc runs on the CPU.
    "select id, trunc(y, j % 3), trunc(d, j % 4 - 1) from m",
]


@pytest.mark.parametrize("sql", QUERIES)
def test_math_function_matches_datafusion(sql: str, math_tables: dict[str, str], assert_matches_datafusion) -> None:
    assert_matches_datafusion(sql, math_tables, partitions=2)


@pytest.mark.parametrize("sql", CPU_ONLY_QUERIES)
def test_cpu_only_math_function_matches_datafusion(
    sql: str, math_tables: dict[str, str], assert_matches_datafusion
) -> None:
    session = _fallback_session(math_tables)
    try:
        assert_matches_datafusion(sql, math_tables, session=session)
    finally:
        session.close()


def test_math_on_the_shared_tables(layout: dict[str, int], small_tables: dict[str, str], assert_matches_datafusion) -> None:
    sql = ("select id, sqrt(abs(x)), power(x, 2), trunc(d, 1), greatest(k, id), least(x, d), "
           "nvl(s, 'none'), isnan(x) from t")
    assert_matches_datafusion(sql, small_tables, **layout)


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("select sqrt(x) from m", "square root of a negative"),
        ("select power(y, -1) from m", "zero raised to a negative power"),
        ("select factorial(j) from m", "factorial of a negative number"),
        ("select factorial(j + 10) from m", "Overflow happened on FACTORIAL"),
        ("select lcm(i, 9223372036854775807) from m", "overflow in LCM"),
        ("select gcd(-9223372036854775808, i) from m", "overflow in GCD"),
    ],
)
def test_math_domain_errors_raise_as_in_datafusion(
    sql: str, message: str, math_tables: dict[str, str]
) -> None:
    import datafusion

    ctx = datafusion.SessionContext()
    ctx.register_parquet("m", math_tables["m"])
    with pytest.raises(Exception, match=message):
        ctx.sql(sql).to_arrow_table()
    session = _fallback_session(math_tables)
    try:
        with pytest.raises(ExecutionError, match=message):
            session.sql(sql).to_arrow()
    finally:
        session.close()


def test_cpu_only_functions_are_placed_on_the_cpu_with_a_reason() -> None:
    from gpu_exec.cudf.capabilities import CudfCapabilities
    from planner.expr import ColumnRef, ScalarFunction

    caps = CudfCapabilities()
    call = ScalarFunction("gcd", (ColumnRef(0, "a", pa.int64()), ColumnRef(1, "b", pa.int64())), pa.int64())
    assert "no gcd kernel" in (caps.expression_reason(call) or "")
    strings = ScalarFunction("greatest", (ColumnRef(0, "s", pa.string()),), pa.string())
    assert "CPU" in (caps.expression_reason(strings) or "")
    assert caps.expression_reason(ScalarFunction("sqrt", (ColumnRef(0, "x", pa.float64()),), pa.float64())) is None
