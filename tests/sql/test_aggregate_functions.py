"""DataFusion's statistical, boolean, bitwise, ordered and string aggregates against DataFusion:
var/stddev (and their aliases), bool_and/bool_or, bit_and/bit_or/bit_xor, median, percentile_cont,
string_agg, any_value, first_value/last_value/nth_value (ORDER BY), corr, covar, regr_*; grouped
and global, NULLs, one-row groups, empty tables, FILTER and DISTINCT, mixed with the other
aggregates, in every partition layout (which splits them into partial and final aggregates across
an exchange, or sends each group's rows to one partition)."""

from __future__ import annotations

import os
import statistics
from decimal import Decimal
from fractions import Fraction

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

QUERIES = [
    # var/stddev of float, decimal and integer columns (DataFusion casts them to Float64).
    "select k, var(x), var_samp(d), var_pop(id), stddev(x), stddev_samp(d), stddev_pop(id), "
    "var_sample(x), var_population(d) from t group by k",
    "select var(x), var_samp(d), var_pop(id), stddev(k), stddev_samp(d), stddev_pop(x) from t",
    # one-row groups: the sample statistics are NULL, the population ones 0
    "select id, var(x), var_pop(x), stddev(x), stddev_pop(d), covar_samp(x, d), covar_pop(x, d), "
    "corr(x, d), regr_sxx(x, d), regr_count(x, d), regr_slope(x, d) from t group by id",
    "select k, bool_and(b), bool_or(b), bool_and(x > 0), bool_or(s like 'a%') from t group by k",
    "select bool_and(b), bool_or(b), bool_and(id > 0), bool_or(id > 7) from t",
    "select k, corr(x, id), covar(x, d), covar_samp(id, x), covar_pop(d, x) from t group by k",
    "select corr(x, id), covar(x, d), covar_samp(id, x), covar_pop(d, x), corr(d, k) from t",
    "select k, regr_slope(x, id), regr_intercept(x, id), regr_count(x, d), regr_r2(x, id), "
    "regr_avgx(x, d), regr_avgy(x, d), regr_sxx(x, id), regr_syy(x, id), regr_sxy(x, id) from t group by k",
    "select regr_slope(x, id), regr_intercept(d, x), regr_count(x, k), regr_r2(x, id), regr_avgx(x, d), "
    "regr_avgy(x, d), regr_sxx(k, x), regr_syy(k, x), regr_sxy(k, x) from t",
    # zero variances: corr and regr_r2 are NULL, regr_slope of a constant y is 0
    "select k, corr(x, 1.0), regr_r2(2.0, x), regr_r2(x, 2.0), regr_slope(3.0, x), regr_intercept(x, 3.0), "
    "var(1.0) from t group by k",
    # empty inputs, global (one row) and grouped (no rows)
    "select var(w), stddev_pop(w), corr(w, k), covar_pop(k, w), regr_count(w, k), regr_avgx(w, k), "
    "bool_and(w > 0), bool_or(w > 0) from e",
    "select k, var(w), corr(w, k), regr_count(w, k), bool_or(w > 0) from e group by k",
    "select var(x), corr(x, id), regr_count(x, id) from t where id > 100",
    # mixed with the other aggregates, FILTER, DISTINCT, HAVING
    "select k, var(x), sum(x), avg(d), count(*), min(s), corr(x, id), max(d), bool_or(b) from t group by k",
    "select k, var(distinct id), stddev(x) filter (where x > 0), bool_or(b) filter (where id > 2), "
    "corr(x, id) filter (where id < 7), count(distinct s) from t group by k",
    "select var(distinct k), var_pop(distinct x), bool_and(distinct b) from t",
    "select k, stddev(x) from t group by k having var_pop(x) > 1",
    "select b, k, var(x), regr_sxy(x, id) from t group by rollup(b, k)",
]


@pytest.mark.parametrize("sql", QUERIES)
def test_aggregate_function_matches_datafusion(sql: str, layout: dict[str, int], small_tables: dict[str, str],
                                               assert_matches_datafusion) -> None:
    assert_matches_datafusion(sql, small_tables, **layout)


