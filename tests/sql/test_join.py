"""Joins of every type, with residual filters, NULL keys, and NOT IN's null-aware rule."""

from __future__ import annotations

import pytest


JOINS = [
    "select t.id, u.v from t join u on t.k = u.k",
    "select t.id, u.v from t left join u on t.k = u.k",
    "select t.id, u.v from t right join u on t.k = u.k",
    "select t.id, u.v from t full join u on t.k = u.k",
    "select t.id, u.v, u.w from t join u on t.k = u.k and u.w > t.id * 5",
    "select t.id, u.v from t left join u on t.k = u.k and u.w > 15",
    "select t.id, u.v from t right join u on t.k = u.k and t.x > 0",
    "select t.id, u.v from t full join u on t.k = u.k and u.w <> 21",
    "select t.id from t where exists (select 1 from u where u.k = t.k)",
    "select t.id from t where not exists (select 1 from u where u.k = t.k)",
    "select t.id from t where exists (select 1 from u where u.k = t.k and u.w > t.id * 5)",
    "select t.id from t where not exists (select 1 from u where u.k = t.k and u.w <> 20)",
    "select t.id from t where t.k in (select k from u)",
    "select u.v from u where u.k in (select k from t where x > 0)",
    "select t.id, u.v from t, u where t.id < u.w / 10",
    "select t.id, u.v from t cross join u",
    "select a.id, b.id from t a join t b on a.k = b.k and a.id < b.id",
    "select t.id, u.v from t left join u on t.k = u.k where u.v is null",
    "select count(*) from t join e on t.k = e.k",
    "select t.id, e.w from t left join e on t.k = e.k",
]


@pytest.mark.parametrize("sql", JOINS)
def test_join_matches_datafusion(sql: str, layout: dict[str, int], small_tables: dict[str, str], assert_matches_datafusion) -> None:
    assert_matches_datafusion(sql, small_tables, **layout)


@pytest.fixture
def ids(small_tables: dict[str, str], connect_for_tests):
    """Sorted first column of a query's result on gpu-exec, at a given partition count."""

    def run(sql: str, layout: dict[str, int]) -> list[int]:
        session = connect_for_tests(tables=small_tables, **layout)
        try:
            return sorted(session.sql(sql).to_arrow().column(0).to_pylist())
        finally:
            session.close()

    return run


def test_not_in_plain_conjunct(layout: dict[str, int], ids) -> None:
    # Standard SQL: a NULL left key is unknown → dropped; no NULL on the right side.
    assert ids("select id from t where k not in (select k from nn)", layout) == [3, 4, 8]
    # A NULL in the subquery makes NOT IN never true.
    assert ids("select id from t where k not in (select k from wn)", layout) == []
    # An empty subquery makes NOT IN true for every row, NULL keys included.
    assert ids("select id from t where k not in (select k from e)", layout) == list(range(1, 9))


def test_not_in_inside_or_follows_the_standard(layout: dict[str, int], ids) -> None:
    # DataFusion 55 gets this wrong (apache/datafusion#8241): the standard answer is asserted.
    # k NOT IN (1, NULL) is FALSE for k = 1 and NULL otherwise, so only "id > 6" selects rows.
    assert ids("select id from t where k not in (select k from wn) or id > 6", layout) == [7, 8]
    # Without NULLs in the subquery: true for k not in {1,3,9} and k not NULL, or id > 6.
    assert ids("select id from t where k not in (select k from nn) or id > 6", layout) == [3, 4, 7, 8]
