"""A cluster made of the command line's processes — ``gpu-exec scheduler`` and two
``gpu-exec executor`` — and a session that joins it with ``connect(cluster=ADDRESS)``."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from typing import Any, Callable, Iterator

import pytest

from gpu_exec.testing.tpch import query_sql


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "gpu_exec.cli.main", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def cli_cluster() -> Iterator[tuple[str, list[subprocess.Popen[str]]]]:
    address = f"tcp://127.0.0.1:{_free_port()}"
    # Only the Dask scheduler: the query service's default ports may be in use on this machine.
    scheduler = _start("scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                       "--flight-port", "0", "--control-port", "0")
    executors = [_start("executor", "--scheduler", address, "--device", "cpu", "--nthreads", "1")
                 for _ in range(2)]
    processes = [scheduler, *executors]
    try:
        yield address, processes
    finally:
        for process in reversed(processes):
            _stop(process)


def test_a_session_joins_a_cluster_of_cli_processes(
    cli_cluster: tuple[str, list[subprocess.Popen[str]]], tpch_data: dict[str, str],
    connect_for_tests: Callable[..., Any], assert_matches_datafusion: Callable[..., Any],
) -> None:
    address, processes = cli_cluster
    session = connect_for_tests(cluster=address, tables=tpch_data, partitions=4, progress="off")
    try:
        client = session.dask_client
        client.wait_for_workers(2, timeout=60)
        # The executors brought their own shuffle service: the session did not register one.
        assert client.run(lambda dask_worker: "gpu-exec-shuffle" in dask_worker.plugins) \
            == dict.fromkeys(client.scheduler_info()["workers"], True)
        registered = client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.worker_plugins))
        assert "gpu-exec-shuffle" not in registered
        assert_matches_datafusion(query_sql(3), tpch_data, session=session)
    finally:
        session.close()
    time.sleep(0.5)
    # The session did not start the cluster, so closing it leaves the cluster running.
    assert all(process.poll() is None for process in processes)


def test_executor_stops_cleanly_on_sigterm(cli_cluster: tuple[str, list[subprocess.Popen[str]]]) -> None:
    _, processes = cli_cluster
    executor = processes[-1]
    executor.send_signal(signal.SIGTERM)
    assert executor.wait(timeout=30) == 0
