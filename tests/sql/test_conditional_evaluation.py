"""CASE / COALESCE / AND / OR evaluate a branch only on the rows that reach it, as DataFusion does:
a division by zero, a cast that does not convert or a failing function in a branch that no row
(or only other rows) reaches raises nothing."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """c: zero and NULL divisors, strings that are and are not numbers, the smallest int64."""
    root = tmp_path_factory.mktemp("conditional")
    c = pa.table({
        "id": pa.array(range(1, 11), pa.int64()),
        "x": pa.array([0, 1, 2, None, 0, 5, -3, 0, 4, 2], pa.int64()),
        "y": pa.array([10, 20, None, 40, 50, 60, 70, 80, 90, 100], pa.int64()),
        "s": pa.array(["12", "abc", None, "7", "", "x1", "3", "-4", "zz", "5"]),
        "d": pa.array(["1.50", "0.00", "2.25", None, "0.00", "-3.00", "4.00", "0.00", "1.00", "8.00"],
                      pa.string()).cast(pa.decimal128(8, 2)),
        "m": pa.array([-(2**63), 1, -2, 3, None, -(2**63), 6, 7, -8, 9], pa.int64()),
    })
    path = root / "c.parquet"
    pq.write_table(c, path, row_group_size=4)
    return {"c": str(path)}


QUERIES = [
    "select id, case when x <> 0 then y / x else null end as q from c",
    "select id, case when x > 0 then y / x when x < 0 then y % x else -1 end as q from c",
    # Later WHENs are tested only on the rows earlier ones did not take.
    "select id, case when x = 0 then 0 when y / x > 15 then 1 else 2 end as q from c",
    "select id, case when x is null or x = 0 then null else y / x end as q from c",
    "select id, case x when 0 then -1 else y / x end as q from c",
    "select id, case when s in ('12', '7', '3', '-4', '5') then cast(s as bigint) else 0 end as n from c",
    "select id, case when d <> 0 then y / d end as q from c",
    "select id, case when m > -100 then abs(m) else 0 end as a from c",
    # COALESCE (DataFusion plans it as a CASE): later arguments only where earlier ones are NULL.
    "select id, coalesce(case when x <> 0 then y end / nullif(x, 0), y / 1) as q from c",
    "select id, coalesce(y, 100 / x) as q from c",
    # Nested CASE inside a branch, and a CASE in a filter, a group key and an aggregate.
    "select id, case when x <> 0 then case when y / x > 10 then y / x else 0 end end as q from c",
    "select case when x <> 0 then y / x end as q, count(*) from c group by case when x <> 0 then y / x end",
    "select sum(case when x <> 0 then y / x else 0 end), count(case when x <> 0 then 1 / x end) from c",
    # No row reaches the failing branch at all.
    "select id, case when id > 100 then 1 / (id - id) else id end as q from c",
    "select id, case when x <> 0 then y / x end as q from c where x = 0",
    # AND / OR where DataFusion itself evaluates the right side only on the rows the left leaves
    # open (few of them: it pre-selects).
    "select id from c where x = 5 and y / (x - 5 + 1) > 0",
    "select id, x = 4 and 10 / (x - 4 + 1) = 10 as a from c",
]


@pytest.mark.parametrize("sql", QUERIES)
def test_branches_are_evaluated_only_where_they_apply(sql: str, tables: dict[str, str],
                                                      layout: dict[str, int], assert_matches_datafusion) -> None:
    assert_matches_datafusion(sql, tables, **layout)


# DataFusion evaluates the right side of AND / OR over every row when many rows leave it open
# (and then raises); gpu-exec always evaluates it only there, so compare with the same question
# asked safely.
SAFE_EQUIVALENTS = [
    ("select id, x <> 0 and y / x > 15 as a from c",
     "select id, case when x = 0 then false else y / nullif(x, 0) > 15 end as a from c"),
    ("select id, x = 0 or y / x > 15 as a from c",
     "select id, case when x = 0 then true else y / nullif(x, 0) > 15 end as a from c"),
    ("select id from c where x <> 0 and y / x > 15", "select id from c where x <> 0 and y / nullif(x, 0) > 15"),
    # DataFusion simplifies this CASE into an AND, and then raises.
    ("select id from c where case when x <> 0 then y / x > 10 else false end",
     "select id from c where x <> 0 and y / nullif(x, 0) > 10"),
]


@pytest.mark.parametrize(("sql", "equivalent"), SAFE_EQUIVALENTS)
def test_and_or_right_side_only_where_the_left_leaves_it_open(sql: str, equivalent: str, tables: dict[str, str],
                                                              layout: dict[str, int], connect_for_tests) -> None:
    import datafusion

    from gpu_exec.testing.compare import compare_tables

    ctx = datafusion.SessionContext()
    ctx.register_parquet("c", tables["c"])
    expected = ctx.sql(equivalent).to_arrow_table()
    session = connect_for_tests(tables=tables, **layout)
    try:
        actual = session.sql(sql).to_arrow()
    finally:
        session.close()
    assert not compare_tables(actual, expected.rename_columns(actual.column_names), False)


def test_a_branch_that_rows_do_reach_still_raises(tables: dict[str, str], connect_for_tests) -> None:
    from planner.errors import ExecutionError

    session = connect_for_tests(tables=tables, partitions=1)
    try:
        with pytest.raises(ExecutionError, match="(?i)divide by zero"):
            session.sql("select case when y > 0 then y / x end from c").to_arrow()
    finally:
        session.close()
