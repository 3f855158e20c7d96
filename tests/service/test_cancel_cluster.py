"""Stop means stop: a cancelled, timed-out or interrupted query stops its tasks on every executor
(at their next batch), frees their memory and shuffle data, and leaves the executors ready.

Real processes on localhost: ``gpu-exec scheduler`` with two ``gpu-exec executor`` (one thread
each). The queries never end by themselves (lineitem × orders), so a cancel always finds them
running; every wait is on a condition (tasks running, tasks stopped, memory back), never on time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import adbc_driver_flightsql.dbapi as adbc
import pyarrow.parquet as pq
import pytest

from gpu_exec.cli.main import main as cli_main
from gpu_exec.testing.processes import ProcessCluster, process_tree, wait_until

# Bounded memory: a slice of the product at a time through a sum.
ENDLESS = "select sum(l_quantity + o_totalprice) as n from lineitem cross join orders where l_quantity > {}"
# Growing memory: a group per pair, held by the partial aggregate until the end that never comes.
GROWING = "select l_orderkey * 1000000 + o_orderkey as k, count(*) as n from lineitem cross join orders group by 1"
# The memory of each executor after a cancel, over what it held before the query.
MARGIN = 150 * 2**20
GROWTH = 250 * 2**20  # what the growing query holds on each executor before it is cancelled
TIMEOUT = 30  # the timed cluster's --query-timeout, in seconds


def _register(cluster: ProcessCluster, tables: dict[str, str]) -> Any:
    connection = adbc.connect(cluster.uri, autocommit=True)
    with connection.cursor() as cursor:
        for name, path in tables.items():
            cursor.execute(f"create external table {name} stored as parquet location '{path}'")
    return connection


@pytest.fixture(scope="module")
def clusters(tmp_path_factory: pytest.TempPathFactory,
             tpch_data: dict[str, str]) -> Iterator[tuple[ProcessCluster, ProcessCluster]]:
    """Two clusters of two executors, started at once: one without a query timeout, one whose
    scheduler times queries out after TIMEOUT s — long enough that the small queries run around
    the timed-out one finish on a loaded machine, while the endless query always reaches it."""
    started: list[ProcessCluster] = []
    try:
        started.append(ProcessCluster(tmp_path_factory.mktemp("cancel-cluster"), executors=2,
                                      executor_args=["--memory-limit", "6GB"]))
        started.append(ProcessCluster(tmp_path_factory.mktemp("timeout-cluster"), executors=2,
                                      scheduler_args=["--query-timeout", str(TIMEOUT)],
                                      executor_args=["--memory-limit", "6GB"]))
        for running in started:
            running.wait_for_executors(2)
            running.connection = _register(running, tpch_data)  # type: ignore[attr-defined]
        yield started[0], started[1]
    finally:
        for running in started:
            running.stop()


@pytest.fixture(scope="module")
def cluster(clusters: tuple[ProcessCluster, ProcessCluster]) -> ProcessCluster:
    return clusters[0]


def _rss(cluster: ProcessCluster) -> dict[str, int]:
    return {worker: stats["rss"] for worker, stats in cluster.worker_stats().items()}


def _query(connection: Any, sql: str) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()  # type: ignore[no-any-return]


def _settled_rss(cluster: ProcessCluster, connection: Any) -> dict[str, int]:
    """Each executor's memory after a small query of the same shape (its libraries and caches
    loaded): what a cancelled query must come back to."""
    _query(connection, "select n_nationkey * 1000 + r_regionkey as k, count(*) as n from nation cross join region group by 1")
    return _rss(cluster)


def test_cancel_stops_the_work_on_both_executors_and_returns_memory(
        cluster: ProcessCluster, capsys: pytest.CaptureFixture[str], in_background: Callable[..., Any]) -> None:
    connection = cluster.connection  # type: ignore[attr-defined]
    before = _settled_rss(cluster, connection)
    cancelled_before = {w: s["cancelled_tasks"] for w, s in cluster.worker_stats().items()}
    query = in_background(lambda: _query(connection, GROWING))
    job = cluster.wait_for_running_tasks(GROWING, workers=2)
    # Mid-run: the query holds memory on both executors.
    wait_until(lambda: all(rss >= before[w] + GROWTH for w, rss in _rss(cluster).items()), 120,
               "the query growing on both executors")
    peak = _rss(cluster)
    assert cli_main(["cancel", job.query_id, "--server", cluster.control]) == 0
    assert "cancel requested" in capsys.readouterr().out
    error = query.error()
    assert error is not None and "cancel" in str(error).lower(), error
    cluster.wait_until_stopped(job.query_id)
    stats = cluster.worker_stats()
    for worker, s in stats.items():
        assert s["running_tasks"] == 0
        assert s["cancelled_tasks"] > cancelled_before[worker], f"{worker}'s task was not stopped by the cancel"
        assert not s["jobs"], f"{worker} kept shuffle data of the cancelled query: {s['jobs']}"
    # Memory: back within a small margin of where it started, on every executor.
    wait_until(lambda: all(rss <= before[w] + MARGIN for w, rss in _rss(cluster).items()), 60,
               f"memory back near {before} after the cancel (peak {peak}, now {_rss(cluster)})")
    # The executors are ready: the next query runs normally.
    assert _query(connection, "select count(*) from orders where o_orderkey > 0") == [(150_000,)]


def test_ctrl_c_in_gpu_exec_run_cancels_on_the_server(cluster: ProcessCluster, tmp_path: Path) -> None:
    sql = ENDLESS.format(1)
    job_file = tmp_path / "job.sql"
    job_file.write_text(f"select 1 as warm;\n{sql};\n")
    log = open(tmp_path / "run.log", "wb")  # noqa: SIM115 — closed below
    process = subprocess.Popen(cluster.command("run", str(job_file), "--cluster", cluster.uri),
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        job = cluster.wait_for_running_tasks(sql, workers=1)
        process.send_signal(signal.SIGINT)
        start = time.monotonic()
        code = process.wait(timeout=60)
        seconds = time.monotonic() - start
    finally:
        if process.poll() is None:
            process.kill()
        log.close()
    output = (tmp_path / "run.log").read_text()
    assert code == 130, output
    assert "interrupted" in output and "statement 2 of 2 cancelled" in output, output
    print(f"gpu-exec run --cluster grpc:// exited {seconds:.2f} s after Ctrl-C")
    cluster.wait_until_stopped(job.query_id)  # the server cancelled it: no task runs anywhere
    assert next(j for j in cluster.jobs() if j.query_id == job.query_id).state == "cancelled"


def test_ctrl_c_in_gpu_exec_sql_exits_and_stops(tpch_data: dict[str, str]) -> None:
    """In process: the interrupt reaches the main thread at once, the query stops at its next
    batch, the command exits with 130."""
    import psutil

    tables = [arg for name in ("lineitem", "orders") for arg in ("-t", f"{name}={tpch_data[name]}")]
    env = {**os.environ, "GPU_EXEC__PARTITIONS": "2"}
    process = subprocess.Popen([sys.executable, "-m", "gpu_exec.cli.main", "sql", ENDLESS.format(2), *tables,
                                "--device", "cpu"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        me = psutil.Process(process.pid)
        # Inside the command, past its imports (the engine's libraries start their thread pools
        # there), and then running: the endless query keeps burning CPU.
        wait_until(lambda: me.num_threads() > 4, 120, "gpu-exec sql starting its session", interval=0.02)
        cpu = sum(me.cpu_times()[:2])
        wait_until(lambda: sum(me.cpu_times()[:2]) > cpu + 1.0, 120, "the query running")
        peak = sum(p.memory_info().rss for p in process_tree(process.pid))
        process.send_signal(signal.SIGINT)
        start = time.monotonic()
        out, err = process.communicate(timeout=60)
        seconds = time.monotonic() - start
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err
    assert b"interrupted" in err
    print(f"gpu-exec sql exited {seconds:.2f} s after Ctrl-C (resident {peak / 2**20:.0f} MiB)")


def test_a_query_timeout_stops_the_work_on_the_executors(clusters: tuple[ProcessCluster, ProcessCluster],
                                                       in_background: Callable[..., Any]) -> None:
    timed = clusters[1]
    connection = timed.connection  # type: ignore[attr-defined]
    before = _settled_rss(timed, connection)
    cancelled_before = {w: s["cancelled_tasks"] for w, s in timed.worker_stats().items()}
    # Bounded memory for the TIMEOUT s it runs (the growing query could reach the executors'
    # memory limit first and fail for that instead).
    endless = ENDLESS.format(0)
    query = in_background(lambda: _query(connection, endless))
    seen: set[str] = set()  # executors seen running the query's tasks before the timeout

    def answered() -> bool:
        seen.update(w for w, s in timed.worker_stats().items() if s["running_tasks"])
        return query.done()

    wait_until(answered, 120, "the query timing out")
    error = query.error()
    assert error is not None and f"query timeout of {TIMEOUT} s" in str(error), error
    (job,) = [j for j in timed.jobs() if j.sql == endless]
    assert job.state == "cancelled"
    timed.wait_until_stopped(job.query_id)
    for worker, s in timed.worker_stats().items():
        assert s["running_tasks"] == 0 and not s["jobs"]
        if worker in seen:
            assert s["cancelled_tasks"] > cancelled_before[worker], f"{worker}'s task ran on"
    wait_until(lambda: all(rss <= before[w] + MARGIN for w, rss in _rss(timed).items()), 60,
               f"memory back near {before} after the timeout (now {_rss(timed)})")
    assert _query(connection, "select count(*) from nation") == [(25,)]


def test_worker_stats_name_the_dropped_jobs_as_gone(cluster: ProcessCluster, tpch_data: dict[str, str]) -> None:
    """A finished query leaves nothing behind either: no shuffle data, no task."""
    connection = cluster.connection  # type: ignore[attr-defined]
    rows = _query(connection, "select o_orderpriority, count(*) from orders group by 1 order by 1")
    assert sum(n for _, n in rows) == pq.read_metadata(tpch_data["orders"]).num_rows
    for s in cluster.worker_stats().values():
        assert s["running_tasks"] == 0 and not s["jobs"]
