"""The 22 TPC-H queries at SF 0.1 on embedded Dask clusters, against DataFusion; the shuffle's
bytes go worker to worker.

Two layouts, one cluster each for the whole module: 3 worker processes at partitions=8 (small join
sides broadcast), and 2 single-threaded workers with every join repartitioned — far fewer worker
threads than tasks per stage (Ballista #2184 / #2067: wrong row counts appear only then).
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

from gpu_exec.testing.tpch import QUERY_NUMBERS, query_sql

LAYOUTS = {
    "3-workers": {"workers": 3, "worker_threads": 1, "partitions": 8},
    "2-workers-1-thread-hash-joins": {"workers": 2, "worker_threads": 1, "partitions": 8, "broadcast_rows": 0},
}


@pytest.fixture(scope="module", params=list(LAYOUTS))
def cluster_session(
    request: pytest.FixtureRequest, tpch_data: dict[str, str], connect_for_tests: Callable[..., Any]
) -> Iterator[Any]:
    """One embedded cluster per layout, shared by the module's tests."""
    session = connect_for_tests(tables=tpch_data, progress="off", **LAYOUTS[request.param])
    yield session
    session.close()


def _stats(session: Any) -> dict[str, dict[str, Any]]:
    from scheduler.cluster import shuffle_stats

    return shuffle_stats(session.dask_client)


@pytest.mark.parametrize("number", QUERY_NUMBERS, ids=lambda n: f"q{n:02d}")
def test_tpch_sf01_matches_datafusion(
    number: int, cluster_session: Any, tpch_data: dict[str, str],
    assert_matches_datafusion: Callable[..., Any],
) -> None:
    assert_matches_datafusion(query_sql(number), tpch_data, session=cluster_session)


# A table joined with itself: both sides of a task read the same leaf (the same scan split, or the
# one stage the planner makes of two equal exchanges), and each must get every row of it.
SELF_JOINS = [
    "select count(*) as n from orders a join orders b on a.o_custkey = b.o_custkey",
    "select a.n_name, b.n_name from nation a join nation b on a.n_regionkey = b.n_regionkey",
    "select count(*) as n from supplier a join supplier b on a.s_nationkey = b.s_nationkey "
    "where a.s_suppkey < b.s_suppkey",
]


@pytest.mark.parametrize("sql", SELF_JOINS)
def test_self_joins_read_the_shared_leaf_once_per_side(
    sql: str, cluster_session: Any, tpch_data: dict[str, str], assert_matches_datafusion: Callable[..., Any],
) -> None:
    assert_matches_datafusion(sql, tpch_data, session=cluster_session)


def test_session_runs_on_the_cluster(cluster_session: Any) -> None:
    client = cluster_session.dask_client
    assert client is not None
    # One worker process per worker asked for; on GPUs one per GPU at most (dask-cuda's rule).
    expected = cluster_session.config.workers
    if cluster_session.device.name == "gpu":
        from gpu_exec.engine.device import visible_gpu_count

        expected = max(1, min(expected, visible_gpu_count()))
    assert len(client.scheduler_info()["workers"]) == expected
    df = cluster_session.sql("select count(*) as n from lineitem")
    assert df.to_arrow().column("n").to_pylist() == [600572]
    summary = df.job_summary
    assert summary is not None and summary.tasks == summary.task_runs >= 2


def test_a_python_udf_runs_on_the_executors(cluster_session: Any) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    def doubled(x: pa.Array) -> pa.Array:  # nested: shipped by value with cloudpickle
        return pc.multiply(x, 2)

    cluster_session.register_udf("doubled", doubled, [pa.int64()], pa.int64())
    sql = "select sum(doubled(l_linenumber)) as s, sum(l_linenumber) as t from lineitem"
    if cluster_session.device.name == "gpu":
        # The suite's sessions refuse CPU fallbacks (fallback="raise"): the refusal names the UDF.
        from planner.errors import UnsupportedSQLError

        with pytest.raises(UnsupportedSQLError, match=r"Python UDF doubled\(\) runs on the CPU"):
            cluster_session.sql(sql)
        return
    df = cluster_session.sql(sql)
    (row,) = df.to_arrow().to_pylist()
    assert row["s"] == 2 * row["t"] and row["t"] > 0
    assert df.job_summary is not None and df.job_summary.tasks >= 2


def test_explain_analyze_on_the_cluster_reports_the_job(cluster_session: Any) -> None:
    table = cluster_session.sql("explain analyze select l_returnflag, count(*) from lineitem group by 1").to_arrow()
    (text,) = table.column("plan").to_pylist()
    assert "TableScan: lineitem" in text and "-- rows=600572" in text
    assert ", 3 rows," in text
    assert "cluster: " in text and " stages, " in text and "shuffled " in text


