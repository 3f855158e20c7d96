"""A gpu-exec cluster as real processes on localhost, for tests: ``gpu-exec scheduler`` and
``gpu-exec executor`` started as a user would, on ports the OS reports free, with helpers to wait
for conditions (never for a fixed time) and to look inside the executors.

    cluster = ProcessCluster(tmp_path, executors=2)
    cluster.wait_for_executors(2)
    cluster.worker_stats()          # each worker's shuffle service stats: running tasks, rss, ...
    cluster.stop()

Every process logs to ``<tmp>/<name>.log``; a failed wait names the logs' tails.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

__all__ = ["ProcessCluster", "free_port", "wait_until", "process_tree", "STARTUP_SECONDS"]

STARTUP_SECONDS = 120.0


def free_port() -> int:
    """A port free now, below the OS's ephemeral range: the random ports Dask's workers and every
    other process bind meanwhile come from that range, so they cannot take it before our process
    does."""
    import random

    low = 32768
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        pass
    for _ in range(200):
        port = random.randrange(10000, max(10001, low))
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(condition: Callable[[], Any], timeout: float = 60.0, what: str = "the condition",
               interval: float = 0.1) -> Any:
    """Poll ``condition`` until it returns something truthy (returned); AssertionError naming
    ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:g} s")
        time.sleep(interval)


def process_tree(pid: int) -> list[Any]:
    """The psutil processes of ``pid`` and its descendants (an executor: its nanny and workers)."""
    import psutil

    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


