"""``gpu-exec scheduler`` with two ``gpu-exec executor`` processes on localhost, used as a user
would: the ADBC Flight SQL driver runs the 22 TPC-H queries (answers checked against DataFusion),
wrong credentials are refused, the health service answers SERVING and ``gpu-exec jobs`` lists the
queries; the remote Python client registers tables and streams results.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import adbc_driver_flightsql.dbapi as adbc
import pyarrow as pa
import pytest
from adbc_driver_flightsql import DatabaseOptions

import gpu_exec
from gpu_exec.cli.main import main as cli_main
from gpu_exec.testing.compare import compare_tables, query_is_ordered
from gpu_exec.api.sql_scripts import datafusion_context, last_query, run_on_datafusion, run_on_gpu_exec
from gpu_exec.testing.tpch import QUERY_NUMBERS, query_sql
from scheduler.protocol.control_client import ControlClient

TOKEN = "cluster-test-token-5b1e0c9d"
STARTUP_SECONDS = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """A scheduler and two executors, as processes, stopped with SIGTERM at the end."""

    def __init__(self, tmp: Path) -> None:
        self.dask_port, self.flight_port, self.control_port = _free_port(), _free_port(), _free_port()
        self.dashboard_port = _free_port()
        auth_file = tmp / "auth.toml"
        auth_file.write_text(f'[tokens]\nci = "{TOKEN}"\n[users]\nalice = "wonderland"\n')
        self.logs = tmp
        exe = [sys.executable, "-m", "gpu_exec.cli.main"]
        env = {**os.environ, "GPU_EXEC__PARTITIONS": "2"}
        self.processes = [self._start(exe + [
            "scheduler", "--host", "127.0.0.1", "--port", str(self.dask_port), "--flight-port",
            str(self.flight_port), "--control-port", str(self.control_port), "--auth-file", str(auth_file),
            "--dashboard-port", str(self.dashboard_port),
            "--device", "cpu", "--warehouse", str(tmp / "warehouse")], "scheduler", env)]
        self._wait_for_port(self.flight_port)
        for i in range(2):
            self.processes.append(self._start(exe + [
                "executor", "--scheduler", f"tcp://127.0.0.1:{self.dask_port}", "--device", "cpu",
                "--nthreads", "1"], f"executor-{i}", env))

    def _start(self, command: list[str], name: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 — closed with the process
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)

    def _wait_for_port(self, port: int) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.processes[0].poll() is not None:
                raise AssertionError(f"the scheduler exited: {(self.logs / 'scheduler.log').read_text()}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.2)
        raise AssertionError(f"nothing listens on port {port} after {STARTUP_SECONDS} s")

    @property
    def uri(self) -> str:
        return f"grpc://127.0.0.1:{self.flight_port}"

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    running = Cluster(tmp_path_factory.mktemp("service-cluster"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def adbc_connection(cluster: Cluster, tpch_data: dict[str, str]) -> Iterator[Any]:
    connection = adbc.connect(cluster.uri, autocommit=True,
                              db_kwargs={DatabaseOptions.AUTHORIZATION_HEADER.value: f"Bearer {TOKEN}"})
    with connection.cursor() as cursor:
        for name, path in tpch_data.items():
            cursor.execute(f"create external table {name} stored as parquet location '{path}'")
    yield connection
    connection.close()


class _AdbcScript:
    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def sql(self, statement: str) -> Any:
        connection = self.connection

        class Result:
            def to_arrow(self) -> pa.Table:
                with connection.cursor() as cursor:
                    cursor.execute(statement)
                    return cursor.fetch_arrow_table()

        return Result()


def test_adbc_runs_all_tpch_queries_on_two_executors(adbc_connection: Any, tpch_data: dict[str, str]) -> None:
    oracle = datafusion_context(tpch_data)
    failures = []
    for number in QUERY_NUMBERS:
        sql = query_sql(number)
        actual = run_on_gpu_exec(_AdbcScript(adbc_connection), sql).table
        expected = run_on_datafusion(oracle, sql).table
        differences = compare_tables(actual, expected, query_is_ordered(last_query(sql)))
        if differences:
            failures.append(f"q{number:02d}: " + "; ".join(differences[:3]))
    assert not failures, "\n".join(failures)


def test_wrong_credentials_are_refused(cluster: Cluster) -> None:
    for db_kwargs, message in (({}, "missing credentials"),
                               ({DatabaseOptions.AUTHORIZATION_HEADER.value: "Bearer not-the-token-123456"}, "invalid token"),
                               ({"username": "alice", "password": "nope"}, "wrong user or password")):
        with pytest.raises(adbc.Error, match=message):
            with adbc.connect(cluster.uri, db_kwargs=db_kwargs or None, autocommit=True) as connection:
                with connection.cursor() as cursor:
                    cursor.execute("select 1")
    with adbc.connect(cluster.uri, db_kwargs={"username": "alice", "password": "wonderland"},
                      autocommit=True) as connection, connection.cursor() as cursor:
        cursor.execute("select 1 as one")
        assert cursor.fetchall() == [(1,)]


def test_health_serving_and_jobs_listed(cluster: Cluster, adbc_connection: Any,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    with ControlClient(f"127.0.0.1:{cluster.control_port}") as client:
        # NOT_SERVING until the executors (started with the scheduler) have joined.
        deadline = time.monotonic() + STARTUP_SECONDS
        while client.health() != "SERVING" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert client.health() == "SERVING"
    with adbc_connection.cursor() as cursor:
        cursor.execute("select count(*) from region")
        cursor.fetchall()
    with ControlClient(f"127.0.0.1:{cluster.control_port}", token=TOKEN) as client:
        jobs = client.list_jobs()
    (job,) = [j for j in jobs if j.sql == "select count(*) from region"]
    assert (job.state, job.user, job.rows) == ("succeeded", "ci", 1)
    assert cli_main(["jobs", "--server", f"127.0.0.1:{cluster.control_port}", "--token", TOKEN]) == 0
    out = capsys.readouterr().out
    assert job.query_id in out and f"{len(jobs)} queries" in out
    assert cli_main(["jobs", "--server", f"127.0.0.1:{cluster.control_port}"]) == 1  # no credentials
    assert "missing credentials" in capsys.readouterr().err
    # The scheduler logged the query, with the ids of the cluster jobs that ran it.
    logged = (cluster.logs / "scheduler.log").read_text()
    assert f"query {job.query_id} succeeded user=ci" in logged and "jobs=job-" in logged
    # The dashboard: Dask's status page, and Prometheus metrics with gpu-exec's own.
    import urllib.request

    base = f"http://127.0.0.1:{cluster.dashboard_port}"
    with urllib.request.urlopen(f"{base}/status", timeout=30) as page:
        assert page.status == 200
    with urllib.request.urlopen(f"{base}/metrics", timeout=30) as page:
        metrics = page.read().decode()
    succeeded = [line for line in metrics.splitlines() if line.startswith('gpu_exec_queries_total{state="succeeded"}')]
    assert succeeded and float(succeeded[0].split()[-1]) >= 1, metrics[:2000]
    assert "gpu_exec_executors 2.0" in metrics and "gpu_exec_query_seconds_bucket" in metrics
    assert "dask_scheduler_workers" in metrics  # Dask's own, on the same route


def test_remote_python_client(cluster: Cluster, adbc_connection: Any, tpch_data: dict[str, str], tmp_path: Path,
                              assert_matches_datafusion: Callable[..., pa.Table]) -> None:
    with gpu_exec.connect(cluster.uri, user="alice", password="wonderland") as session:
        session.register_parquet("my_orders", tpch_data["orders"])
        assert "my_orders" in session.tables()
        assert session.table("my_orders").schema.names[:2] == ["o_orderkey", "o_custkey"]
        df = session.sql("select o_orderpriority, count(*) as n from my_orders group by 1 order by 1")
        assert df.schema.names == ["o_orderpriority", "n"]
        assert "@cpu" in df.explain()
        assert sum(df.to_pandas()["n"]) == 150_000
        batches = list(session.sql("select o_orderkey from my_orders").execute_stream())
        assert sum(b.num_rows for b in batches) == 150_000
        out = tmp_path / "copied"
        written = session.sql(f"copy (select * from my_orders where o_orderkey < 1000) to '{out}' (format parquet)")
        count = written.to_arrow().column(0)[0].as_py()
        import pyarrow.parquet as pq

        assert pq.read_table(out).num_rows == count > 0
        with pytest.raises(gpu_exec.SQLError, match="nope"):
            session.sql("select nope from my_orders")
        assert_matches_datafusion(query_sql(3), tpch_data, session=session)


def test_a_running_query_is_listed_with_progress_and_cancelled_by_id(
        cluster: Cluster, adbc_connection: Any, capsys: pytest.CaptureFixture[str],
        in_background: Callable[..., Any]) -> None:
    # Never ends by itself (lineitem × orders, streamed in bounded memory): it is running whenever
    # the test cancels it, however fast the machine.
    slow = "select sum(l_quantity + o_totalprice) as n from lineitem cross join orders where l_quantity > 0"

    def run() -> None:
        with adbc_connection.cursor() as cursor:
            cursor.execute(slow)
            cursor.fetchall()

    query = in_background(run)
    server = f"127.0.0.1:{cluster.control_port}"
    with ControlClient(server, token=TOKEN) as client:
        deadline = time.monotonic() + 60
        running: list[Any] = []
        while not running or running[0].tasks_total == 0:
            assert time.monotonic() < deadline, "the query never showed up as running with its tasks"
            running = [j for j in client.list_jobs(running_only=True) if j.sql == slow]
            time.sleep(0.05)
        assert cli_main(["jobs", "--server", server, "--token", TOKEN, "--running"]) == 0
        assert running[0].query_id in capsys.readouterr().out
        assert cli_main(["cancel", running[0].query_id, "--server", server, "--token", TOKEN]) == 0
        error = query.error()
        assert "cancel" in str(error or "").lower(), error
        assert client.get_job(running[0].query_id).state == "cancelled"


def test_remote_cancel_from_another_thread(cluster: Cluster, adbc_connection: Any,
                                           in_background: Callable[..., Any]) -> None:
    from gpu_exec import QueryCancelled

    with gpu_exec.connect(cluster.uri, token=TOKEN) as session:
        df = session.sql("select sum(l_quantity + o_totalprice) as n from lineitem cross join orders "
                         "where l_quantity > 1")
        query = in_background(df.to_arrow)
        deadline = time.monotonic() + 60
        with ControlClient(f"127.0.0.1:{cluster.control_port}", token=TOKEN) as client:
            while not any(j.sql == df.query for j in client.list_jobs(running_only=True)):
                assert time.monotonic() < deadline
                time.sleep(0.05)
        df.cancel()
        error = query.error()
        assert isinstance(error, QueryCancelled), error
        assert session.sql("select count(*) as n from region").to_pylist() == [{"n": 5}]  # still serving


def test_scheduler_serves_both_endpoints_over_tls(tmp_path: Path) -> None:
    import trustme

    ca = trustme.CA()
    certificate = ca.issue_cert("localhost", "127.0.0.1")
    cert, key, ca_file = tmp_path / "server.pem", tmp_path / "server.key", tmp_path / "ca.pem"
    certificate.cert_chain_pems[0].write_to_path(str(cert))
    for blob in certificate.cert_chain_pems[1:]:
        blob.write_to_path(str(cert), append=True)
    certificate.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_file))
    flight_port, control_port = _free_port(), _free_port()
    log = open(tmp_path / "scheduler.log", "wb")  # noqa: SIM115 — closed below
    process = subprocess.Popen(
        [sys.executable, "-m", "gpu_exec.cli.main", "scheduler", "--host", "127.0.0.1", "--port", str(_free_port()),
         "--flight-port", str(flight_port), "--control-port", str(control_port), "--tls-cert", str(cert),
         "--tls-key", str(key)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            assert process.poll() is None, (tmp_path / "scheduler.log").read_text()
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", control_port)) == 0:
                    break
            assert time.monotonic() < deadline
            time.sleep(0.2)
        with gpu_exec.connect(f"grpc+tls://localhost:{flight_port}", tls_root_certs=ca_file) as session:
            assert session.tables() == []
        with pytest.raises(gpu_exec.GpuExecError, match="cannot reach"):
            gpu_exec.connect(f"grpc://127.0.0.1:{flight_port}")  # plaintext to a TLS port
        with ControlClient(f"localhost:{control_port}", tls_root_cert=ca_file.read_bytes()) as client:
            assert client.health("gpu_exec.control.v1.Jobs") == "SERVING"
            assert client.health() == "NOT_SERVING"  # up, but no executor to run queries on
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        log.close()


def test_a_taken_query_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "gpu_exec.cli.main", "scheduler", "--host", "127.0.0.1", "--port", str(_free_port()),
             "--flight-port", str(port), "--control-port", "0"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert f"cannot serve the query endpoint at grpc://127.0.0.1:{port}" in result.stderr
    assert "--flight-port" in result.stderr


def test_eight_concurrent_clients_on_the_cluster(cluster: Cluster, adbc_connection: Any,
                                                 tpch_data: dict[str, str]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    numbers = [1, 3, 4, 5, 6, 10, 12, 14]
    oracle = datafusion_context(tpch_data)
    expected = {n: run_on_datafusion(oracle, query_sql(n)).table for n in numbers}

    def client(number: int) -> pa.Table:
        with adbc.connect(cluster.uri, autocommit=True,
                          db_kwargs={DatabaseOptions.AUTHORIZATION_HEADER.value: f"Bearer {TOKEN}"}) as connection:
            return run_on_gpu_exec(_AdbcScript(connection), query_sql(number)).table

    with ThreadPoolExecutor(max_workers=len(numbers)) as pool:
        results = dict(zip(numbers, pool.map(client, numbers)))
    for number in numbers:
        sql = query_sql(number)
        assert not compare_tables(results[number], expected[number], query_is_ordered(last_query(sql))), f"q{number:02d}"
