"""Streaming execution: partitions are streams of small batches (``batch_rows=7`` here, so every
operator sees many of them), and every operator still matches DataFusion; LIMIT stops reading;
``execute_stream`` yields batches while the query runs; nothing is cached between scans; a
distributed task streams its output into the shuffle store piece by piece."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from planner.errors import QueryCancelled

BATCH_ROWS = 7
N = 500
ROW_GROUP = 50


def _big() -> pa.Table:
    return pa.table({
        "id": pa.array(range(N), pa.int64()),
        "k": pa.array([None if i % 37 == 0 else i % 41 for i in range(N)], pa.int32()),
        "s": pa.array([None if i % 23 == 0 else f"s{i % 13}" for i in range(N)]),
        "x": pa.array([None if i % 19 == 0 else (i % 17) * 0.25 - 1 for i in range(N)], pa.float64()),
        "d": pa.array([Decimal(i % 89) / 4 for i in range(N)], pa.decimal128(12, 2)),
        "day": pa.array([dt.date(1995, 1, 1) + dt.timedelta(days=i % 60) for i in range(N)]),
    })


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """``big`` (500 rows, 10 row groups, NULLs), ``small`` (a join partner of 30 rows, keys that
    match, repeat and miss), ``nk`` (keys with a NULL, for NOT IN), ``big_csv`` (``big`` as CSV,
    two files)."""
    root = tmp_path_factory.mktemp("streaming")
    big = _big()
    small = pa.table({
        "k": pa.array([None if i == 7 else (i * 3) % 50 for i in range(30)], pa.int32()),
        "v": pa.array([f"v{i}" for i in range(30)]),
        "w": pa.array([i * 10 for i in range(30)], pa.int64()),
    })
    nk = pa.table({"k": pa.array([1, 2, None, 5], pa.int32())})
    paths = {}
    for name, table, group in (("big", big, ROW_GROUP), ("small", small, 8), ("nk", nk, 2)):
        path = root / f"{name}.parquet"
        pq.write_table(table, path, row_group_size=group)
        paths[name] = str(path)
    csv_dir = root / "big_csv"
    csv_dir.mkdir()
    plain = big.drop_columns(["d"])
    pacsv.write_csv(plain.slice(0, 260), csv_dir / "a.csv")
    pacsv.write_csv(plain.slice(260), csv_dir / "b.csv")
    paths["big_csv"] = str(csv_dir)
    return paths


QUERIES = [
    # scan, filter, projection
    "select id, k, s from big",
    "select id * 2 as i2, upper(s) as u, x + 1 as x1 from big where k > 10 and x is not null",
    "select id, x, day from big_csv where k < 5 or k is null",
    # limit (local limits below a merge), offset
    "select count(*) from (select id from big limit 33)",
    "select id from big order by id limit 9 offset 20",
    "select id from big order by id desc offset 490",
    # union
    "select k from big where k < 3 union all select k from small",
    "select k from big where k < 5 union select k from small",
    # aggregates: partial + final, single (distinct), global, many groups
    "select k, count(*), sum(d), avg(x), min(s), max(day) from big group by k",
    "select s, count(distinct k), sum(id) from big group by s",
    "select count(*), sum(x), avg(d), count(s) from big",
    "select id % 97 as g, count(*), sum(x) from big group by 1 having count(*) > 3",
    "select count(*) from big where k > 1000",
    # joins: inner, outer, semi/anti, mark, residual filters, NOT IN with NULLs, cross
    "select b.id, s.v from big b join small s on b.k = s.k",
    "select b.id, s.v from small s join big b on b.k = s.k and b.id > s.w",
    "select b.id, s.v from big b left join small s on b.k = s.k",
    "select b.id, s.v from big b right join small s on b.k = s.k",
    "select b.id, s.v from big b full join small s on b.k = s.k",
    "select b.id, s.v from big b full join small s on b.k = s.k and b.id < 200",
    "select id from big where k in (select k from small)",
    "select id from big where k not in (select k from small where k is not null)",
    "select id from big where k not in (select k from nk)",
    "select id from big b where exists (select 1 from small s where s.k = b.k and s.w > b.id)",
    "select id from big b where not exists (select 1 from small s where s.k = b.k)",
    "select b.id, n.k from big b cross join nk n where b.id < 40",
    # keys repeating on both sides: many candidate pairs per probe row, cut into bounded slices
    "select a.id, b.id from big a join big b on a.k = b.k",
    "select count(*), sum(a.id - b.id) from big a join big b on a.k = b.k and a.x < b.x",
    "select a.id, b.id from big a full join big b on a.k = b.k and a.id < b.id",
    "select id from big a where exists (select 1 from big b where b.s = a.s and b.id > a.id + 400)",
    # sort, top-k
    "select id, x from big order by x desc nulls last, id",
    "select id, s from big order by s, id desc limit 12",
    # window
    "select id, k, row_number() over (partition by k order by id) as rn, sum(x) over (partition by k) as t from big",
    "select id, rank() over (order by d desc) as r from big",
]

LAYOUTS = {
    "1-partition": {"partitions": 1},
    "3-partitions": {"partitions": 3},
    "3-partitions-hash-joins": {"partitions": 3, "broadcast_rows": 0},
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("sql", QUERIES)
def test_every_operator_over_many_batches_matches_datafusion(
        sql: str, layout: str, tables: dict[str, str], assert_matches_datafusion: Callable[..., Any]) -> None:
    assert_matches_datafusion(sql, tables, batch_rows=BATCH_ROWS, **LAYOUTS[layout])


@pytest.mark.parametrize("broadcast_rows", [60, 120])
def test_the_adaptive_broadcast_over_batches(broadcast_rows: int, tables: dict[str, str],
                                             assert_matches_datafusion: Callable[..., Any]) -> None:
    # Planned as a hash join (the filtered side's estimate is half of 500); its 100 rows turn out
    # more than 60 (its first batches and the rest go through the exchange as planned) or at most
    # 120 (broadcast after all).
    sql = "select a.id, b.id from big a join (select id, k from big where id % 5 = 0) b on a.k = b.k"
    assert_matches_datafusion(sql, tables, partitions=3, batch_rows=BATCH_ROWS, broadcast_rows=broadcast_rows)


def _session(tables: dict[str, str], connect_for_tests: Callable[..., Any], **options: Any) -> Any:
    return connect_for_tests(tables=tables, batch_rows=BATCH_ROWS, **options)


def test_batches_are_at_most_batch_rows(tables: dict[str, str], connect_for_tests: Callable[..., Any]) -> None:
    with _session(tables, connect_for_tests, partitions=1) as s:
        df = s.sql("select id from big")
        batches = list(df.execute_stream())
        assert sum(b.num_rows for b in batches) == N
        assert max(b.num_rows for b in batches) == BATCH_ROWS
        # Each row group cut into batches: 10 row groups of 50 rows, 8 batches each.
        assert df.metrics["TableScan"].batches == len(batches) == (N // ROW_GROUP) * 8


@pytest.mark.parametrize("partitions", [1, 3])
def test_limit_stops_reading_early(partitions: int, tables: dict[str, str],
                                   connect_for_tests: Callable[..., Any]) -> None:
    with _session(tables, connect_for_tests, partitions=partitions) as s:
        df = s.sql("select id, s from big where id % 2 = 0 limit 3")
        assert df.to_arrow().num_rows == 3
        # Each partition's local limit has its 3 rows after its first batch: one batch each.
        assert df.metrics["TableScan"].batches <= partitions < N // BATCH_ROWS
        df = s.sql("select id from big limit 0")
        assert df.to_arrow().num_rows == 0
        assert df.metrics.get("TableScan") is None or df.metrics["TableScan"].batches == 0


def test_execute_stream_yields_batches_before_the_query_ends(tables: dict[str, str],
                                                             connect_for_tests: Callable[..., Any]) -> None:
    with _session(tables, connect_for_tests, partitions=1) as s:
        df = s.sql("select id, upper(s) as u from big where id % 3 = 0")
        stream = df.execute_stream()
        first, second = next(stream), next(stream)
        assert first.num_rows and second.num_rows
        # The query is still running: a cancel now stops it at its next batch.
        df.cancel()
        with pytest.raises(QueryCancelled):
            list(stream)
        assert df.metrics["TableScan"].batches < (N // ROW_GROUP) * 8


def test_stopping_a_stream_early_stops_the_query(tables: dict[str, str],
                                                 connect_for_tests: Callable[..., Any]) -> None:
    with _session(tables, connect_for_tests, partitions=3) as s:
        df = s.sql("select id from big")
        stream = df.execute_stream()
        next(stream)
        stream.close()
        # At most what the merge's producers had in flight: far from the 80 batches of the table.
        assert df.metrics["TableScan"].batches <= 12
        assert df.memory is not None and df.memory.current == 0
        assert s.memory_pool.current == 0


def test_to_arrow_is_the_concatenated_stream(tables: dict[str, str], connect_for_tests: Callable[..., Any]) -> None:
    with _session(tables, connect_for_tests, partitions=3) as s:
        sql = "select k, count(*) as n from big group by k order by k"
        streamed = pa.Table.from_batches(list(s.sql(sql).execute_stream()))
        assert streamed.equals(s.sql(sql).to_arrow())


def test_no_scan_cache_a_table_read_twice_is_read_twice(tables: dict[str, str],
                                                         connect_for_tests: Callable[..., Any]) -> None:
    with _session(tables, connect_for_tests, partitions=2) as s:
        once = s.sql("select count(*) from big")
        once.to_arrow()
        twice = s.sql("select count(*) from big a join big b on a.id = b.id")
        assert twice.to_arrow().column(0)[0].as_py() == N
        assert twice.metrics["TableScan"].batches == 2 * once.metrics["TableScan"].batches


def test_cancel_between_batches_of_one_operator(tables: dict[str, str], connect_for_tests: Callable[..., Any]) -> None:
    """A cross join's product is made a batch at a time: a cancel stops it between two."""
    with _session(tables, connect_for_tests, partitions=1) as s:
        df = s.sql("select a.id, b.id from big a cross join big b")
        stream = df.execute_stream()
        next(stream)
        df.cancel()
        with pytest.raises(QueryCancelled):
            list(stream)
        assert df.metrics["CrossJoin"].rows < N * N