class ProcessCluster:
    """A scheduler (Dask port, Flight SQL, control API on 127.0.0.1) and ``executors`` executors.

    ``scheduler_args`` / ``executor_args`` are appended to the commands; ``env`` to the
    environment (``GPU_EXEC__PARTITIONS=2`` by default). ``dask_security``: the
    ``distributed.security.Security`` of this test's own Dask client (a TLS cluster)."""

    def __init__(self, tmp: Path, executors: int = 2, *, scheduler_args: Sequence[str] = (),
                 executor_args: Sequence[str] = (), env: dict[str, str] | None = None,
                 scheme: str = "tcp", dask_security: Any = None) -> None:
        self.logs = tmp
        self.dask_port, self.flight_port, self.control_port = free_port(), free_port(), free_port()
        self.scheme = scheme
        self.dask_security = dask_security
        self.env = {**os.environ, "GPU_EXEC__PARTITIONS": "2", **(env or {})}
        self.executor_args = list(executor_args)
        self.executors: list[subprocess.Popen[bytes]] = []
        self.killed: set[int] = set()  # indexes of the executors killed on purpose
        self._client: Any = None
        self._logs: list[Any] = []
        self.scheduler = self._start(
            ["scheduler", "--host", "127.0.0.1", "--port", str(self.dask_port), "--flight-port",
             str(self.flight_port), "--control-port", str(self.control_port), "--device", "cpu",
             *scheduler_args], "scheduler")
        try:
            self._wait_for_port(self.control_port)
            for _ in range(executors):
                self.start_executor()
        except BaseException:
            self.stop()
            raise

    # ---- processes ----------------------------------------------------------------------------
    @property
    def dask_address(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.dask_port}"

    @property
    def uri(self) -> str:
        return f"grpc://127.0.0.1:{self.flight_port}"

    @property
    def control(self) -> str:
        return f"127.0.0.1:{self.control_port}"

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "gpu_exec.cli.main", *args]

    def _start(self, args: list[str], name: str) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 — closed in stop()
        self._logs.append(log)
        return subprocess.Popen(self.command(*args), stdout=log, stderr=subprocess.STDOUT, env=self.env)

    def start_executor(self, *extra: str) -> subprocess.Popen[bytes]:
        """One more ``gpu-exec executor`` (1 thread, CPU) with the cluster's executor flags."""
        name = f"executor-{len(self.executors)}"
        process = self._start(["executor", "--scheduler", self.dask_address, "--device", "cpu",
                               "--nthreads", "1", *self.executor_args, *extra], name)
        self.executors.append(process)
        return process

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def logs_tail(self, lines: int = 30) -> str:
        names = ["scheduler", *(f"executor-{i}" for i in range(len(self.executors)))]
        return "\n".join(f"--- {n}.log ---\n" + "\n".join(self.log(n).splitlines()[-lines:]) for n in names)

    def _wait_for_port(self, port: int) -> None:
        def listening() -> bool:
            if self.scheduler.poll() is not None:
                raise AssertionError(f"the scheduler exited:\n{self.log('scheduler')}")
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0

        wait_until(listening, STARTUP_SECONDS, f"the scheduler listening on port {port}", interval=0.2)

    def kill_executor(self, index: int) -> None:
        """SIGKILL an executor and its workers at once (nothing is restarted)."""
        self.killed.add(index)
        for process in reversed(process_tree(self.executors[index].pid)):
            try:
                process.kill()
            except Exception:  # noqa: BLE001 — already gone
                pass
        self.executors[index].wait(timeout=30)

    def stop(self) -> None:
        if self._client is not None:
            try:
                self._client.close(timeout=10)
            except Exception:  # noqa: BLE001
                pass
            self._client = None
        processes = [*self.executors, self.scheduler]
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                for child in reversed(process_tree(process.pid)):
                    child.kill()
                process.wait(timeout=30)
        for log in self._logs:
            log.close()

    # ---- looking inside -----------------------------------------------------------------------
    def client(self) -> Any:
        """This test's own Dask client of the cluster (made once)."""
        if self._client is None:
            from distributed import Client

            self._client = Client(self.dask_address, timeout=30, set_as_default=False,
                                  security=self.dask_security)
        return self._client

    def wait_for_executors(self, n: int, timeout: float = STARTUP_SECONDS) -> None:
        def ready() -> bool:
            for i, process in enumerate(self.executors):
                if i not in self.killed and process.poll() is not None:
                    raise AssertionError(f"executor {i} exited:\n{self.log(f'executor-{i}')}")
            return len(self.client().scheduler_info()["workers"]) >= n

        try:
            wait_until(ready, timeout, f"{n} executors connected", interval=0.2)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.logs_tail()}") from None

    def worker_stats(self) -> dict[str, dict[str, Any]]:
        """Each worker's shuffle service stats (running_tasks, cancelled_tasks, rss, jobs, ...);
        a worker dying meanwhile is left out."""
        from gpu_exec.executor.shuffle_service import STATS_HANDLER

        client = self.client()
        return client.sync(client.scheduler.broadcast, msg={"op": STATS_HANDLER},  # type: ignore[no-any-return]
                           on_error="ignore")

    def jobs(self, running_only: bool = False, token: str | None = None) -> list[Any]:
        from scheduler.protocol.control_client import ControlClient

        with ControlClient(self.control, token=token) as client:
            return client.list_jobs(running_only=running_only)

    def wait_for_running_tasks(self, sql: str, workers: int, timeout: float = 60.0) -> Any:
        """Wait until the query ``sql`` is running with tasks on ``workers`` workers; its job."""
        def running() -> Any:
            jobs = [j for j in self.jobs(running_only=True) if j.sql == sql and j.tasks_total]
            busy = [s for s in self.worker_stats().values() if s.get("running_tasks")]
            return jobs[0] if jobs and len(busy) >= workers else None

        return wait_until(running, timeout, f"{sql!r} running on {workers} executors")

    def wait_until_stopped(self, query_id: str, timeout: float = 60.0) -> None:
        """Wait until the query's work has ended on the scheduler and no worker runs a task."""
        from scheduler.protocol.control_client import ControlClient

        def stopped() -> bool:
            with ControlClient(self.control) as client:
                if not client.get_job(query_id).stopped:
                    return False
            return not any(s.get("running_tasks") for s in self.worker_stats().values())

        wait_until(stopped, timeout, f"{query_id}'s tasks stopping on every executor")
