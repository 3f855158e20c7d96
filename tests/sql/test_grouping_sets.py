"""GROUPING SETS, ROLLUP and CUBE with GROUPING(), and the integer bit operators (&, |, ^, <<, >>)
that DataFusion's plans use to read the grouping id: NULL keys, empty inputs, one group."""

from __future__ import annotations

import pytest

GROUPING_SETS = [
    "select k, b, count(*), sum(x), grouping(k), grouping(k, b), grouping(b, k) from t group by rollup(k, b)",
    "select k, s, count(distinct x), avg(d), min(day) from t group by grouping sets ((k), (s), ())",
    "select k, sum(x) from t group by cube(k)",
    "select k, b, s, count(*), grouping(s), grouping(k, b, s) from t group by cube(k, b, s)",
    # A NULL key value and a key absent from the grouping set both read NULL: GROUPING() tells them apart.
    "select k, count(*), grouping(k) from t group by rollup(k)",
    # Duplicate grouping sets each give their rows.
    "select k, count(*), grouping(k) from t group by grouping sets ((k), (k), ())",
    "select k, count(*) from t group by k, rollup(k)",
    "select k, b, count(*), sum(x) from t group by k, cube(b) having count(*) > 1",
    "select k + 1 as kk, upper(s) as us, count(*) from t group by rollup(k + 1, upper(s)) order by 1, 2, 3",
    "select b, count(*), sum(x) filter (where x > 0) from t group by rollup(b)",
    # Empty input: only the empty grouping set gives a row (like a global aggregate).
    "select k, w, count(*), sum(w) from e group by grouping sets ((k), (w), ())",
    "select k, count(*), grouping(k) from e group by rollup(k)",
    "select count(*) from e group by grouping sets (())",
    "select b, count(*) from t where id > 100 group by rollup(b)",
    # One group.
    "select k, count(*), grouping(k) from t where k = 1 group by cube(k)",
    "select u.v, t.b, sum(u.w), grouping(u.v) from t join u on t.k = u.k group by rollup(u.v, t.b)",
    "select k, b, count(*) from t group by grouping sets ((k, b), (b)) order by k, b, count(*)",
]


@pytest.mark.parametrize("sql", GROUPING_SETS)
def test_grouping_sets_match_datafusion(sql: str, layout: dict[str, int], small_tables: dict[str, str],
                                        assert_matches_datafusion) -> None:
    assert_matches_datafusion(sql, small_tables, **layout)


BIT_OPERATORS = [
    "select id, k & 6, k | 8, k ^ 3, k << 2, k >> 1, id << k, (-id) >> 2 from t",
    # Shift counts wrap modulo the bit width, as DataFusion's: -1 shifts by 63 on 64 bits.
    ("select id, k << -1 as a, k << 65 as b, id >> (k - 5) as c, (-id) >> 63 as d, "
     "cast(id as int) << 31 as e, cast(k as tinyint) << 7 as f from t"),
    "select id, 3 & null as a, k & x as b, (k & 1) = 1 as odd from t where (id | 1) > 2",
    "select k & 1 as parity, count(*) from t group by k & 1",
]


@pytest.mark.parametrize("sql", BIT_OPERATORS)
def test_bit_operators_match_datafusion(sql: str, layout: dict[str, int], small_tables: dict[str, str],
                                        assert_matches_datafusion) -> None:
    assert_matches_datafusion(sql, small_tables, **layout)
