"""to_timestamp*, to_unixtime, from_unixtime, to_date, make_date, date_bin and now() in SQL, against
DataFusion: before-the-epoch values (truncation toward zero versus flooring), NULLs, leap days."""

from __future__ import annotations

import datetime as dt
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest


@pytest.fixture(scope="module")
def date_tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("dates")
    table = pa.table(
        {
            "id": pa.array(range(1, 8), pa.int64()),
            "i": pa.array([0, -1, 1_700_000_000, None, 86_399, -86_401, 951_782_400], pa.int64()),
            "f": pa.array([0.5, -1.25, 1.7e9, None, 86_399.999, -0.75, 1e-3]),
            "ts": pa.array([dt.datetime(2020, 5, 17, 13, 14, 15, 750000), dt.datetime(1969, 12, 31, 23, 59, 59, 500000),
                            None, dt.datetime(2000, 1, 1), dt.datetime(1900, 3, 1, 12), dt.datetime(2024, 2, 29, 23, 59),
                            dt.datetime(1969, 12, 31, 0, 0, 0, 1)], pa.timestamp("us")),
            "day": pa.array([dt.date(2020, 5, 17), None, dt.date(1969, 12, 31), dt.date(2000, 2, 29),
                             dt.date(1900, 3, 1), dt.date(2024, 2, 29), dt.date(1970, 1, 1)]),
            "y": pa.array([2020, 2024, None, 1900, 2000, 1, 9999], pa.int32()),
            "m": pa.array([1, 2, 3, 12, None, 6, 11], pa.int32()),
            "s": pa.array(["2020-01-01", None, "x", "", "a", "b", "c"]),
        }
    )
    path = root / "dt.parquet"
    pq.write_table(table, path, row_group_size=3)
    return {"dt": str(path)}


def _session(tables: dict[str, str]):
    """A session on the test device that lets CPU-only functions leave the GPU (the shared
    fixtures raise on any fallback)."""
    import gpu_exec
    from gpu_exec.api.sql_scripts import register_tables

    session = gpu_exec.connect(device=os.environ.get("GPU_EXEC_TEST_DEVICE", "cpu"), partitions=2,
                               fallback="silent")
    register_tables(session, tables)
    return session


GPU_QUERIES = [
    ("select id, to_timestamp(i), to_timestamp_seconds(i), to_timestamp_millis(i), to_timestamp_micros(i), "
     "to_timestamp_nanos(i) from dt"),
    "select id, to_timestamp(f), to_timestamp(ts), to_timestamp_seconds(ts), to_timestamp_millis(ts) from dt",
    "select id, to_unixtime(ts), to_unixtime(day), to_unixtime(i), from_unixtime(i) from dt",
    "select id, to_date(day), to_date(ts), to_date(cast(i / 86400 as int)) from dt",
    "select id from dt where to_unixtime(ts) < 0 or from_unixtime(i) > timestamp '2000-01-01'",
    ("select id, extract(isodow from day), date_part('millisecond', ts), date_part('microsecond', ts), "
     "extract(millisecond from day), date_trunc('hour', ts), date_trunc('minute', ts), date_trunc('second', ts) from dt"),
]

CPU_ONLY_QUERIES = [
    "select id, make_date(y, m, 1), make_date(2024, 2, 29), make_date(y, 12, 31) from dt",
    ("select id, date_bin(interval '15 minutes', ts), date_bin(interval '1 day', ts, "
     "timestamp '2000-01-01 06:00:00'), date_bin(interval '7 days', ts, timestamp '1969-12-29') from dt"),
]


@pytest.mark.parametrize("sql", GPU_QUERIES)
def test_date_function_matches_datafusion(sql: str, date_tables: dict[str, str], assert_matches_datafusion) -> None:
    assert_matches_datafusion(sql, date_tables, partitions=2)


@pytest.mark.parametrize("sql", CPU_ONLY_QUERIES)
def test_cpu_only_date_function_matches_datafusion(
    sql: str, date_tables: dict[str, str], assert_matches_datafusion
) -> None:
    session = _session(date_tables)
    try:
        assert_matches_datafusion(sql, date_tables, session=session)
    finally:
        session.close()


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("select make_date(y, 2, 29) from dt", r"Unable to parse date from \d+, 2, 29"),
        ("select make_date(2020, m + 10, 1) from dt", r"Month value '\d+' is out of range"),
    ],
)
def test_make_date_errors_as_in_datafusion(sql: str, message: str, date_tables: dict[str, str]) -> None:
    import datafusion

    from planner.errors import ExecutionError

    ctx = datafusion.SessionContext()
    ctx.register_parquet("dt", date_tables["dt"])
    with pytest.raises(Exception, match=message):
        ctx.sql(sql).to_arrow_table()
    session = _session(date_tables)
    try:
        with pytest.raises(ExecutionError, match=message):
            session.sql(sql).to_arrow()
    finally:
        session.close()


def test_parsing_strings_is_refused_at_plan_time(date_tables: dict[str, str], assert_translation_raises) -> None:
    assert_translation_raises("select to_timestamp(s), to_date(s) from dt", date_tables, "chrono formats")


def test_now_runs_and_matches_datafusion_type(date_tables: dict[str, str], connect_for_tests) -> None:
    # now() is the planning clock (DataFusion folds it to a nanosecond constant): it must run,
    # with DataFusion's type, between two readings of this machine's clock.
    import datafusion

    expected_type = datafusion.SessionContext().sql("select now() as n").to_arrow_table().schema.field(0).type
    session = connect_for_tests(1, date_tables)
    try:
        before = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        result = session.sql("select now() as n, now() = now() as same, date_trunc('day', now()) <= now() as le, "
                             "now() - interval '1' day < now() as earlier from dt").to_arrow()
        after = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    finally:
        session.close()
    assert result.schema.field("n").type == expected_type
    now = result.column("n")[0].as_py()
    assert before - dt.timedelta(seconds=1) <= now <= after + dt.timedelta(seconds=1)
    assert set(result.column("same").to_pylist() + result.column("le").to_pylist()
               + result.column("earlier").to_pylist()) == {True}