def test_a_task_streams_its_output_into_the_store(tmp_path: Path) -> None:
    """Pieces appended chunk by chunk read back whole, in order, from every tier."""
    from gpu_exec.executor.shuffle_store import ShuffleStore

    store = ShuffleStore(tmp_path, memory_limit=10**9)
    key = ("job", 1, 0, 1, 2)
    chunks = [pa.table({"x": list(range(i * 10, i * 10 + 10))}) for i in range(4)]
    sizes = [store.append(key, c) for c in chunks]
    assert sizes == [c.nbytes for c in chunks]
    assert store.stats().pieces == 1 and store.tier(key) == "host"
    assert store.get(key).to_pydict() == {"x": list(range(40))}
    # Spill the oldest chunks: the piece reads back the same, from disk and memory together.
    store.memory_limit = chunks[0].nbytes * 2
    store.append(key, pa.table({"x": [40]}))
    assert store.tier(key) == "disk" and store.stats().spilled_pieces >= 1
    from gpu_exec.executor.shuffle_store import decode_ipc

    assert decode_ipc(store.get_ipc(key)).to_pydict() == {"x": list(range(41))}
    store.put(key, pa.table({"x": [7]}))  # put replaces every chunk
    assert store.get(key).to_pydict() == {"x": [7]}
    assert store.drop_job("job") == 1 and store.stats().pieces == 0


