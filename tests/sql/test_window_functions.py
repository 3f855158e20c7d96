"""lag/lead, first/last/nth_value, ntile, percent_rank and cume_dist, and aggregates over ROWS,
RANGE and GROUPS frames, against DataFusion: several partitions and orderings, ties and NULLs in
keys and values, offsets past the partition, defaults, IGNORE NULLS; with one and several
partitions (a hash exchange on the PARTITION BY keys before the window), on the session's
device."""

from __future__ import annotations

import random
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest


@pytest.fixture(scope="module")
def tables(small_tables: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The small tables and ``g``: 300 rows, 7 groups (one NULL), ties and NULLs in ``o`` and
    ``v``, a unique ``id`` to break ties; several row groups, so scans split."""
    rng = random.Random(14)
    n = 300
    g = pa.table(
        {
            "id": pa.array(range(n), pa.int64()),
            "grp": pa.array([rng.choice([None, "a", "b", "c", "d", "e", "f"]) for _ in range(n)]),
            "o": pa.array([rng.choice([None, 1, 2, 3, 4, 5]) for _ in range(n)], pa.int32()),
            "v": pa.array([rng.choice([None, None, *range(-20, 50)]) for _ in range(n)], pa.int64()),
            "amount": pa.array(
                [rng.choice([None, Decimal(rng.randint(-9999, 9999)) / 100]) for _ in range(n)], pa.decimal128(12, 2)
            ),
            "name": pa.array([rng.choice([None, "x", "yy", "zzz", ""]) for _ in range(n)]),
        }
    )
    path = tmp_path_factory.mktemp("windows") / "g.parquet"
    pq.write_table(g, path, row_group_size=64)
    return {**small_tables, "g": str(path)}


QUERIES = [
    # lag/lead: offsets within and past the partition, negative offsets, defaults of other types.
    "select id, lag(x) over (order by id), lead(x) over (order by id) from t",
    "select id, k, lag(s, 1, 'none') over (partition by k order by id), lead(d, 2, 0) over (partition by k order by id) from t",
    "select id, lag(v, 3) over (partition by grp order by o, id), lead(v, 20, -1) over (partition by grp order by o desc, id) from g",
    "select id, lag(v, -2, 0) over (partition by grp order by id), lead(amount, -1) over (partition by grp order by id) from g",
    "select id, lag(name, 1000, 'far') over (partition by grp order by id), lead(v, 0) over (order by id) from g",
    "select id, lag(v, 1, 2.7) over (partition by grp order by id) from g",
    # IGNORE NULLS: lag by any offset, lead by one row.
    "select id, lag(v) ignore nulls over (partition by grp order by id), lag(v, 3, 99) ignore nulls over (partition by grp order by id) from g",
    "select id, lead(v) ignore nulls over (partition by grp order by id), lead(name, 1, '?') ignore nulls over (order by id) from g",
    # first/last/nth_value: default frames (with and without ORDER BY), ROWS frames, peers.
    "select id, first_value(v) over (partition by grp order by id), last_value(v) over (partition by grp order by id) from g",
    "select id, first_value(o) over (partition by grp order by o desc nulls last), last_value(o) over (partition by grp order by o) from g",
    "select id, nth_value(v, 2) over (partition by grp order by id rows between 2 preceding and 2 following), "
    "nth_value(v, -1) over (partition by grp order by id rows between unbounded preceding and 1 preceding) from g",
    "select id, first_value(v) over (partition by grp order by id rows between 3 following and unbounded following), "
    "last_value(amount) over (partition by grp order by id rows between current row and 4 following) from g",
    "select id, first_value(o) over (partition by grp order by o nulls first range between current row and unbounded following), "
    "last_value(o) over (partition by grp order by o desc range between current row and current row) from g",
    "select id, first_value(v) ignore nulls over (partition by grp order by id), "
    "last_value(v) ignore nulls over (partition by grp order by id rows between 5 preceding and 5 following), "
    "nth_value(v, 3) ignore nulls over (partition by grp order by id rows between unbounded preceding and unbounded following) from g",
    "select id, nth_value(x, 2) over (order by id), nth_value(s, 0) over (order by id), first_value(day) over (partition by b order by id) from t",
    # ntile, percent_rank, cume_dist: ties and NULL keys, partitions of one row, no ORDER BY.
    "select id, ntile(4) over (partition by grp order by o, id), ntile(100) over (order by id), ntile(1) over () from g",
    "select id, percent_rank() over (partition by grp order by o), cume_dist() over (partition by grp order by o desc nulls first) from g",
    "select id, k, percent_rank() over (partition by k order by x), cume_dist() over (order by k), ntile(3) over (partition by k order by id) from t",
    "select id, percent_rank() over (), cume_dist() over (partition by k) from t",
    # With the aggregates and ranking functions over other windows of the same query.
    "select id, grp, row_number() over (partition by grp order by id), lag(v) over (partition by grp order by id), "
    "sum(v) over (partition by grp order by id rows between unbounded preceding and current row), "
    "cume_dist() over (partition by grp order by o) from g",
    # Aggregates over sliding ROWS frames and RANGE frames from the current row's peers.
    "select id, sum(v) over (partition by grp order by id rows between 2 preceding and 2 following), "
    "avg(amount) over (partition by grp order by id rows between 1 following and 5 following), "
    "count(name) over (partition by grp order by id rows between 3 preceding and 1 preceding) from g",
    "select id, min(name) over (partition by grp order by id rows between current row and 3 following), "
    "max(v) over (partition by grp order by id rows between unbounded preceding and 1 preceding), "
    "count(*) over (order by id rows between 10 preceding and 10 following) from g",
    "select g.id, sum(v) over (partition by grp order by o range between current row and unbounded following), "
    "max(amount) over (partition by grp order by o desc range between current row and current row), "
    "avg(x) over (order by g.id rows between 1 preceding and 1 following) from g join t on g.id = t.id",
    # GROUPS frames: offsets in peer groups (NULL keys are one group).
    "select id, sum(v) over (partition by grp order by o groups between 1 preceding and 1 following), "
    "count(*) over (order by o nulls first groups between 2 following and unbounded following), "
    "max(o) over (partition by grp order by o desc groups between unbounded preceding and 1 preceding), "
    "last_value(o) over (partition by grp order by o groups between current row and 2 following) from g",
    # Empty input.
    "select k, lag(w) over (order by k), ntile(2) over (order by k), cume_dist() over (order by k), first_value(w) over () from e",
]


@pytest.mark.parametrize("sql", QUERIES)
def test_window_function_matches_datafusion(
    sql: str, layout: dict[str, int], tables: dict[str, str], assert_matches_datafusion
) -> None:
    assert_matches_datafusion(sql, tables, **layout)


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("select lead(v, 2) ignore nulls over (order by id) from g", "IGNORE NULLS reading 2 rows ahead"),
        ("select lag(v, -3) ignore nulls over (order by id) from g", "IGNORE NULLS reading 3 rows ahead"),
        ("select first_value(v) over (order by o range between 1 preceding and 1 following) from g", "window frame"),
        ("select last_value(x) over (order by day range between interval '1' day preceding and current row) from t",
         "window frame"),
        ("select sum(v) over (order by o range between 2 preceding and current row) from g", "window frame"),
    ],
)
def test_refused_window_calls_name_their_reason(sql: str, reason: str, tables: dict[str, str], assert_translation_raises) -> None:
    assert_translation_raises(sql, tables, reason)


def test_ntile_needs_a_positive_constant(tables: dict[str, str], connect_for_tests) -> None:
    from gpu_exec.api.sql_scripts import register_tables
    from planner.errors import SQLError

    session = connect_for_tests(1)
    try:
        register_tables(session, tables)
        with pytest.raises(SQLError, match="NTILE requires a positive integer"):
            session.sql("select ntile(0) over (order by id) from g")
    finally:
        session.close()