@pytest.fixture(scope="module")
def median_tables(tmp_path_factory: pytest.TempPathFactory, small_tables: dict[str, str]) -> dict[str, str]:
    """m: groups of odd and even sizes, NULLs, NaN, -0.0 and 0.0, decimals whose middle pairs
    average to a digit past the scale (DataFusion truncates toward zero), float32."""
    nan = float("nan")
    dec = [Decimal(v) if v is not None else None for v in
           ("1.55", "2.50", None, "3.00", "4.00", "5.00", "-1.01", "-1.02", "7.77", None, "0.01", "0.02")]
    table = pa.table({
        "g": pa.array([1, 1, 2, 3, 3, 3, 4, 4, 5, None, None, 6], pa.int32()),
        "i": pa.array([1, 2, None, 4, None, 7, -3, -2, 9, 5, 6, None], pa.int64()),
        "x": [1.0, 2.5, 3.0, None, nan, 6.0, -0.0, 0.0, nan, 1.0, 2.0, None],
        "d": pa.array(dec, pa.decimal128(10, 2)),
        "f": pa.array([1.5, 2.25, 0.0, 1.0, 3.0, 2.0, 0.5, 0.75, None, 8.0, 1.0, 2.0], pa.float32()),
    })
    root = tmp_path_factory.mktemp("median")
    pq.write_table(table, root / "m.parquet", row_group_size=4)
    # fk: float group keys NaN, -0.0 and 0.0, each one group (the moments and ranks align rows to
    # their group through joins and window partitions on these keys).
    keys = pa.table({"f": [nan, nan, 0.0, -0.0, 1.0, 1.0, nan, -0.0, None, None],
                     "x": [1.0, 2.0, 3.0, 5.0, 1.0, 2.0, 4.0, 9.0, 1.0, 3.0],
                     "y": [2.0, 1.0, 3.0, 7.0, 1.0, 2.0, 4.0, 1.0, 0.0, 5.0]})
    pq.write_table(keys, root / "fk.parquet", row_group_size=3)
    return {**small_tables, "m": str(root / "m.parquet"), "fk": str(root / "fk.parquet")}


MEDIAN_QUERIES = [
    "select g, median(i), median(x), median(d), median(f) from m group by g",
    "select median(i), median(x), median(d), median(f) from m",
    "select median(i), median(d) from m where x > 0",
    "select g, median(i) from m where g > 100 group by g",
    "select median(x), median(d) from m where g > 100",
    "select g, median(distinct i), median(x) filter (where x > 0), var(i), count(*), sum(d) from m group by g",
    "select k, median(x), median(d), median(id), avg(x), corr(x, id) from t group by k",
    "select median(x), median(k), count(distinct s) from t",
    # keys of other types (strings with NULL, dates, decimals, booleans) partition the ranks too
    "select s, day, median(x), first_value(id order by id), nth_value(x, 1 order by id), var(x), corr(x, id), "
    "percentile_cont(0.5) within group (order by id) from t group by s, day",
    "select d, b, median(id), last_value(s order by id), stddev_pop(id), regr_sxy(x, id) from t group by d, b",
    # percentile_cont interpolates between the ranks around p·(n - 1), in the ORDER BY's direction
    "select g, percentile_cont(0.25) within group (order by i), percentile_cont(0.25) within group (order by i desc), "
    "quantile_cont(0.9) within group (order by d), percentile_cont(f, 0.5), percentile_cont(0) within group "
    "(order by x) from m group by g",
    "select percentile_cont(0.3) within group (order by d), percentile_cont(1) within group (order by i desc), "
    "quantile_cont(i, 0.75), percentile_cont(0.5) within group (order by x) from m",
    "select k, percentile_cont(0.6) within group (order by x) filter (where id > 1), median(x) from t group by k",
    "select percentile_cont(0.5) within group (order by x) from t where id > 100",
    "select f, var(x), corr(x, y), median(x), first_value(y order by x), percentile_cont(0.4) within group "
    "(order by y), count(*) from fk group by f",
]


@pytest.mark.parametrize("sql", MEDIAN_QUERIES)
def test_median_matches_datafusion(sql: str, layout: dict[str, int], median_tables: dict[str, str],
                                   assert_matches_datafusion) -> None:
    assert_matches_datafusion(sql, median_tables, **layout)


def test_median_is_planned_in_one_step() -> None:
    # No partial state: the rows go to their group's partition and are aggregated there once.
    import dataclasses

    from planner.expr import AggregateCall, AggregateFunction, ColumnRef, Literal
    from planner.ir import Aggregate, AggregateMode, Exchange, ExchangeKind, Values
    from planner.physical import plan_physical

    x = ColumnRef(0, "x", pa.float64())
    source = Values(((Literal(1.0, pa.float64()),),), pa.schema([pa.field("x", pa.float64())]))
    call = AggregateCall(AggregateFunction.MEDIAN, (x,), False, None, pa.float64(), "m")
    schema = pa.schema([pa.field("x", pa.float64()), pa.field("m", pa.float64())])
    node = Aggregate(source, (x,), (call,), schema)
    planned = plan_physical(node, 4)
    assert isinstance(planned, Aggregate) and planned.mode is AggregateMode.SINGLE
    assert isinstance(planned.input, Exchange) and planned.input.kind is ExchangeKind.HASH
    variance = dataclasses.replace(call, func=AggregateFunction.VAR_POP)
    split = plan_physical(dataclasses.replace(node, aggregates=(variance,)), 4)
    assert split.mode is AggregateMode.FINAL


