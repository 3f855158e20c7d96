"""Window functions with PARTITION BY / ORDER BY and the default frames."""

from __future__ import annotations

import pytest


QUERIES = [
    "select id, row_number() over (order by id) from t",
    "select id, k, row_number() over (partition by k order by id) from t",
    "select id, k, rank() over (order by k) from t",
    "select id, k, dense_rank() over (order by k desc) from t",
    "select id, k, sum(x) over (partition by k) from t",
    "select id, k, sum(x) over (partition by k order by id) from t",
    "select id, k, sum(x) over (order by k) from t",
    "select id, count(*) over (partition by b) from t",
    "select id, avg(d) over (partition by k), min(s) over (partition by k), max(x) over () from t",
    "select k, sum(w) over (order by w rows between unbounded preceding and current row) from u",
]


@pytest.mark.parametrize("sql", QUERIES)
def test_window_matches_datafusion(sql: str, layout: dict[str, int], small_tables: dict[str, str], assert_matches_datafusion) -> None:
    assert_matches_datafusion(sql, small_tables, **layout)
