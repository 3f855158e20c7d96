"""An executor killed for memory is reported as such: its nanny restarts a worker that goes over
95% of its memory limit, and the query that was running there fails — after one retry — with a
message naming the executor, its limit and the query's stage, not with a fetch timeout minutes
later.

Real processes on localhost: a scheduler and one executor with a 1.2 GB limit. The test itself
fills the worker's memory while the query's task runs there (``Client.run``), so what happens does
not depend on how much memory the engine's operators take.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as adbc

from gpu_exec.testing.processes import ProcessCluster, wait_until

ENDLESS = "select sum(l_quantity + o_totalprice) as n from lineitem cross join orders where l_quantity > 0"


def _fill_memory(client: Any, worker: str, nbytes: int) -> None:
    """Make ``worker`` hold ``nbytes`` more (touched) memory, from a thread: the call itself
    never answers, the worker dies first."""
    def hog() -> None:
        import builtins

        builtins._gpu_exec_test_hog = b"x" * nbytes  # type: ignore[attr-defined]

    def call() -> None:
        try:
            client.run(hog, workers=[worker])
        except Exception:  # noqa: BLE001 — the worker was killed under the call
            pass

    threading.Thread(target=call, daemon=True).start()


def test_an_executor_killed_for_memory_is_named(tmp_path: Path, tpch_data: dict[str, str]) -> None:
    cluster = ProcessCluster(tmp_path, executors=1, executor_args=["--memory-limit", "1.2GB"])
    try:
        cluster.wait_for_executors(1)
        client = cluster.client()
        connection = adbc.connect(cluster.uri, autocommit=True)
        with connection.cursor() as cursor:
            for name in ("lineitem", "orders"):
                cursor.execute(f"create external table {name} stored as parquet location '{tpch_data[name]}'")
        outcome: dict[str, BaseException] = {}

        def run() -> None:
            try:
                with connection.cursor() as cursor:
                    cursor.execute(ENDLESS)
                    cursor.fetchall()
            except BaseException as exc:  # noqa: BLE001 — the test's subject
                outcome["error"] = exc

        query = threading.Thread(target=run, daemon=True)
        query.start()
        cluster.wait_for_running_tasks(ENDLESS, workers=1)
        killed: list[str] = []
        start = time.monotonic()
        while query.is_alive() and len(killed) < 4:
            # The worker running the query's task now (the nanny restarts each killed one).
            busy = wait_until(lambda: [w for w, s in cluster.worker_stats().items() if s["running_tasks"]]
                              or not query.is_alive(), 120, "a worker running the query's task")
            if busy is True:
                break
            (worker,) = busy
            _fill_memory(client, worker, 2 * 10**9)
            wait_until(lambda w=worker: w not in client.scheduler_info()["workers"], 60, f"{worker} killed")
            killed.append(worker)
        query.join(120)
        seconds = time.monotonic() - start
        message = str(outcome.get("error"))
        assert len(killed) == 2, (killed, message)  # one retry, then it gives up
        assert "ran out of memory" in message, message
        assert f"executor {killed[-1]}" in message, message
        assert "memory limit of 1.12 GiB" in message, message  # 1.2 GB, as Dask prints it
        assert "while running stage" in message and "its nanny restarted it" in message, message
        assert "not retried again" in message and "--memory-limit" in message, message
        assert "could not fetch" not in message and "Timed out" not in message
        print(f"failed {seconds:.1f} s after the first kill: {message}")
        # The executor is back (restarted by its nanny) and serves the next query.
        cluster.wait_for_executors(1)
        with connection.cursor() as cursor:
            cursor.execute("select count(*) from orders")
            assert cursor.fetchall() == [(150_000,)]
        connection.close()
    finally:
        cluster.stop()

