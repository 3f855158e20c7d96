"""Spilling exchanges: a hash exchange keeps what fits its share of a tight memory limit and
writes the rest to spill files that its consumers stream back; a broadcast that does not fit goes
to one file, loaded once for the join that needs it whole (or fails with ResourceError naming
Exchange (broadcast) and ``memory_limit``). Answers still equal DataFusion's, and no spill file
outlives its query, finished, failed or cancelled.

Budgets are sized from what the exchanges hold without a limit (``_peak``), not written in bytes:
the backends count bytes their own way."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fallback_cpu.kernels import ArrowKernels
from gpu_exec.engine.context import ExecutionContext
from gpu_exec.engine.memory import MemoryPool
from gpu_exec.engine.operators.exchange import broadcast_of, exchange
from gpu_exec.engine.spill import SpillDirectory
from planner.errors import QueryCancelled, ResourceError
from planner.expr import ColumnRef
from planner.ir import EmptyRelation, Exchange, ExchangeKind

BATCH_ROWS = 32
N = 3000


def _big() -> pa.Table:
    return pa.table({
        "id": pa.array(range(N), pa.int64()),
        "k": pa.array([None if i % 97 == 0 else (i * 7) % 1009 for i in range(N)], pa.int32()),
        "s": pa.array([None if i % 89 == 0 else f"s{(i * 13) % 401}" for i in range(N)]),
        "x": pa.array([None if i % 31 == 0 else (i % 113) * 0.5 - 3 for i in range(N)], pa.float64()),
    })


def _wide() -> pa.Table:
    """A broadcast side bigger than the aggregate states it meets: long strings."""
    m = 2000
    return pa.table({
        "k": pa.array([None if i % 61 == 0 else (i * 3) % 1200 for i in range(m)], pa.int32()),
        "t": pa.array([f"{i % 173:04d}" * 10 for i in range(m)]),
    })


def _other() -> pa.Table:
    """A join partner: keys that match (several times), miss, and are NULL."""
    m = 2500
    return pa.table({
        "k": pa.array([None if i % 53 == 0 else (i * 11) % 1500 for i in range(m)], pa.int32()),
        "v": pa.array([f"v{i % 211}" for i in range(m)]),
        "w": pa.array([i * 3 for i in range(m)], pa.int64()),
    })


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("spill_exchange")
    paths = {}
    for name, table in (("big", _big()), ("other", _other()), ("wide", _wide())):
        path = root / f"{name}.parquet"
        pq.write_table(table, path, row_group_size=500)
        paths[name] = str(path)
    return paths


def _peak(sql: str, tables: dict[str, str], connect_for_tests: Callable[..., Any], **options: Any) -> int:
    """The most the exchanges of ``sql`` hold without a limit (and they spill nothing then)."""
    with connect_for_tests(tables=tables, **options) as s:
        df = s.sql(sql)
        df.to_arrow()
        assert df.metrics["Exchange"].spilled_bytes == 0
        return int(df.metrics["Exchange"].peak_bytes)


def _leftovers(spill_dir: Path) -> list[str]:
    return [str(p) for p in spill_dir.rglob("*")]


# Hash exchanges of every kind of consumer: both sides of a join (hash joins only), the raw rows of
# a DISTINCT aggregate, the partial states of a grouped one, a window's PARTITION BY.
HASHED = [
    "select b.id, o.v from big b join other o on b.k = o.k",
    "select b.id, o.w, o.v from big b full join other o on b.k = o.k",
    "select id from big b where not exists (select 1 from other o where o.k = b.k and o.w > b.id)",
    "select k, count(distinct s), sum(x), count(*) from big group by k",
    "select s, count(*), sum(id), max(x) from big group by s",
    "select id, k, sum(x) over (partition by k order by id) as sx, row_number() over (partition by k order by id) as rn "
    "from big",
]
# One partition: joins and windows still hash their input (into one partition); an aggregate does not.
HASHED_CASES = [(sql, n) for sql in HASHED for n in (1, 3) if n > 1 or "group by" not in sql]


@pytest.mark.parametrize(("sql", "partitions"), HASHED_CASES)
def test_hash_exchanges_spill_and_match_datafusion(sql: str, partitions: int, tables: dict[str, str],
                                                   tmp_path: Path,
                                                   assert_matches_datafusion: Callable[..., pa.Table],
                                                   connect_for_tests: Callable[..., Any]) -> None:
    options = {"partitions": partitions, "broadcast_rows": 0, "batch_rows": BATCH_ROWS}
    # Half of what the exchanges hold unlimited: the limit cannot hold them, whatever their share.
    limit = _peak(sql, tables, connect_for_tests, **options) // 2
    with connect_for_tests(tables=tables, memory_limit=limit, spill_dir=str(tmp_path), **options) as s:
        assert_matches_datafusion(sql, tables, session=s)
        df = s.sql(sql)
        df.to_arrow()
        assert df.metrics["Exchange"].spilled_bytes > 0
        assert df.metrics["Exchange"].peak_bytes <= limit
        assert s.memory_pool.current == 0
    assert not _leftovers(tmp_path)


def test_a_spilled_broadcast_is_streamed_to_the_join(tables: dict[str, str], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      assert_matches_datafusion: Callable[..., pa.Table],
                                                      connect_for_tests: Callable[..., Any]) -> None:
    """The left side's exchange (an aggregate's states) holds its share when the broadcast of
    ``wide`` is read: a limit a little over the broadcast alone cannot hold both, so the broadcast
    goes to its file, which the join reads back whole (asking the states to spill). How little
    depends on how the backend counts bytes (a GPU's small batches count far more than their
    rows): limits from 6/5 of the broadcast down are tried until one spills it; each answers
    right, or fails with ResourceError (a side or a group that must be whole and cannot be)."""
    labels: list[str] = []
    new_file = SpillDirectory.new_file

    def recording(self: SpillDirectory, kernels: Any, schema: pa.Schema, label: str) -> Any:
        labels.append(label)
        return new_file(self, kernels, schema, label)

    options = {"partitions": 3, "broadcast_rows": 10_000, "batch_rows": BATCH_ROWS}
    # What the broadcast of ``wide`` holds (the only exchange of this join: its left side is a scan).
    broadcast = _peak("select b.id, w.t from big b join wide w on b.k = w.k", tables, connect_for_tests, **options)
    monkeypatch.setattr(SpillDirectory, "new_file", recording)
    sql = "select a.k, a.n, w.t from (select k, count(*) as n from big group by k) a join wide w on a.k = w.k"
    for limit in (broadcast * 6 // 5, broadcast, broadcast * 4 // 5, broadcast * 3 // 5):
        labels.clear()
        with connect_for_tests(tables=tables, memory_limit=limit, spill_dir=str(tmp_path), **options) as s:
            try:
                assert_matches_datafusion(sql, tables, session=s)
                answered = True
            except ResourceError as exc:
                assert "memory_limit" in str(exc) and exc.limit == limit
                answered = False
            assert s.memory_pool.current == 0
        assert not _leftovers(tmp_path)
        if answered and any("broadcast" in label for label in labels):
            return
    pytest.fail("the broadcast never spilled")


def test_a_broadcast_larger_than_the_limit_fails_and_leaves_no_file(tables: dict[str, str], tmp_path: Path,
                                                                    connect_for_tests: Callable[..., Any]) -> None:
    """The join must hold its broadcast side whole: past the limit it fails, naming itself."""
    sql = "select b.id, o.v from big b join other o on b.k = o.k"
    options = {"partitions": 3, "broadcast_rows": 10_000, "batch_rows": BATCH_ROWS}
    limit = _peak(sql, tables, connect_for_tests, **options) // 3
    with connect_for_tests(tables=tables, memory_limit=limit, spill_dir=str(tmp_path), **options) as s:
        with pytest.raises(ResourceError) as caught:
            s.sql(sql).to_arrow()
        assert caught.value.consumer == "Join" and caught.value.limit == limit
        message = str(caught.value)
        assert "a side every partition of the other meets" in message and "memory_limit" in message
        assert s.memory_pool.current == 0
    assert not _leftovers(tmp_path)


def test_a_cancelled_query_leaves_no_spill_file(tables: dict[str, str], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                connect_for_tests: Callable[..., Any]) -> None:
    made: list[str] = []
    new_file = SpillDirectory.new_file

    def recording(self: SpillDirectory, kernels: Any, schema: pa.Schema, label: str) -> Any:
        file = new_file(self, kernels, schema, label)
        made.append(file.path)
        return file

    sql = "select b.id, o.v from big b join other o on b.k = o.k"
    options = {"partitions": 3, "broadcast_rows": 0, "batch_rows": BATCH_ROWS}
    limit = _peak(sql, tables, connect_for_tests, **options) // 2
    monkeypatch.setattr(SpillDirectory, "new_file", recording)
    with connect_for_tests(tables=tables, memory_limit=limit, spill_dir=str(tmp_path), **options) as s:
        df = s.sql(sql)
        stream = df.execute_stream()
        next(stream)
        # Both exchanges ran (before the first batch) and wrote what did not fit.
        assert any("Exchange" in os.path.basename(path) for path in made)
        df.cancel()
        with pytest.raises(QueryCancelled):
            list(stream)
    assert not _leftovers(tmp_path)


TPCH = [3, 5, 9, 18]


@pytest.mark.parametrize("number", TPCH)
def test_tpch_under_a_small_limit(number: int, tpch_data: dict[str, str], tmp_path: Path,
                                  assert_matches_datafusion: Callable[..., pa.Table],
                                  connect_for_tests: Callable[..., Any]) -> None:
    """SF 0.1 with hash joins only (both sides of every join go through exchanges) under 16 MiB:
    the exchanges spill, and the answers stay right."""
    from gpu_exec.testing.tpch import query_sql

    sql = query_sql(number)
    limit = 16 * 2**20
    with connect_for_tests(4, tpch_data, memory_limit=limit, broadcast_rows=0, spill_dir=str(tmp_path)) as s:
        assert_matches_datafusion(sql, tpch_data, session=s)
        df = s.sql(sql)
        df.to_arrow()
        assert df.metrics["Exchange"].spilled_bytes > 0
        assert s.memory_pool.current == 0
    assert not _leftovers(tmp_path)


# ---- the holders themselves (CPU kernels, a pool of their own) ---------------------------------

def _context(limit: int, spill_dir: Path, partitions: int = 3) -> ExecutionContext:
    return ExecutionContext(kernels=ArrowKernels(), partitions=partitions, memory=MemoryPool(limit, name="query"),
                            spill=SpillDirectory(str(spill_dir)))


def _batches(table: pa.Table, rows: int) -> list[pa.Table]:
    return [table.slice(i, rows) for i in range(0, table.num_rows, rows)]


def test_a_hash_exchange_streams_its_spilled_pieces_back_and_deletes_them(tmp_path: Path) -> None:
    table = _big()
    k = ArrowKernels()
    ctx = _context(k.nbytes(table) // 2, tmp_path)
    node = Exchange(EmptyRelation(False, table.schema), ExchangeKind.HASH,
                    (ColumnRef(1, "k", pa.int32()),), 3, table.schema)
    try:
        outputs = exchange(node, [_batches(table, 100), _batches(table.slice(0, 0), 100)], ctx)
        stats = ctx.memory.stats()
        assert stats.consumers["Exchange"].spilled > 0 and stats.current <= ctx.memory.limit
        files = sorted(tmp_path.rglob("*.arrow"))
        assert files
        assert sum(o.rows for o in outputs) == N
        got = [pa.concat_tables(list(o)) for o in outputs]
        assert sorted(pa.concat_tables(got).column("id").to_pylist()) == list(range(N))
        for i, part in enumerate(got):  # every row in the partition its key hashes to
            again = exchange(node, [[part]], ctx)
            assert [o.rows for o in again] == [part.num_rows if j == i else 0 for j in range(3)]
            for o in again:
                list(o)
        assert not any(f.exists() for f in files)  # each deleted once read
        assert ctx.memory.current == 0
    finally:
        ctx.close()


def test_pieces_held_spill_when_the_pool_asks(tmp_path: Path) -> None:
    table = _big()
    k = ArrowKernels()
    ctx = _context(k.nbytes(table) * 4, tmp_path, partitions=1)  # room for all: nothing spills at first
    node = Exchange(EmptyRelation(False, table.schema), ExchangeKind.HASH,
                    (ColumnRef(0, "id", pa.int64()),), 2, table.schema)
    try:
        outputs = exchange(node, [_batches(table, 100)], ctx)
        assert ctx.memory.stats().consumers["Exchange"].spilled == 0
        reading = iter(outputs[0])
        first = next(reading)
        # A later operator needs most of the pool: the pieces still held are written out for it.
        other = ctx.memory.reservation("Sort")
        other.grow(ctx.memory.limit - k.nbytes(first))
        assert ctx.memory.stats().consumers["Exchange"].spilled > 0
        rest = [first] + list(reading)
        rows = sum(t.num_rows for t in rest) + sum(t.num_rows for t in outputs[1])
        assert rows == N
        other.free()
        assert ctx.memory.current == 0
    finally:
        ctx.close()


def test_a_broadcast_that_does_not_fit_goes_to_one_file_read_once(tmp_path: Path) -> None:
    table = _other()
    k = ArrowKernels()
    size = k.nbytes(table)
    ctx = _context(size // 2, tmp_path)
    try:
        held = broadcast_of(_batches(table, 100), table.schema, ctx)
        files = list(tmp_path.rglob("*broadcast*"))
        assert len(files) == 1 and held.rows == table.num_rows
        assert 0 < ctx.memory.current <= ctx.memory.limit
        assert pa.concat_tables(list(held)).equals(table)  # what fitted, then the file
        assert not files[0].exists() and ctx.memory.current == 0
        assert ctx.memory.stats().consumers["Exchange"].spilled > 0
    finally:
        ctx.close()
    assert not _leftovers(tmp_path)