def test_distributed_tasks_stream_batches(tables: dict[str, str], assert_matches_datafusion: Callable[..., Any]) -> None:
    """On a cluster: scan splits stream through the fragment into appended shuffle pieces."""
    import gpu_exec

    s = gpu_exec.connect(device="cpu", workers=2, worker_threads=1, partitions=3, batch_rows=BATCH_ROWS,
                         broadcast_rows=0, progress="off", fallback="raise")
    try:
        s.register_parquet("big", tables["big"])
        s.register_parquet("small", tables["small"])
        sql = "select s.v, count(*) as n, sum(b.x) as t from big b join small s on b.k = s.k group by s.v"
        assert_matches_datafusion(sql, {"big": tables["big"], "small": tables["small"]}, session=s)
        df = s.sql("select id from big")
        assert df.to_arrow().num_rows == N
        assert df.metrics["ScanSplit"].batches == (N // ROW_GROUP) * 8
        assert df.metrics["ExchangeWrite"].batches == df.metrics["ScanSplit"].batches
    finally:
        s.close()


def test_a_join_of_repeating_keys_makes_bounded_kernel_joins() -> None:
    # 2,000 probe rows and 1,000 build rows on 2 keys: 1,000,000 candidate pairs in all. The
    # probe chunk is cut so that no kernel join produces more than the limit (here 2,000 pairs).
    from fallback_cpu.kernels import ArrowKernels
    from gpu_exec.engine.context import ExecutionContext
    from gpu_exec.engine.operators.join import _bounded, _candidate_counter
    from planner.expr import ColumnRef

    kernels = ArrowKernels()
    probe = pa.table({"k": pa.array([i % 2 for i in range(2000)], pa.int64())})
    build = pa.table({"k": pa.array([i % 2 for i in range(1000)], pa.int64())})
    key = ColumnRef(index=0, dtype=pa.int64(), name="k")
    # What the counter reads of the join: its keys and how NULL keys compare.
    node: Any = SimpleNamespace(left_keys=(key,), right_keys=(key,), nulls_equal=False)
    ctx = ExecutionContext(kernels=kernels, partitions=1)
    count = _candidate_counter(node, build, ctx)
    assert count is not None and count(probe) == 1_000_000
    pieces = list(_bounded(probe, count, 2000, ctx))
    assert sum(p.num_rows for p in pieces) == 2000
    assert max(count(p) for p in pieces) <= 2000
    # Unique build keys: at most one pair per probe row, nothing to count.
    assert _candidate_counter(node, build.slice(0, 2), ctx) is None
