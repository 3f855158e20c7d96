"""The memory pool (gpu_exec.engine.memory): reservations against one limit, nested pools, the
spill hook, the ``memory_limit`` setting, and what queries account and report."""

from __future__ import annotations

import threading
from typing import Any, Callable

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gpu_exec.engine import memory
from gpu_exec.engine.config import Config
from gpu_exec.engine.memory import MemoryPool, default_memory_limit, parse_bytes
from planner.errors import GpuExecError, ResourceError


def test_reservations_count_current_and_peak_overall_and_per_consumer() -> None:
    pool = MemoryPool(1000)
    sort, join = pool.reservation("Sort"), pool.reservation("Join")
    sort.grow(300)
    join.grow(500)
    sort.shrink(200)
    join.resize(100)
    stats = pool.stats()
    assert (stats.limit, stats.current, stats.peak) == (1000, 200, 800)
    assert (stats.consumers["Sort"].current, stats.consumers["Sort"].peak) == (100, 300)
    assert (stats.consumers["Join"].current, stats.consumers["Join"].peak) == (100, 500)
    assert sort.free() == 100 and join.free() == 100
    assert pool.current == 0 and pool.peak == 800
    # The one-call form.
    pool.reserve("Window", 40)
    pool.release("Window", 40)
    assert pool.stats().consumers["Window"].peak == 40 and pool.current == 0


def test_past_the_limit_names_the_operator_the_bytes_the_limit_and_the_setting() -> None:
    pool = MemoryPool(1024)
    pool.reservation("Exchange").grow(1000)
    r = pool.reservation("Sort", detail="partition 2")
    with pytest.raises(ResourceError) as caught:
        r.grow(100)
    error = caught.value
    assert isinstance(error, GpuExecError)
    assert (error.consumer, error.requested, error.used, error.limit) == ("Sort", 100, 1000, 1024)
    message = str(error)
    for part in ("Sort (partition 2)", "100 B", "1.0 KiB", "memory_limit", "most held by Exchange"):
        assert part in message, message
    assert r.size == 0 and pool.current == 1000  # nothing was taken
    assert not r.try_grow(100) and r.try_grow(24)


def test_child_pools_share_their_parents_limit_and_report_their_own_peak() -> None:
    session = MemoryPool(100, name="session")
    a, b = session.child("query a"), session.child("query b")
    a.reservation("Sort").grow(60)
    with pytest.raises(ResourceError):
        b.reservation("Join").grow(50)
    b.reservation("Join").grow(40)
    assert (session.current, a.current, b.current) == (100, 60, 40)
    assert b.stats().limit == 100  # effective: the parent's
    assert a.close() == 60 and session.current == 40 and a.peak == 60
    own = session.child("capped", limit=10)
    with pytest.raises(ResourceError, match="capped"):
        own.reservation("Sort").grow(11)


def test_the_pool_is_thread_safe() -> None:
    pool = MemoryPool(10**9)

    def work() -> None:
        r = pool.reservation("Aggregate")
        for _ in range(2000):
            r.grow(3)
            r.shrink(1)
        r.free()

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert pool.current == 0 and 0 < pool.peak <= 8 * 2000 * 2
    assert pool.stats().consumers["Aggregate"].current == 0


def test_spillable_consumers_are_asked_to_spill_before_a_reservation_fails() -> None:
    pool = MemoryPool(100)
    asked: list[int] = []
    holder: list[Any] = []

    def spill(nbytes: int) -> int:
        asked.append(nbytes)
        r = holder[0]
        freed = min(r.size, 50)
        r.shrink(freed)
        r.record_spill(freed)
        return freed

    sort = pool.reservation("Sort", spill=spill)
    holder.append(sort)
    assert sort.spillable
    sort.grow(80)
    pool.reservation("Join").grow(60)  # 40 over: the sort spills 50 first
    assert asked == [40]
    assert (pool.current, sort.size, pool.spilled) == (90, 30, 50)
    assert pool.stats().consumers["Sort"].spilled == 50
    with pytest.raises(ResourceError):
        pool.reservation("Window").grow(200)  # spilling cannot make that much room