ORDERED_QUERIES = [
    # m's (g, i) and t's (k, id) are unique, so the first and last rows are well defined.
    "select g, first_value(x order by i), last_value(x order by i), first_value(d order by i desc), "
    "last_value(f order by i desc nulls first), first_value(i order by i nulls first) from m group by g",
    "select first_value(x order by i), last_value(d order by i nulls first), first_value(g order by f desc, i) from m",
    "select k, first_value(s order by id), last_value(day order by id), first_value(b order by x nulls first, id) "
    "from t group by k",
    "select k, first_value(s order by id) filter (where id > 2), last_value(x order by id) filter (where b), "
    "median(x), var(x), count(*) from t group by k",
    "select first_value(x order by id) from t where id > 100",
    "select k, last_value(x order by id) from t where id > 100 group by k",
    "select distinct on (k) k, id, s from t order by k, id",
    # nth_value: the n-th row by the ORDER BY (NULL values count), from the end when n < 0
    "select g, nth_value(x, 2 order by i), nth_value(d, -2 order by i), nth_value(f, 1 order by i), "
    "nth_value(i, 3 order by i) from m group by g",
    "select nth_value(x, 3 order by i desc nulls last), nth_value(d, -4 order by i desc nulls last) filter "
    "(where g > 1), nth_value(x, 100 order by i desc nulls last) from m",
    # any_value: every group's non-NULL values are equal here, so any one is DataFusion's
    "select k, any_value(k), any_value(k * 2), any_value(cast(null as int)) from t group by k",
    "select any_value(b) from t where id < 2",
]


@pytest.mark.parametrize("sql", ORDERED_QUERIES)
def test_ordered_and_any_value_aggregates_match_datafusion(sql: str, layout: dict[str, int],
                                                           median_tables: dict[str, str],
                                                           assert_matches_datafusion) -> None:
    assert_matches_datafusion(sql, median_tables, **layout)


# bit_and/bit_or/bit_xor and string_agg have no GPU kernel: on a GPU session their aggregates run
# on the CPU.
CPU_ONLY_QUERIES = [
    "select k, string_agg(s, ', ' order by id), string_agg(s, '' order by id), string_agg(id, '-' order by id), "
    "count(*), var(x) from t group by k",
    "select string_agg(s, '|' order by x nulls first, id), string_agg(s, ';' order by x nulls first, id) "
    "filter (where id > 2) from t",
    "select id, string_agg(s, ',') from t group by id",  # one value a group: any order is the order
    "select k, string_agg(distinct cast(k as varchar), '-') from t group by k",
    "select string_agg(s, ',' order by id), count(*) from t where id > 100",
    "select k, string_agg(cast(w as varchar), ',' order by w) from e group by k",
    "select k, bit_and(id), bit_or(id), bit_xor(id), bit_and(k), bit_or(cast(k as tinyint unsigned)), "
    "bit_xor(-id) from t group by k",
    "select bit_and(id), bit_or(k), bit_xor(id) filter (where id > 3), bit_and(distinct k), var(x) from t",
    "select bit_and(w), bit_or(w), bit_xor(w) from e",
    "select k, bit_and(w), bit_xor(w) from e group by k",
]


@pytest.mark.parametrize("sql", CPU_ONLY_QUERIES)
def test_cpu_only_aggregate_matches_datafusion(sql: str, layout: dict[str, int], small_tables: dict[str, str],
                                               assert_matches_datafusion) -> None:
    import gpu_exec
    from gpu_exec.api.sql_scripts import register_tables

    # The shared fixtures raise on any fallback: this session lets the aggregate leave the GPU.
    session = gpu_exec.connect(device=os.environ.get("GPU_EXEC_TEST_DEVICE", "cpu"), fallback="silent", **layout)
    register_tables(session, small_tables)
    try:
        assert_matches_datafusion(sql, small_tables, session=session)
    finally:
        session.close()


def test_bitwise_aggregates_are_placed_on_the_cpu_with_their_reason(small_tables: dict[str, str]) -> None:
    import gpu_exec

    session = gpu_exec.connect(device="cpu", partitions=2)
    session.register_parquet("t", small_tables["t"])
    try:
        lines = session.sql("select k, bit_or(id), var(x) from t group by k").explain(device="gpu").splitlines()
        lines_ok = session.sql(
            "select k, bool_or(b), var(x), corr(x, id), median(x), first_value(s order by id), any_value(d), "
            "nth_value(x, 2 order by id), percentile_cont(0.3) within group (order by x) from t group by k"
        ).explain(device="gpu")
    finally:
        session.close()
    aggregates = [line for line in lines if "Aggregate" in line]
    assert len(aggregates) == 2 and all("@cpu: bit_or() runs on the CPU: pylibcudf" in line for line in aggregates)
    assert "@cpu" not in lines_ok


