"""No executors, and the scheduler says so: a query with no executor to run on fails after the
scheduler's ``--executor-timeout`` with a message naming the cause, ``gpu-exec jobs`` shows the
executor count, and the health service's overall status is NOT_SERVING while none is connected
(the Jobs service, what probes ask, stays SERVING).

Real processes on localhost; every wait is on a condition.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Iterator

import adbc_driver_flightsql.dbapi as adbc
import pytest

from gpu_exec.cli.main import main as cli_main
from gpu_exec.testing.processes import ProcessCluster, wait_until
from scheduler.protocol.control_client import ControlClient
from scheduler.service.control import JOBS_SERVICE

ENDLESS = "select sum(l_quantity + o_totalprice) as n from lineitem cross join orders where l_quantity > 0"
NO_EXECUTORS = "no executors are connected to the scheduler"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, tpch_data: dict[str, str]) -> Iterator[ProcessCluster]:
    running = ProcessCluster(tmp_path_factory.mktemp("liveness"), executors=1,
                             scheduler_args=["--executor-timeout", "5"])
    try:
        running.wait_for_executors(1)
        connection = adbc.connect(running.uri, autocommit=True)
        with connection.cursor() as cursor:
            for name in ("lineitem", "orders", "region"):
                cursor.execute(f"create external table {name} stored as parquet location '{tpch_data[name]}'")
        running.connection = connection  # type: ignore[attr-defined]
        yield running
    finally:
        running.stop()


def _query(connection: Any, sql: str) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()  # type: ignore[no-any-return]


def _health(cluster: ProcessCluster, service: str = "") -> str:
    with ControlClient(cluster.control) as client:
        return client.health(service)


def _executors(cluster: ProcessCluster) -> int:
    with ControlClient(cluster.control) as client:
        return client.executors()


def test_health_and_jobs_show_the_executors(cluster: ProcessCluster, capsys: pytest.CaptureFixture[str]) -> None:
    assert _query(cluster.connection, "select count(*) from region") == [(5,)]  # type: ignore[attr-defined]
    assert wait_until(lambda: _health(cluster) == "SERVING", 30, "health SERVING with an executor")
    assert _executors(cluster) == 1
    assert cli_main(["jobs", "--server", cluster.control]) == 0
    assert "1 executor connected" in capsys.readouterr().out


def test_killing_every_executor_fails_the_waiting_query_and_says_why(
        cluster: ProcessCluster, capsys: pytest.CaptureFixture[str]) -> None:
    connection = cluster.connection  # type: ignore[attr-defined]
    outcome: dict[str, BaseException] = {}

    def run() -> None:
        try:
            _query(connection, ENDLESS)
        except BaseException as exc:  # noqa: BLE001 — the test's subject
            outcome["error"] = exc

    waiting = threading.Thread(target=run, daemon=True)
    waiting.start()
    cluster.wait_for_running_tasks(ENDLESS, workers=1)
    cluster.kill_executor(0)  # and its worker: nothing restarts it
    waiting.join(120)
    assert not waiting.is_alive(), "the query still waits for an executor"
    assert NO_EXECUTORS in str(outcome.get("error")), outcome
    assert "gpu-exec executor --scheduler" in str(outcome["error"])
    # The scheduler says so too: unhealthy as a whole, alive for its probes, no executors listed.
    wait_until(lambda: _health(cluster) == "NOT_SERVING", 30, "health NOT_SERVING without executors")
    assert _health(cluster, JOBS_SERVICE) == "SERVING"
    assert _executors(cluster) == 0
    assert cli_main(["jobs", "--server", cluster.control]) == 0
    assert "no executors are connected" in capsys.readouterr().out
    # A new query fails the same way, instead of hanging.
    with pytest.raises(adbc.Error, match=NO_EXECUTORS):
        _query(connection, "select count(*) from region")
    # An executor joins again: healthy, and queries run.
    cluster.start_executor()
    cluster.wait_for_executors(1)
    wait_until(lambda: _health(cluster) == "SERVING", 30, "health SERVING again")
    assert _query(connection, "select count(*) from region") == [(5,)]


def test_a_query_before_any_executor_fails_with_the_message(tmp_path: Path) -> None:
    empty = ProcessCluster(tmp_path, executors=0, scheduler_args=["--executor-timeout", "3"])
    try:
        assert _health(empty) == "NOT_SERVING"
        with adbc.connect(empty.uri, autocommit=True) as connection:
            with pytest.raises(adbc.Error, match=NO_EXECUTORS):
                _query(connection, "select 1 + 1 as two from (values (1)) t(x) where x > 0")
    finally:
        empty.stop()
