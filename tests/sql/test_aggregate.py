"""GROUP BY, global and DISTINCT aggregates, FILTER, HAVING; NULL groups; empty inputs."""

from __future__ import annotations

import pytest


QUERIES = [
    "select k, count(*), count(s), sum(x), min(s), max(d), avg(d), avg(x), sum(d) from t group by k",
    "select count(*), sum(x), avg(d), min(day), max(day), count(distinct k) from t",
    "select count(*), sum(w), avg(w), min(w), max(w) from e",
    "select k, count(*) from e group by k",
    "select k, count(distinct s), sum(distinct x) from t group by k",
    "select count(distinct k), count(distinct s) from t",
    "select k, sum(x) filter (where x > 0), count(*) filter (where b) from t group by k",
    "select k, sum(x) as total from t group by k having sum(x) > 1",
    "select b, k is null as nk, count(*) from t group by b, k is null",
    "select distinct k from t",
    "select distinct k, b from t",
    "select upper(s) as us, count(*) from t group by upper(s)",
    "select k, avg(k), sum(k) from t group by k",
    "select sum(d * 2), avg(d * d) from t",
]


@pytest.mark.parametrize("sql", QUERIES)
def test_aggregate_matches_datafusion(sql: str, layout: dict[str, int], small_tables: dict[str, str], assert_matches_datafusion) -> None:
    assert_matches_datafusion(sql, small_tables, **layout)
