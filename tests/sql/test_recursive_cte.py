"""WITH RECURSIVE against DataFusion: rounds over the work table, UNION vs UNION ALL, the bounds."""

from __future__ import annotations

import threading
from typing import Any, Callable

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from planner.errors import QueryCancelled, ResourceError, UnsupportedSQLError

LAYOUTS = {
    "1-partition": {"partitions": 1},
    "3-partitions": {"partitions": 3},
    "3-partitions-hash-joins": {"partitions": 3, "broadcast_rows": 0},
}


@pytest.fixture(scope="module")
def graph_tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """edges: a small graph with a cycle (1 → 2 → 3 → 1) and a tail (3 → 4 → 5, 6 alone); emp:
    a hierarchy (manager_id NULL at the top); dept: the employees' departments; r: a catalog
    table named like a CTE."""
    tables = {
        "edges": pa.table({"src": pa.array([1, 2, 3, 3, 4, 6], pa.int64()),
                           "dst": pa.array([2, 3, 1, 4, 5, None], pa.int64())}),
        "emp": pa.table({"id": pa.array([1, 2, 3, 4, 5, 6, 7], pa.int64()),
                         "name": ["ann", "bob", "cat", "dan", "eve", "fay", "gus"],
                         "manager_id": pa.array([None, 1, 1, 2, 4, 4, None], pa.int64()),
                         "dept": pa.array([10, 20, 30, 20, 20, None, 40], pa.int32())}),
        "dept": pa.table({"dept": pa.array([10, 20, 30], pa.int32()), "dept_name": ["board", "sales", "lab"]}),
        "r": pa.table({"n": pa.array([100, 200], pa.int64())}),
    }
    root = tmp_path_factory.mktemp("recursive")
    paths = {}
    for name, table in tables.items():
        path = root / f"{name}.parquet"
        pq.write_table(table, path, row_group_size=2)  # several row groups: several scan partitions
        paths[name] = str(path)
    return paths