@pytest.mark.parametrize(("text", "expected"), [
    ("2GB", 2 * 10**9), ("512MiB", 512 * 2**20), ("1.5g", int(1.5 * 2**30)), ("1048576", 2**20), (4096, 4096),
])
def test_sizes(text: Any, expected: int) -> None:
    assert parse_bytes(text) == expected


def test_a_bad_size_is_refused() -> None:
    with pytest.raises(GpuExecError, match="cannot read the size"):
        parse_bytes("lots")
    with pytest.raises(GpuExecError, match="cannot read the size"):
        Config.build(memory_limit="2 parsecs")


def test_the_default_limit_is_the_cgroup_or_the_machine_less_a_reserve(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "_cgroup_limit", lambda: 16 * 2**30)
    assert default_memory_limit() == 16 * 2**30 - 16 * 2**30 // 10  # 10% kept back
    assert default_memory_limit(executors=2) == default_memory_limit() // 2
    monkeypatch.setattr(memory, "_cgroup_limit", lambda: 2 * 2**30)
    assert default_memory_limit() == 2**30  # the reserve is at least 1 GiB
    monkeypatch.setattr(memory, "_cgroup_limit", lambda: None)
    monkeypatch.setattr(memory, "_physical_memory", lambda: 10 * 2**30)
    assert default_memory_limit() == 9 * 2**30


def test_the_setting_is_built_once_from_keyword_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Config.build(memory_limit="2GB").memory_limit == 2 * 10**9
    assert Config.build(memory_limit=12345).memory_limit == 12345
    assert Config.build().memory_limit == default_memory_limit()
    monkeypatch.setenv("GPU_EXEC_MEMORY_LIMIT", "1GiB")
    assert Config.build().memory_limit == 2**30
    monkeypatch.setenv("GPU_EXEC__MEMORY_LIMIT", "3GiB")  # the prefixed name wins, as for every setting
    assert Config.build().memory_limit == 3 * 2**30
    assert Config.build(memory_limit="1MB").memory_limit == 10**6  # and the keyword over both


@pytest.fixture(scope="module")
def numbers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    path = tmp_path_factory.mktemp("pool") / "numbers.parquet"
    n = 20_000
    pq.write_table(pa.table({"id": pa.array(range(n), pa.int64()), "g": pa.array([i % 100 for i in range(n)]),
                             "s": pa.array([f"row {i}" for i in range(n)])}), path, row_group_size=2_000)
    return {"numbers": str(path)}


def test_a_breaker_over_budget_raises_resource_error_naming_it(numbers: dict[str, str],
                                                                connect_for_tests: Callable[..., Any]) -> None:
    with connect_for_tests(tables=numbers, partitions=2, memory_limit=64 * 1024) as s:
        with pytest.raises(ResourceError) as caught:
            s.sql("select id, s from numbers order by s desc").to_arrow()
        assert caught.value.consumer == "Sort" and caught.value.limit == 64 * 1024
        assert "Sort" in str(caught.value) and "memory_limit" in str(caught.value)
        assert s.memory_pool.current == 0  # the failed query gave back what it held
        # A streaming query needs no more than a batch or two: it runs under the same limit.
        assert s.sql("select count(*) from numbers where id % 7 = 0").to_arrow().column(0)[0].as_py() == 2858


def test_the_pools_peak_is_reported_in_metrics(numbers: dict[str, str], connect_for_tests: Callable[..., Any]) -> None:
    with connect_for_tests(tables=numbers, partitions=2, batch_rows=500) as s:
        df = s.sql("select g, count(*) as n, max(s) as m from numbers group by g order by g")
        assert df.memory is None
        assert df.to_arrow().num_rows == 100
        assert df.memory is not None and df.memory.current == 0
        assert df.memory.limit == s.config.memory_limit
        assert df.memory.peak > 0 and df.memory.spilled == 0
        for name in ("Aggregate", "Exchange", "Sort"):
            m = df.metrics[name]
            assert 0 < m.peak_bytes <= df.memory.peak and m.spilled_bytes == 0, name
        assert df.metrics["TableScan"].peak_bytes == 0  # a scan holds nothing between batches
        assert s.memory_pool.current == 0 and s.memory_pool.peak >= df.memory.peak
