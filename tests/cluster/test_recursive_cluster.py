"""WITH RECURSIVE on an embedded cluster: the recursive query runs whole inside one task."""

from __future__ import annotations

from typing import Any, Callable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from planner.stages import cut_stages


@pytest.fixture(scope="module")
def cluster_session(connect_for_tests: Callable[..., Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    root = tmp_path_factory.mktemp("recursive-cluster")
    path = root / "edges.parquet"
    pq.write_table(pa.table({"src": pa.array([1, 2, 3, 3, 4], pa.int64()),
                             "dst": pa.array([2, 3, 1, 4, 5], pa.int64())}), path, row_group_size=2)
    tables = {"edges": str(path)}
    session = connect_for_tests(3, tables, workers=2, progress="off")
    yield session, tables
    session.close()


@pytest.mark.parametrize("sql", [
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT * FROM r",
    # The closure's rounds join the work table with a scan and exchange rows inside the task;
    # the answer then joins a partitioned scan (every task reads the one recursive partition).
    "WITH RECURSIVE reach(a, b) AS (SELECT src, dst FROM edges UNION SELECT reach.a, edges.dst FROM reach "
    "JOIN edges ON reach.b = edges.src) SELECT reach.a, reach.b, e.dst FROM reach JOIN edges e ON e.src = reach.b",
    "WITH RECURSIVE x(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM x) SELECT * FROM x LIMIT 6",
])
def test_recursive_query_on_a_cluster(sql: str, cluster_session: Any,
                                      assert_matches_datafusion: Callable[..., Any]) -> None:
    session, tables = cluster_session
    assert_matches_datafusion(sql, tables, session=session)


def test_stages_keep_the_recursive_query_in_one_task(cluster_session: Any) -> None:
    session, _ = cluster_session
    df = session.sql("WITH RECURSIVE reach(a, b) AS (SELECT src, dst FROM edges UNION SELECT reach.a, "
                             "edges.dst FROM reach JOIN edges ON reach.b = edges.src) SELECT count(*) FROM reach")
    assert df.to_arrow().column(0).to_pylist() == [16]
    stages = cut_stages(df.physical_plan, lambda scan: 2)
    holding = [s for s in stages.stages if "RecursiveQuery" in repr(s.root)]
    assert len(holding) == 1 and holding[0].tasks == 1
