"""ORDER BY (directions, NULLS FIRST/LAST, computed keys, top-k), LIMIT and OFFSET."""

from __future__ import annotations

import pytest


QUERIES = [
    "select id, k from t order by k, id",
    "select id, k from t order by k desc, id",
    "select id, k from t order by k asc nulls first, id desc",
    "select id, k from t order by k desc nulls last, id",
    "select id, s from t order by s, id",
    "select id, x from t order by x desc nulls first, id limit 3",
    "select id from t order by id limit 3 offset 2",
    "select id from t order by id offset 6",
    "select id, d from t order by d * -1, id",
    "select id, x from t order by abs(x) desc, id limit 4",
    "select count(*) from (select id from t limit 5)",
    "select id from t order by id limit 0",
]


@pytest.mark.parametrize("sql", QUERIES)
def test_sort_limit_matches_datafusion(sql: str, layout: dict[str, int], small_tables: dict[str, str], assert_matches_datafusion) -> None:
    assert_matches_datafusion(sql, small_tables, **layout)