@pytest.fixture(scope="module")
def many_groups(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """16 000 rows in 4 000 groups, in row groups of 2 000: more state than a 1 MB limit holds."""
    import numpy as np

    rng = np.random.default_rng(1)
    n = 16_000
    table = pa.table({"k": rng.integers(0, 4_000, n), "x": rng.normal(100, 5, n), "y": rng.normal(0, 1, n)})
    path = tmp_path_factory.mktemp("many") / "g.parquet"
    pq.write_table(table, path, row_group_size=2_000)
    return {"g": str(path)}


@pytest.mark.parametrize("sql", [
    "select k, var(x), regr_slope(y, x), covar_pop(x, y) from g group by k",
    "select k, median(x), nth_value(y, 2 order by x), percentile_cont(0.25) within group (order by y) "
    "from g group by k",
])
def test_spilled_aggregates_match_datafusion(sql: str, many_groups: dict[str, str], connect_for_tests,
                                             assert_matches_datafusion) -> None:
    # Moment states are merged, and collected groups aggregated, one spilled partition at a time.
    session = connect_for_tests(1, many_groups, memory_limit=1_000_000, batch_rows=2_000)
    try:
        assert_matches_datafusion(sql, many_groups, session=session)
        df = session.sql(sql)
        df.to_arrow()
        assert df.memory.spilled > 0
    finally:
        session.close()


@pytest.fixture(scope="module")
def far_from_zero(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[float], list[float]]:
    """Values near 10^9 with a spread of a few units, in several row groups (so several batches
    and partitions): the sums of squares are 10^18 and more, their differences a few units."""
    xs = [1e9 + v for v in (1, 2, 4, 7, 11, 16, 22, 29, 37)]
    ys = [3e8 - 2 * v for v in (1, 3, 2, 6, 5, 9, 8, 12, 11)]
    path = tmp_path_factory.mktemp("far") / "far.parquet"
    pq.write_table(pa.table({"g": [i % 2 for i in range(9)], "x": xs, "y": ys}), path, row_group_size=2)
    return str(path), xs, ys


@pytest.mark.parametrize("partitions", [1, 3])
def test_moments_keep_their_digits_far_from_zero(far_from_zero, partitions: int, connect_for_tests) -> None:
    # Against exact rational arithmetic, not DataFusion (DataFusion 55's own var of such values is
    # off in the 8th digit). Σx² - (Σx)²/n would lose every digit here (Σx² ≈ 10^19, M2 ≈ 10^3);
    # the states keep M2 and merge by the deviations of the means, whose only error is a mean's
    # rounding (10^-16 · 10^9): well within 10^-7 of the spread.
    path, xs, ys = far_from_zero
    session = connect_for_tests(partitions, {"f": path}, batch_rows=2)
    try:
        row = session.sql("select var(x), stddev_pop(x), covar_samp(x, y), corr(x, y) from f").to_arrow().to_pylist()[0]
    finally:
        session.close()
    fx, fy = [Fraction(v) for v in xs], [Fraction(v) for v in ys]
    mx, my = sum(fx) / len(fx), sum(fy) / len(fy)
    cxy = sum((a - mx) * (b - my) for a, b in zip(fx, fy))
    m2x, m2y = sum((a - mx) ** 2 for a in fx), sum((b - my) ** 2 for b in fy)
    expected = [float(m2x / 8), statistics.pstdev(xs), float(cxy / 8), float(cxy) / (float(m2x) * float(m2y)) ** 0.5]
    actual = [row["var(f.x)"], row["stddev_pop(f.x)"], row["covar_samp(f.x,f.y)"], row["corr(f.x,f.y)"]]
    assert actual == pytest.approx(expected, rel=1e-7)


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("select approx_distinct(s) from t", "HyperLogLog estimate"),
        ("select corr(distinct x, id) from t", "DISTINCT in the two-argument aggregate corr"),
        ("select string_agg(s, s) from t", "constant, non-NULL delimiter"),
        ("select string_agg(s, ',' order by id), string_agg(s, ',' order by x) from t", "different ORDER BYs"),
        ("select nth_value(x, 2) from t", "nth_value() without ORDER BY"),
        ("select nth_value(x, id order by id) from t", "constant, non-zero position"),
        ("select k, last_value(x) from t group by k", "last_value() without ORDER BY"),
    ],
)
def test_aggregates_not_run_are_refused_with_a_reason(sql: str, reason: str, small_tables: dict[str, str],
                                                      assert_translation_raises) -> None:
    assert_translation_raises(sql, small_tables, reason)
