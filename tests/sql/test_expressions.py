"""Expressions in projections and filters: arithmetic, logic, CASE, IN, LIKE, casts, strings, dates."""

from __future__ import annotations

import pytest


QUERIES = [
    "select id, id + k, id - k, id * k, id / 2, id % 3, -id from t",
    "select id, x * 2, x / 3, x + k, d + d, d - d, d * d, d / 3, d * 1.5 from t",
    "select id, d / (d + 100), cast(d as int), cast(x as bigint), cast(id as decimal(10, 2)) as idd from t",
    "select id, b and k > 1, b or k > 1, not b, b is null, b is not true from t",
    "select id, k between 2 and 3, k not between 2 and 3, k in (1, 4), k not in (1, 4), k in (1, null) from t",
    "select id from t where s like 'a%' or s like '%an%' or s not like '_e%'",
    "select id, s ilike 'BAN%' from t",
    "select id, case when k = 1 then 'one' when k = 2 then 'two' else 'many' end from t",
    "select id, case k when 1 then 10 when 2 then 20 end from t",
    "select id, case when b then x end from t",
    "select id, coalesce(k, -1), coalesce(s, 'none'), nullif(k, 2) from t",
    "select id, substring(s, 2, 3), substring(s from 2), upper(s), lower(s), length(s) from t",
    "select id, trim('  a b  '), ltrim('  x'), rtrim('y  '), concat(s, '-', k), s || '!' from t",
    "select id, abs(x), round(x), round(d, 1), round(x, 1) from t",
    "select id, extract(year from day), extract(month from day), extract(day from day) from t",
    "select id, day + interval '1' month, day - interval '10' day, day + interval '1' year from t",
    "select id from t where day >= date '1994-01-01' and day < date '1994-01-01' + interval '1' year",
    "select id, starts_with(s, 'a'), strpos(s, 'a'), replace(s, 'a', 'A') from t",
    "select id, date_part('quarter', day), date_trunc('month', day) from t",
]


@pytest.mark.parametrize("sql", QUERIES)
def test_expression_matches_datafusion(sql: str, layout: dict[str, int], small_tables: dict[str, str], assert_matches_datafusion) -> None:
    assert_matches_datafusion(sql, small_tables, **layout)


def test_nan_equality_in_distinct_from_and_nullif(tmp_path, assert_matches_datafusion) -> None:
    # DataFusion treats NaN as equal to NaN; IEEE comparison (pyarrow's) does not.
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "nan.parquet"
    pq.write_table(pa.table({"x": [float("nan"), 1.0, None, float("nan")], "y": [float("nan"), 2.0, None, 1.0]}), path)
    sql = "select x is distinct from y as d, x is not distinct from y as nd, nullif(x, y) as n from nan"
    result = assert_matches_datafusion(sql, {"nan": str(path)}, partitions=1)
    assert result.column("d").to_pylist() == [False, True, False, True]
