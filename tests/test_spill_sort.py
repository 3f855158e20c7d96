"""Sort and Window under a tiny memory budget: they spill (sorted runs merged; window partitions
hash-split into buckets) and still answer as DataFusion does; a top-k keeps its k rows and
spills nothing; one window partition larger than the budget fails with ResourceError.

Small batches (``batch_rows=7``) and limits of a few KiB, so every sort and window here spills:
the tests assert the metrics' spilled bytes. Budgets are sized from the data, not from timing:
each query's answer and whether it spills depend on neither the threads' order nor the machine.
"""

from __future__ import annotations

from typing import Any, Callable

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from planner.errors import ResourceError

BATCH_ROWS = 7
N = 400
SORT_SHARE = 0.4  # of what a sort holds without a limit: several runs per partition


def _table() -> pa.Table:
    return pa.table({
        "id": pa.array(range(N), pa.int64()),
        "k": pa.array([None if i % 11 == 0 else i % 13 for i in range(N)], pa.int32()),
        "s": pa.array([None if i % 7 == 0 else f"s{i % 5}" for i in range(N)]),
        "x": pa.array([None if i % 9 == 0 else (i % 17) * 0.5 - 2 for i in range(N)], pa.float64()),
    })


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """``t``: 400 rows, 8 row groups, NULLs in every column but id, many duplicate keys;
    ``one``: the same rows, all with one key ``c``."""
    root = tmp_path_factory.mktemp("spill_sort")
    t = _table()
    paths = {"t": str(root / "t.parquet"), "one": str(root / "one.parquet")}
    pq.write_table(t, paths["t"], row_group_size=50)
    pq.write_table(t.append_column("c", pa.array([1] * N, pa.int32())), paths["one"], row_group_size=50)
    return paths


def _spilled(session: Any, sql: str, operator: str) -> tuple[pa.Table, int]:
    df = session.sql(sql)
    result = df.to_arrow()
    return result, df.metrics[operator].spilled_bytes


def _peak(sql: str, operator: str, partitions: int, tables: dict[str, str],
          connect_for_tests: Callable[..., Any]) -> int:
    """The most ``operator`` holds running ``sql`` without a limit (backends count bytes their own
    way: budgets are sized from this, not written in bytes)."""
    with connect_for_tests(partitions, tables, batch_rows=BATCH_ROWS) as s:
        df = s.sql(sql)
        df.to_arrow()
        assert df.metrics[operator].spilled_bytes == 0
        return int(df.metrics[operator].peak_bytes)


SORTS = [
    "select id, k, s, x from t order by k desc nulls last, s nulls first, id",
    "select id, k, s from t order by s desc nulls first, k asc nulls last, id desc",
    "select k, s from t order by s nulls last, k desc nulls first",  # duplicates of whole rows
    "select id, x from t order by x desc nulls last, id",
    "select id, k, x from t order by k % 5 nulls first, x * 2 desc, id",  # computed keys
    "select id, k from t where x is not null order by k, id desc limit 300",  # a top-k larger than the budget
]


@pytest.mark.parametrize("partitions", [1, 3])
@pytest.mark.parametrize("sql", SORTS)
def test_sort_spills_and_matches_datafusion(sql: str, partitions: int, tables: dict[str, str],
                                            assert_matches_datafusion: Callable[..., pa.Table],
                                            connect_for_tests: Callable[..., Any]) -> None:
    limit = int(_peak(sql, "Sort", 1, tables, connect_for_tests) * SORT_SHARE)
    with connect_for_tests(partitions, tables, batch_rows=BATCH_ROWS, memory_limit=limit) as s:
        assert_matches_datafusion(sql, tables, session=s)
        _, spilled = _spilled(s, sql, "Sort")
        assert spilled > 0
        assert s.memory_pool.current == 0


@pytest.mark.parametrize("partitions", [1, 3])
def test_a_top_k_keeps_k_rows_and_does_not_spill(partitions: int, tables: dict[str, str],
                                                  assert_matches_datafusion: Callable[..., pa.Table],
                                                  connect_for_tests: Callable[..., Any]) -> None:
    sql = "select id, k, s from t order by k desc nulls first, s, id limit 5"
    limit = int(_peak(sql.replace(" limit 5", ""), "Sort", 1, tables, connect_for_tests) * SORT_SHARE)
    with connect_for_tests(partitions, tables, batch_rows=BATCH_ROWS, memory_limit=limit) as s:
        assert_matches_datafusion(sql, tables, session=s)
        result, spilled = _spilled(s, sql, "Sort")
        assert result.num_rows == 5 and spilled == 0


