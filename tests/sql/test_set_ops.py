"""UNION [ALL], VALUES, SELECT without FROM, subquery aliases, scalar subqueries."""

from __future__ import annotations

import pytest


QUERIES = [
    "select k from t union all select k from u",
    "select k from t union select k from u",
    "select id, s from t where id < 3 union all select w, v from u where w > 20 order by 1",
    "select * from (values (1, 'a'), (2, 'b'), (3, null)) as v(a, b)",
    "select 1 + 2 as three, 'x' as s",
    "select sub.id from (select id, k from t where k > 1) sub where sub.id > 3",
    "select id from t where x > (select avg(x) from t)",
    "select id, (select max(w) from u) - id as gap from t",
    "select id from t where x > (select max(w) from e)",
]


@pytest.mark.parametrize("sql", QUERIES)
def test_set_ops_match_datafusion(sql: str, layout: dict[str, int], small_tables: dict[str, str], assert_matches_datafusion) -> None:
    assert_matches_datafusion(sql, small_tables, **layout)