QUERIES = {
    "count": "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT * FROM r",
    "two-columns": "WITH RECURSIVE x(n, s) AS (SELECT 1, 'a' UNION ALL SELECT n + 1, s || 'b' FROM x WHERE n < 4) "
                   "SELECT * FROM x",
    "closure-union": "WITH RECURSIVE reach(a, b) AS (SELECT src, dst FROM edges UNION "
                     "SELECT reach.a, edges.dst FROM reach JOIN edges ON reach.b = edges.src) "
                     "SELECT * FROM reach ORDER BY a, b NULLS LAST",
    "walk-from-one": "WITH RECURSIVE walk(node) AS (SELECT 1 UNION SELECT e.dst FROM walk w JOIN edges e "
                     "ON w.node = e.src) SELECT node FROM walk",
    "union-dedups-static": "WITH RECURSIVE x(n) AS (SELECT * FROM (VALUES (1), (1), (2), (NULL)) "
                           "UNION SELECT n FROM x WHERE n < 0) SELECT * FROM x",
    "union-dedups-in-round": "WITH RECURSIVE x(n) AS (SELECT 1 UNION SELECT n + 1 FROM x "
                             "CROSS JOIN (VALUES (1), (2)) WHERE n < 3) SELECT * FROM x",
    "union-all-keeps-dups": "WITH RECURSIVE x(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM x "
                            "CROSS JOIN (VALUES (1), (2)) WHERE n < 3) SELECT * FROM x",
    "hierarchy": "WITH RECURSIVE chain(id, name, depth, top) AS ("
                 "SELECT id, name, 0 AS depth, name AS top FROM emp WHERE manager_id IS NULL UNION ALL "
                 "SELECT e.id, e.name, c.depth + 1, c.top FROM emp e JOIN chain c ON e.manager_id = c.id) "
                 "SELECT chain.name, chain.depth, chain.top, d.dept_name FROM chain JOIN emp ON emp.id = chain.id "
                 "LEFT JOIN dept d ON d.dept = emp.dept ORDER BY chain.name",
    "grouped-aggregate": "WITH RECURSIVE x(n, c) AS (SELECT 1 AS n, 1 AS c UNION ALL "
                         "SELECT n + 1, count(*) FROM x WHERE n < 4 GROUP BY n) SELECT * FROM x",
    "empty-static": "WITH RECURSIVE x(n) AS (SELECT src FROM edges WHERE src > 100 UNION ALL "
                    "SELECT n + 1 FROM x WHERE n < 3) SELECT * FROM x",
    "limit-stops-endless": "WITH RECURSIVE x(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM x) SELECT * FROM x LIMIT 7",
    "limit-in-term": "WITH RECURSIVE x(n) AS (SELECT 1 UNION ALL (SELECT n + 1 FROM x LIMIT 1)) "
                     "SELECT * FROM x LIMIT 4",
    "several-static": "WITH RECURSIVE x(n) AS (SELECT 1 UNION ALL SELECT 10 UNION ALL "
                      "SELECT n + 1 FROM x WHERE n < 12) SELECT * FROM x",
    "nested": "WITH RECURSIVE x(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM x WHERE n < 3), "
              "y(m) AS (SELECT n FROM x UNION ALL SELECT m * 10 FROM y WHERE m < 100) SELECT * FROM y ORDER BY m",
    "cast-in-term": "WITH RECURSIVE x(n) AS (SELECT CAST(1 AS INT) UNION ALL SELECT n + 1 FROM x WHERE n < 3) "
                    "SELECT * FROM x",
    "catalog-table-shadowed": "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) "
                              "SELECT * FROM r",
    "catalog-table-qualified": "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM public.r "
                               "WHERE n < 300) SELECT * FROM r",
    "joined-with-base": "WITH RECURSIVE x(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM x WHERE n < 6) "
                        "SELECT x.n, e.dst FROM x JOIN edges e ON e.src = x.n",
    "read-twice-outside": "WITH RECURSIVE x(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM x WHERE n < 5) "
                          "SELECT a.n, b.n AS m FROM x a JOIN x b ON a.n = b.n + 1",
    "in-scalar-subquery": "SELECT src, (WITH RECURSIVE x(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM x WHERE n < 4) "
                          "SELECT sum(n) FROM x) AS total FROM edges",
    "subquery-in-term": "WITH RECURSIVE x(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM x "
                        "WHERE n < (SELECT max(src) FROM edges)) SELECT * FROM x",
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("name", list(QUERIES))
def test_recursive_matches_datafusion(name: str, layout: str, graph_tables: dict[str, str],
                                      assert_matches_datafusion: Callable[..., Any]) -> None:
    assert_matches_datafusion(QUERIES[name], graph_tables, **LAYOUTS[layout])


def test_plan_shows_the_recursive_query(graph_tables: dict[str, str], connect_for_tests: Callable[..., Any]) -> None:
    s = connect_for_tests(3, graph_tables)
    try:
        text = s.sql(QUERIES["closure-union"]).explain()
    finally:
        s.close()
    assert "RecursiveQuery: reach UNION @" in text
    assert "WorkTableScan: reach [a, b] @" in text


def test_second_reference_refused_as_datafusion_does(graph_tables: dict[str, str],
                                                     connect_for_tests: Callable[..., Any]) -> None:
    s = connect_for_tests(1, graph_tables)
    try:
        with pytest.raises(UnsupportedSQLError, match="referenced more than once"):
            s.sql("WITH RECURSIVE x(n) AS (SELECT 1 UNION ALL SELECT a.n + 1 FROM x a JOIN x b ON a.n = b.n "
                  "WHERE a.n < 4) SELECT * FROM x")
    finally:
        s.close()


ENDLESS = "WITH RECURSIVE x(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM x) SELECT * FROM x"


def test_endless_recursion_stops_at_the_bound(graph_tables: dict[str, str],
                                              connect_for_tests: Callable[..., Any]) -> None:
    s = connect_for_tests(2, graph_tables, recursion_limit=20)
    try:
        with pytest.raises(ResourceError, match=r"recursive query 'x' did not end after 20 rounds.*recursion_limit"):
            s.sql(ENDLESS).to_arrow()
        # Ending within the bound is fine: 19 rounds with rows, the 20th finds none.
        assert s.sql(ENDLESS.replace("FROM x)", "FROM x WHERE n < 20)")).to_arrow().num_rows == 20
    finally:
        s.close()


def test_rows_held_by_a_recursion_are_bounded_by_memory_limit(graph_tables: dict[str, str],
                                                               connect_for_tests: Callable[..., Any]) -> None:
    # Each round doubles its string: the rounds held outgrow the memory limit long before the bound.
    s = connect_for_tests(1, graph_tables, memory_limit="4MB", recursion_limit=0)
    try:
        with pytest.raises(ResourceError, match="RecursiveQuery"):
            s.sql("WITH RECURSIVE x(n, s) AS (SELECT 1, repeat('a', 1000) UNION ALL "
                  "SELECT n + 1, s || s FROM x) SELECT n FROM x").to_arrow()
    finally:
        s.close()


def test_cancel_stops_an_endless_recursion(graph_tables: dict[str, str], connect_for_tests: Callable[..., Any]) -> None:
    s = connect_for_tests(2, graph_tables, recursion_limit=0)
    try:
        df = s.sql(ENDLESS)
        stream = df.execute_stream()
        next(iter(stream))  # it runs, round after round
        threading.Thread(target=df.cancel).start()
        with pytest.raises(QueryCancelled):
            for _ in stream:
                pass
    finally:
        s.close()


def test_recursive_term_across_devices(graph_tables: dict[str, str],
                                       assert_matches_datafusion: Callable[..., Any]) -> None:
    # string_agg runs on the CPU only: on a GPU session the rounds move between the devices
    # (and keep the plan's placement, although they are built after it was planned).
    sql = ("WITH RECURSIVE x(n, s) AS (SELECT 1 AS n, 'a' AS s UNION ALL "
           "SELECT n + 1, string_agg(s, ',') FROM x WHERE n < 4 GROUP BY n) SELECT * FROM x")
    assert_matches_datafusion(sql, graph_tables, partitions=3, fallback="silent")


def test_recursion_limit_from_the_environment(graph_tables: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                              connect_for_tests: Callable[..., Any]) -> None:
    monkeypatch.setenv("GPU_EXEC__RECURSION_LIMIT", "3")
    s = connect_for_tests(1, graph_tables)
    try:
        with pytest.raises(ResourceError, match="did not end after 3 rounds"):
            s.sql(ENDLESS).to_arrow()
        assert s.sql(ENDLESS + " LIMIT 3").to_arrow().num_rows == 3  # the LIMIT ends it first
    finally:
        s.close()