def test_an_external_sort_is_stable(tables: dict[str, str], connect_for_tests: Callable[..., Any]) -> None:
    """Ties keep their input order across runs, as the in-memory sort keeps them (one partition:
    the input order is the file's)."""
    sql = "select id, k, s from t order by k desc nulls first, s nulls last"
    table = _table()
    expected = table.take(pa.compute.sort_indices(
        pa.table({"kv": pa.compute.is_valid(table["k"]), "k": table["k"], "sv": pa.compute.is_valid(table["s"]),
                  "s": table["s"]}),
        sort_keys=[("kv", "ascending"), ("k", "descending"), ("sv", "descending"), ("s", "ascending")]))
    limit = int(_peak(sql, "Sort", 1, tables, connect_for_tests) * SORT_SHARE)
    with connect_for_tests(1, tables, batch_rows=BATCH_ROWS, memory_limit=limit) as s:
        result, spilled = _spilled(s, sql, "Sort")
    assert spilled > 0
    assert result.column("id").to_pylist() == expected.column("id").to_pylist()
    with connect_for_tests(1, tables, batch_rows=BATCH_ROWS) as s:
        in_memory, spilled = _spilled(s, sql, "Sort")
    assert spilled == 0 and in_memory.equals(result)


WINDOWS = [
    ("select id, k, sum(x) over (partition by k order by id) as sx, count(*) over (partition by k) as n, "
     "row_number() over (partition by k order by id desc) as rn from t"),
    ("select id, s, k, rank() over (partition by s order by k desc nulls first) as r, "
     "dense_rank() over (partition by s order by k nulls last) as dr, max(x) over (partition by s) as mx from t"),
    "select id, k, s, avg(x) over (partition by k, s order by id) as ax, min(id) over (partition by k, s) as lo from t",
    ("select id, k, s, count(x) over (partition by k % 4 order by id rows between unbounded preceding and current row) "
     "as c from t"),
]


@pytest.mark.parametrize("partitions", [1, 3])
@pytest.mark.parametrize("sql", WINDOWS)
def test_window_spills_and_matches_datafusion(sql: str, partitions: int, tables: dict[str, str],
                                              assert_matches_datafusion: Callable[..., pa.Table],
                                              connect_for_tests: Callable[..., Any]) -> None:
    # Room for the hash exchange before the window, which holds the whole input, and not much
    # more: a partition's share (the limit over partitions + 1) is less than the rows it gets.
    limit = _peak(sql, "Exchange", partitions, tables, connect_for_tests) * 13 // 10
    with connect_for_tests(partitions, tables, batch_rows=BATCH_ROWS, memory_limit=limit) as s:
        assert_matches_datafusion(sql, tables, session=s)
        df = s.sql(sql)
        result = df.to_arrow()
        assert result.num_rows == N
        if partitions == 1:
            assert df.metrics["Window"].spilled_bytes > 0
        else:
            # Several partitions share the pool with the exchange, which spills past its own
            # share too: which of the two spills depends on how the device counts the exchange's
            # pieces (views of one buffer per input batch on the GPU), but one of them must.
            assert df.metrics["Window"].spilled_bytes + df.metrics["Exchange"].spilled_bytes > 0
        assert s.memory_pool.current == 0


def test_window_and_sort_spill_in_one_query(tables: dict[str, str],
                                            assert_matches_datafusion: Callable[..., pa.Table],
                                            connect_for_tests: Callable[..., Any]) -> None:
    sql = ("select id, k, s, sx, x * 2 as x2, id * 3 as i3, concat(s, s) as ss from "
           "(select id, k, s, x, sum(x) over (partition by k order by id) as sx from t) "
           "order by sx desc nulls last, id")
    # Room for the exchange (the window's input), less than the sort's (wider: computed columns).
    limit = _peak(sql, "Exchange", 1, tables, connect_for_tests) * 12 // 10
    assert limit < _peak(sql, "Sort", 1, tables, connect_for_tests)
    with connect_for_tests(1, tables, batch_rows=BATCH_ROWS, memory_limit=limit) as s:
        assert_matches_datafusion(sql, tables, session=s)
        df = s.sql(sql)
        df.to_arrow()
        assert df.metrics["Window"].spilled_bytes > 0 and df.metrics["Sort"].spilled_bytes > 0


@pytest.mark.parametrize("sql", [
    "select id, sum(x) over (order by id) as sx from t",  # no PARTITION BY: one window partition
    # One key, and result columns as wide as the input: its window partition holds twice the input.
    ("select id, s, sum(x) over (partition by c order by id) as sx, count(x) over (partition by c order by id) "
     "as n, min(id) over (partition by c order by id) as lo, max(id) over (partition by c order by id) as hi, "
     "row_number() over (partition by c order by id) as rn from one"),
])
def test_a_window_partition_larger_than_the_budget_fails(sql: str, tables: dict[str, str],
                                                         connect_for_tests: Callable[..., Any]) -> None:
    window = _peak(sql, "Window", 1, tables, connect_for_tests)
    if "partition by" in sql:
        # Room for the hash exchange (the window's input), not for the window's input and output.
        exchange = _peak(sql, "Exchange", 1, tables, connect_for_tests)
        limit = exchange * 11 // 10
    else:
        limit = window // 3
    with connect_for_tests(1, tables, batch_rows=BATCH_ROWS, memory_limit=limit) as s:
        with pytest.raises(ResourceError) as caught:
            s.sql(sql).to_arrow()
        assert caught.value.consumer == "Window" and caught.value.limit == limit
        assert "Window" in str(caught.value) and "memory_limit" in str(caught.value)
        assert s.memory_pool.current == 0
