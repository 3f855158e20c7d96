"""Reduced reproducers of bugs found by randomized differential testing, each over its own data."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """l: a nullable key, a float and a string; r: a key declared NOT NULL (so DataFusion can
    prove predicates on it constant), a decimal."""
    root = tmp_path_factory.mktemp("regressions")
    l = pa.table({
        "a": pa.array([1, 2, None, 4, 2, 7], pa.int32()),
        "b": pa.array([0.5, None, 2.0, 0.5, 3.25, None], pa.float64()),
        "s": pa.array(["x", "y", None, "x", "", None]),
    })
    r = pa.table(
        {"k": pa.array([1, 2, 2, 4, 9], pa.int32()),
         "w": pa.array(["1.500", None, "-2.250", "7.000", "0.125"], pa.string()).cast(pa.decimal128(10, 3))},
        schema=pa.schema([pa.field("k", pa.int32(), nullable=False), pa.field("w", pa.decimal128(10, 3))]),
    )
    paths = {}
    for name, table in {"l": l, "r": r}.items():
        path = root / f"{name}.parquet"
        pq.write_table(table, path, row_group_size=2)
        paths[name] = str(path)
    return paths


COUNT_DISTINCT_CONSTANT = [
    # COUNT(DISTINCT <constant>) next to other aggregates used to index a missing argument column.
    "select s, count(distinct abs(-20.64)), avg(b) from l group by s",
    "select s, b, count(distinct 3), count(3), min(r.w) - 2 from l left join r on l.a = r.k group by s, b",
    "select s, count(distinct 3), count(*) from l where a > 100 group by s",
    "select count(distinct 3), count(3), sum(b) from l",
    "select count(distinct 3), count(3), sum(b) from l where a > 100",
    "select s, count(distinct cast(null as int)), count(distinct 1), max(a) from l group by s",
]


@pytest.mark.parametrize("sql", COUNT_DISTINCT_CONSTANT)
def test_count_distinct_constant(sql: str, tables: dict[str, str], layout: dict[str, int],
                                 assert_matches_datafusion) -> None:
    assert_matches_datafusion(sql, tables, **layout)


EMPTY_SUBQUERY = [
    # DataFusion proves the subquery's filter false (r.k is NOT NULL) and leaves an EmptyRelation
    # that its own plan decoder cannot read back.
    ("select (select max(sq.k) from r sq where (cast(155 as decimal(12, 2)) <= sq.k) is null), l.s "
     "from r right join l on r.k = l.a"),
    "select (select max(sq.w) + 1 from r sq where 1 = 0) as m, (select count(*) from r where false) as c, a from l",
    "select a from l where a > (select min(sq.k) from r sq where false) or a < 3",
    "select a, (select max(k) from r) as mx, (select sum(sq.w) from r sq where sq.k is null) as sw from l",
    # The undecodable subquery nested inside another one.
    "select (select max(k) from r where w > coalesce((select max(sq.w) from r sq where false), 0.5)) as m, a from l",
    "select a from l where a < (select count(*) + 1 from r where k > (select min(sq.k) from r sq where sq.k is null))",
]


@pytest.mark.parametrize("sql", EMPTY_SUBQUERY)
def test_scalar_subquery_over_a_provably_empty_input(sql: str, tables: dict[str, str], layout: dict[str, int],
                                                     assert_matches_datafusion) -> None:
    assert_matches_datafusion(sql, tables, **layout)