def test_shuffle_bytes_go_worker_to_worker(cluster_session: Any) -> None:
    before = _stats(cluster_session)
    df = cluster_session.sql(query_sql(5))
    result = df.to_arrow()
    after = _stats(cluster_session)
    assert set(before) == set(after)

    def delta(name: str) -> int:
        return sum(after[w][name] - before[w][name] for w in after)

    summary = df.job_summary
    served, fetched, local = delta("served_bytes"), delta("fetched_bytes"), delta("local_bytes")
    # Every byte a worker served went to another worker, except the final result, which the
    # client fetched straight from the worker holding it: nothing went through the scheduler.
    assert fetched > 0
    assert served == fetched + summary.result_bytes
    assert summary.result_bytes < 10_000 and result.num_rows == 5
    assert summary.shuffle_bytes > 100 * summary.result_bytes
    assert fetched + local > summary.shuffle_bytes / 2  # the readers read what the writers wrote
    # Dask itself moved no data between workers: tasks depend on nothing Dask knows about.
    incoming = cluster_session.dask_client.run(lambda dask_worker: dask_worker.state.transfer_incoming_count_total)
    assert sum(incoming.values()) == 0
    # and the job left nothing behind
    assert all(s["pieces"] == 0 and s["disk_bytes"] == 0 for s in after.values())


def test_tasks_return_only_metadata(cluster_session: Any) -> None:
    """What Dask carried back to the client: the tasks' reports, a few hundred bytes each."""
    import pickle

    from gpu_exec.executor.shuffle_service import STATS_HANDLER  # noqa: F401  (the service is installed)
    from scheduler import runner as runner_module

    sizes: list[int] = []
    original = runner_module.JobRunner._handle

    def measuring(self: Any, future: Any) -> None:
        if future.status == "finished":
            sizes.append(len(pickle.dumps(future.result())))
        original(self, future)

    runner_module.JobRunner._handle = measuring  # type: ignore[method-assign]
    try:
        cluster_session.sql(query_sql(3)).to_arrow()
    finally:
        runner_module.JobRunner._handle = original  # type: ignore[method-assign]
    assert sizes and max(sizes) < 4096


def test_spilled_shuffle_data_gives_the_same_answer(
    cluster_session: Any, tpch_data: dict[str, str], assert_matches_datafusion: Callable[..., Any]
) -> None:
    client = cluster_session.dask_client

    def set_limits(limits: tuple[int, int], dask_worker: Any) -> tuple[int, int]:
        store = dask_worker.plugins["gpu-exec-shuffle"].store
        old = store.memory_limit, store.device_memory_limit
        store.memory_limit, store.device_memory_limit = limits
        return old

    old = client.run(set_limits, (0, 0))  # every piece goes to disk (on GPUs: past the device tier too)
    try:
        before = sum(s["spilled_pieces"] for s in _stats(cluster_session).values())
        assert_matches_datafusion(query_sql(3), tpch_data, session=cluster_session)
        after = _stats(cluster_session)
    finally:
        client.run(set_limits, next(iter(old.values())))
    assert sum(s["spilled_pieces"] for s in after.values()) > before
    assert all(s["pieces"] == 0 and s["disk_bytes"] == 0 for s in after.values())



def test_shuffle_pieces_take_the_tier_of_the_device(
    cluster_session: Any, tpch_data: dict[str, str], assert_matches_datafusion: Callable[..., Any]
) -> None:
    """GPU executors keep their map outputs on the device (the store's device tier); CPU executors
    put them in the host tier. With a device budget of one byte every device piece is moved
    device → host as soon as it is put, which counts it; the answer stays right."""
    client = cluster_session.dask_client

    def set_device_limit(limit: int, dask_worker: Any) -> int:
        store = dask_worker.plugins["gpu-exec-shuffle"].store
        old, store.device_memory_limit = store.device_memory_limit, limit
        return old

    before = sum(s["device_spilled_pieces"] for s in _stats(cluster_session).values())
    old = client.run(set_device_limit, 1)
    try:
        assert_matches_datafusion(query_sql(5), tpch_data, session=cluster_session)
        after = _stats(cluster_session)
    finally:
        client.run(set_device_limit, next(iter(old.values())))
    moved = sum(s["device_spilled_pieces"] for s in after.values()) - before
    if cluster_session.device.name == "gpu":
        assert moved > 0  # device tables went through the device tier
        assert "pylibcudf" in cluster_session.device.label()  # the workers' GPU and pylibcudf, named
    else:
        assert moved == 0  # CPU pieces go straight to the host tier
    assert all(s["pieces"] == 0 and s["device_bytes"] == 0 for s in after.values())
