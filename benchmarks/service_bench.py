#!/usr/bin/env python3
"""The query service's cost and its throughput under concurrent clients: TPC-H through Flight SQL.

usage: python benchmarks/service_bench.py [DATA_DIR] [--sf 1] [--runs 3] [--queries 1,5,15]
                                          [--partitions N] [--device auto] [--executors N]
                                          [--executor-threads T] [--clients 1,4,8]
                                          [--max-concurrent-queries 16]
                                          [--results-dir benchmarks/results]

Over the same TPC-H Parquet files, each query runs ``--runs`` times per configuration, the
configurations alternating query by query: DataFusion in this process (the reference); gpu-exec
embedded in this process; the same engine behind a ``FlightSqlServer`` in this process over an
identically configured session, queried through the ADBC Flight SQL driver (the difference to
embedded is the service's overhead: planning behind GetFlightInfo, the result kept and streamed
over gRPC, the driver's decoding); and with ``--executors N`` (default 0: skipped) ``gpu-exec
scheduler`` with N ``gpu-exec executor`` processes on localhost, queried through ADBC. Then (the
cluster stopped) for each K of ``--clients``, K ADBC clients (threads, one connection each) run
the selected queries once each, in rotated orders, against the in-process server at the same
time. Every result is compared with DataFusion's. Prints markdown tables on stdout, progress on
stderr, and writes the numbers as JSON into the results directory; exit code 1 on any failure or
wrong answer.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tpch_bench import HERE, EngineTimes, _seconds, _timed, _versions

if TYPE_CHECKING:
    import pyarrow as pa

    from scheduler.service.registry import QueryRegistry

__all__ = ["AdbcScripts", "LocalCluster", "ConcurrencyRun", "main"]

DATAFUSION, EMBEDDED, FLIGHT = "DataFusion", "embedded", "Flight SQL"
STARTUP_SECONDS = 180
WARM_UP = "select count(*) from nation"


class AdbcScripts:
    """The ``session.sql(statement).to_arrow()`` shape over one ADBC Flight SQL connection, so that
    ``run_on_gpu_exec`` splits and times scripts sent through the driver as it does for a session
    (a cursor per statement: execute, then fetch the whole result as Arrow)."""

    def __init__(self, uri: str) -> None:
        import adbc_driver_flightsql.dbapi as adbc

        self.connection = adbc.connect(uri, autocommit=True)

    def sql(self, statement: str) -> _AdbcStatement:
        return _AdbcStatement(self.connection, statement)

    def close(self) -> None:
        self.connection.close()


@dataclass(frozen=True)
class _AdbcStatement:
    connection: Any
    statement: str

    def to_arrow(self) -> pa.Table:
        with self.connection.cursor() as cursor:
            cursor.execute(self.statement)
            return cursor.fetch_arrow_table()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalCluster:
    """``gpu-exec scheduler`` and ``executors`` × ``gpu-exec executor`` as subprocesses on
    localhost (free ports, no authentication, no control API), logs in ``logs``; ``stop()`` sends
    SIGTERM to exactly these processes."""

    def __init__(self, executors: int, threads: int, device: str, partitions: int, logs: Path) -> None:
        self.logs = logs
        self.dask_port, self.flight_port = _free_port(), _free_port()
        exe = [sys.executable, "-m", "gpu_exec.cli.main"]
        # Measured without authentication: the caller's GPU_EXEC_AUTH_* must not switch it on.
        env = {k: v for k, v in os.environ.items() if not k.startswith("GPU_EXEC_AUTH")}
        env["GPU_EXEC__FALLBACK"] = "silent"  # as the in-process sessions
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._start(exe + ["scheduler", "--host", "127.0.0.1", "--port", str(self.dask_port),
                           "--flight-port", str(self.flight_port), "--control-port", "0",
                           "--device", device, "--partitions", str(partitions),
                           "--warehouse", str(logs / "warehouse")], "scheduler", env)
        for i in range(executors):
            self._start(exe + ["executor", "--scheduler", self.dask_address, "--device", device,
                               "--nthreads", str(threads)], f"executor-{i}", env)
        self._wait_until_ready(executors)

    @property
    def dask_address(self) -> str:
        return f"tcp://127.0.0.1:{self.dask_port}"

    @property
    def uri(self) -> str:
        return f"grpc://127.0.0.1:{self.flight_port}"

    def _start(self, command: list[str], name: str, env: dict[str, str]) -> None:
        with open(self.logs / f"{name}.log", "wb") as log:  # the child keeps its own descriptor
            self.processes[name] = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)

    def _wait_until_ready(self, executors: int) -> None:
        from distributed import Client

        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            self._check_alive()
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.flight_port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the scheduler's query endpoint is not up after {STARTUP_SECONDS} s"
                                   + self.log_tail())
            time.sleep(0.2)
        # Every executor registered, so that the first stages are spread over all of them.
        with Client(self.dask_address, timeout=STARTUP_SECONDS) as client:  # type: ignore[no-untyped-call]
            client.wait_for_workers(executors, timeout=max(1.0, deadline - time.monotonic()))
        self._check_alive()

    def _check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"the {name} exited ({process.returncode})" + self.log_tail())

    def log_tail(self, lines: int = 15) -> str:
        out = []
        for log in sorted(self.logs.glob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"\n--- {log.name} ---\n" + "\n".join(tail))
        return "".join(out)

    def stop(self) -> None:
        for process in reversed(self.processes.values()):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _check(times: EngineTimes, result: Any, expected: pa.Table | None, sql: str) -> None:
    """Record a wrong answer as the configuration's error (its further runs are skipped)."""
    from gpu_exec.testing.compare import compare_tables, query_is_ordered
    from gpu_exec.api.sql_scripts import last_query

    if result is None or expected is None or times.error is not None:
        return
    differences = compare_tables(result.table, expected, query_is_ordered(last_query(sql)))
    if differences:
        times.error = "WRONG: " + differences[0]


def bench_queries(queries: list[int], runs: int, ctx: Any, runners: dict[str, Any],
                  expected: dict[int, pa.Table]) -> dict[str, dict[int, EngineTimes]]:
    """``runs`` rounds per query, the configurations alternating within each round; DataFusion's
    first result of each query goes into ``expected`` and every other result is checked against it."""
    from gpu_exec.api.sql_scripts import run_on_datafusion, run_on_gpu_exec
    from gpu_exec.testing.tpch import query_sql

    results: dict[str, dict[int, EngineTimes]] = {DATAFUSION: {}, **{name: {} for name in runners}}
    for number in queries:
        sql = query_sql(number)
        times = {name: results[name].setdefault(number, EngineTimes()) for name in results}
        for _ in range(runs):
            oracle = _timed(times[DATAFUSION], lambda: run_on_datafusion(ctx, sql))
            if oracle is not None and number not in expected:
                expected[number] = oracle.table
            for name, session in runners.items():
                result = _timed(times[name], lambda: run_on_gpu_exec(session, sql))
                _check(times[name], result, expected.get(number), sql)
        print(f"q{number:02d}: " + ", ".join(f"{name} {_cell(t)}" for name, t in times.items())
              + ("" if number in expected else "  (no DataFusion answer: not checked)"), file=sys.stderr)
    return results


def _cell(times: EngineTimes) -> str:
    if times.error is None:
        return _seconds(times.median_s)
    return "WRONG" if times.error.startswith("WRONG") else "FAILED"


@dataclass
class ConcurrencyRun:
    """K clients each running the queries once at the same time against the in-process server."""

    clients: int
    statements: int = 0
    wall_s: float = 0.0
    latencies_s: list[float] = field(default_factory=list)  # one per query script, all clients
    peak_running: int = 0  # most statements in the server at once (running or waiting for a slot)
    cpu_busy: float = 0.0  # this process's CPU seconds / (wall seconds × cores)
    errors: list[str] = field(default_factory=list)

    @property
    def queries(self) -> int:
        return len(self.latencies_s)

    @property
    def queries_per_s(self) -> float | None:
        return self.queries / self.wall_s if self.wall_s and not self.errors else None


def _client_script(sql: str, client: int) -> str:
    # The server's clients share one session, so q15's view needs a name of its own per client:
    # otherwise one client's DROP VIEW removes it under another's SELECT.
    return re.sub(r"\brevenue0\b", f"revenue0_client{client}", sql)


def run_clients(uri: str, clients: int, queries: list[int], expected: dict[int, pa.Table],
                registry: QueryRegistry) -> ConcurrencyRun:
    """``clients`` threads, one ADBC connection each, each running every query once starting at a
    different place in the list; answers are checked after the clock stops."""
    from gpu_exec.api.sql_scripts import ScriptResult, run_on_gpu_exec
    from gpu_exec.testing.tpch import query_sql
    from planner.errors import one_line

    run = ConcurrencyRun(clients)
    ready = threading.Barrier(clients + 1)
    outcomes: dict[int, list[tuple[int, ScriptResult | str]]] = {c: [] for c in range(clients)}

    def client(index: int) -> None:
        shift = index * len(queries) // clients
        order = queries[shift:] + queries[:shift]
        try:
            session = AdbcScripts(uri)
        except Exception as exc:  # noqa: BLE001 — reported with the others
            outcomes[index].append((0, one_line(exc)))
            ready.wait()
            return
        try:
            ready.wait()
            for number in order:
                try:
                    outcomes[index].append((number, run_on_gpu_exec(session, _client_script(query_sql(number), index))))
                except Exception as exc:  # noqa: BLE001 — a failing query is reported, the others run
                    outcomes[index].append((number, one_line(exc)))
        finally:
            session.close()

    threads = [threading.Thread(target=client, args=(c,), name=f"adbc-client-{c}") for c in range(clients)]
    for thread in threads:
        thread.start()
    ready.wait()
    wall_start, cpu_start, since = time.perf_counter(), time.process_time(), time.time()
    for thread in threads:
        thread.join()
    run.wall_s = time.perf_counter() - wall_start
    run.cpu_busy = (time.process_time() - cpu_start) / run.wall_s / (os.cpu_count() or 1)
    run.peak_running, run.statements = _peak_overlap(registry, since)

    from gpu_exec.testing.compare import compare_tables, query_is_ordered
    from gpu_exec.api.sql_scripts import last_query

    for index, results in outcomes.items():
        for number, outcome in results:
            if isinstance(outcome, str):
                run.errors.append(f"client {index} q{number:02d}: FAILED: {outcome}")
                continue
            run.latencies_s.append(outcome.seconds)
            if number in expected:
                differences = compare_tables(outcome.table, expected[number],
                                             query_is_ordered(last_query(query_sql(number))))
                if differences:
                    run.errors.append(f"client {index} q{number:02d}: WRONG: {differences[0]}")
    return run


def _peak_overlap(registry: QueryRegistry, since: float) -> tuple[int, int]:
    """The most statements the server held at once after ``since`` (from the registry's start and
    finish times), and how many statements started after ``since``."""
    records = [r for r in registry.list() if r.started >= since]
    events = sorted([(r.started, 1) for r in records] + [(r.finished or time.time(), -1) for r in records])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak, len(records)


def markdown(header: str, columns: list[str], table: dict[str, dict[int, EngineTimes]],
             queries: list[int], expected: dict[int, pa.Table]) -> str:
    """Medians per query and configuration, the service's overhead over embedded, and totals."""
    lines = [header, "", "| query | " + " | ".join(f"{c} s" for c in columns)
             + " | Flight SQL / embedded | overhead ms | rows |",
             "|---|" + "---:|" * (len(columns) + 3)]

    def ratio(a: float | None, b: float | None) -> str:
        return f"{a / b:.2f}" if a is not None and b else "-"

    for number in queries:
        cells = [_cell(table[c][number]) for c in columns]
        flight, embedded = table[FLIGHT][number].median_s, table[EMBEDDED][number].median_s
        overhead = f"{(flight - embedded) * 1000:+.0f}" if flight is not None and embedded is not None else "-"
        rows = expected[number].num_rows if number in expected else "-"
        lines.append(f"| q{number:02d} | " + " | ".join(cells) + f" | {ratio(flight, embedded)} | {overhead} | {rows} |")
    complete = [n for n in queries if all(table[c][n].median_s is not None for c in columns)]
    totals = {c: sum(table[c][n].median_s or 0.0 for n in complete) for c in columns}
    lines.append(f"| total ({len(complete)} queries) | " + " | ".join(f"{totals[c]:.2f}" for c in columns)
                 + f" | {ratio(totals[FLIGHT], totals[EMBEDDED])} | "
                 f"{(totals[FLIGHT] - totals[EMBEDDED]) * 1000:+.0f} | |")
    base = totals[DATAFUSION] or 1.0
    lines.append("| vs DataFusion | " + " | ".join(f"{totals[c] / base:.2f}×" for c in columns) + " | | | |")
    lines += ["", "Medians in seconds of planning, execution and collecting the whole result as Arrow (all "
              "statements of q15); Flight SQL / embedded and overhead (Flight SQL − embedded, ms) are the "
              "query service's cost; totals sum the queries every configuration ran."]
    return "\n".join(lines)


def concurrency_markdown(runs: list[ConcurrencyRun], queries: int, limit: int) -> str:
    base = next((r.queries_per_s for r in runs if r.queries_per_s), None)
    lines = [f"Concurrent ADBC clients against the in-process server (max_concurrent_queries={limit}); "
             f"each client runs the {queries} queries once, in its own rotated order.", "",
             "| clients | queries | wall s | queries/s | speed-up | mean latency s | max latency s | "
             "peak statements in server | CPU busy | check |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in runs:
        qps = r.queries_per_s
        mean = f"{statistics.mean(r.latencies_s):.2f}" if r.latencies_s else "-"
        worst = f"{max(r.latencies_s):.2f}" if r.latencies_s else "-"
        speed = f"{qps / base:.2f}×" if qps and base else "-"
        check = "ok" if not r.errors else f"{len(r.errors)} problem(s): {r.errors[0][:100]}"
        lines.append(f"| {r.clients} | {r.queries} | {r.wall_s:.2f} | {_rate(qps)} | {speed} | {mean} | {worst} | "
                     f"{r.peak_running} | {r.cpu_busy:.0%} | {check} |")
    lines += ["", "queries/s = queries finished / wall seconds; speed-up over the first row; latency = one "
              "client's time for one query; peak statements = the most statements the server held at once "
              "(running or waiting for one of its max_concurrent_queries slots); CPU busy = this process's "
              "CPU time / (wall time × cores), clients and server together."]
    return "\n".join(lines)


def _rate(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "-"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from gpu_exec.cli.tpch import query_numbers_argument
    from gpu_exec.testing.tpch import QUERY_NUMBERS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", type=Path, help="TPC-H Parquet directory "
                        "(default ./data/tpch-sf{sf}; generated if it lacks a table)")
    parser.add_argument("--sf", type=float, default=1.0, help="scale factor (default 1)")
    parser.add_argument("--runs", type=int, default=3, help="runs per query and configuration (default 3)")
    parser.add_argument("--queries", type=query_numbers_argument, default=list(QUERY_NUMBERS))
    parser.add_argument("--partitions", type=int, help="gpu-exec partitions, the same in every configuration "
                        "(default: the engine's, i.e. the number of cores)")
    parser.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto")
    parser.add_argument("--executors", type=int, default=0,
                        help="also run on gpu-exec scheduler + N executor processes (default 0: skip)")
    parser.add_argument("--executor-threads", type=int,
                        help="threads per executor (default: cores / executors, at least 1)")
    parser.add_argument("--clients", default="1,4,8", help="concurrent client counts (default 1,4,8; '' to skip)")
    parser.add_argument("--max-concurrent-queries", type=int, default=None,
                        help="the in-process server's limit (default: ServiceLimits' default)")
    parser.add_argument("--results-dir", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    try:
        args.clients = [int(c) for c in args.clients.split(",") if c.strip()]
    except ValueError:
        parser.error(f"--clients takes a comma-separated list of counts, not {args.clients!r}")
    if args.runs < 1 or args.executors < 0 or any(c < 1 for c in args.clients):
        parser.error("--runs and every --clients count must be at least 1, --executors at least 0")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit code 1 when a query fails or gives a wrong answer anywhere."""
    import gpu_exec
    from gpu_exec.api.sql_scripts import datafusion_context, register_tables
    from gpu_exec.testing.tpch import default_data_dir, ensure_data
    from planner.errors import one_line
    from scheduler.service.flight_sql import FlightSqlServer, ServiceLimits
    from scheduler.service.registry import QueryRegistry

    args = parse_args(argv)
    data = args.data or default_data_dir(args.sf)
    print(f"preparing TPC-H SF {args.sf:g} in {data} ...", file=sys.stderr)
    tables = {name: os.path.abspath(path) for name, path in ensure_data(args.sf, data).items()}
    limits = ServiceLimits() if args.max_concurrent_queries is None else \
        ServiceLimits(max_concurrent_queries=args.max_concurrent_queries)
    started = datetime.datetime.now(datetime.timezone.utc)
    load_before = os.getloadavg()

    options: dict[str, Any] = {"device": args.device, "fallback": "silent", "progress": "off"}
    if args.partitions is not None:
        options["partitions"] = args.partitions
    embedded = gpu_exec.connect(**options)
    partitions = embedded.config.partitions  # resolved: the same for the server and the cluster
    options["partitions"] = partitions
    served = gpu_exec.connect(**options)
    registry = QueryRegistry(keep_finished=100_000)
    server = FlightSqlServer(served, "grpc://127.0.0.1:0", registry=registry, limits=limits)
    uri = f"grpc://127.0.0.1:{server.port}"
    logs = Path(tempfile.mkdtemp(prefix="service-bench-"))
    cluster: LocalCluster | None = None
    cluster_name = f"{args.executors} executor{'s' * (args.executors > 1)}"
    cluster_error: str | None = None
    threads = args.executor_threads or max(1, (os.cpu_count() or 1) // max(1, args.executors))
    flight_client: AdbcScripts | None = None
    cluster_client: AdbcScripts | None = None
    expected: dict[int, pa.Table] = {}
    concurrency: list[ConcurrencyRun] = []
    try:
        ctx = datafusion_context(tables)
        register_tables(embedded, tables)
        register_tables(served, tables)
        runners: dict[str, Any] = {EMBEDDED: embedded}
        flight_client = runners[FLIGHT] = AdbcScripts(uri)
        if args.executors:
            print(f"starting gpu-exec scheduler + {args.executors} executors ({threads} thread{'s' * (threads > 1)} each), "
                  f"logs in {logs} ...", file=sys.stderr)
            try:
                cluster = LocalCluster(args.executors, threads, args.device, partitions, logs)
                cluster_client = AdbcScripts(cluster.uri)
                for name, path in tables.items():
                    cluster_client.sql(f"create external table {name} stored as parquet location '{path}'").to_arrow()
                runners[cluster_name] = cluster_client
            except Exception as exc:  # noqa: BLE001 — reported as every cluster query's failure
                cluster_error = one_line(exc)
                print(f"the cluster did not start: {cluster_error}", file=sys.stderr)
        # Warm-up outside the timings: first use imports and starts things (the executors' engine).
        ctx.sql(WARM_UP).to_arrow_table()
        for runner in runners.values():
            runner.sql(WARM_UP).to_arrow()

        results = bench_queries(args.queries, args.runs, ctx, runners, expected)
        if cluster_error is not None:
            results[cluster_name] = {n: EngineTimes(error=cluster_error) for n in args.queries}

        if cluster is not None:
            # Idle, the scheduler and executors still take ~10 % of a 2-core machine (Dask's
            # heartbeats and event loops): stopped before the concurrent clients are measured.
            if cluster_client is not None:
                cluster_client.close()
                cluster_client = None
            cluster.stop()
        for clients in args.clients:
            print(f"{clients} concurrent client(s) ...", file=sys.stderr)
            run = run_clients(uri, clients, args.queries, expected, registry)
            print(f"{clients} client(s): {run.queries} queries in {run.wall_s:.2f} s, "
                  f"{_rate(run.queries_per_s)} queries/s, peak {run.peak_running} statements in the server, "
                  f"CPU {run.cpu_busy:.0%}" + (f"; {len(run.errors)} problem(s): {run.errors[0]}" if run.errors else ""),
                  file=sys.stderr)
            concurrency.append(run)
    finally:
        for client in (flight_client, cluster_client):
            if client is not None:
                client.close()
        if cluster is not None:
            cluster.stop()
        server.shutdown()
        served.close()
        embedded.close()

    load_after = os.getloadavg()
    peak_rss_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    columns = list(results)
    cluster_note = f", {cluster_name} × {threads} thread{'s' * (threads > 1)}" if args.executors else ""
    header = (f"TPC-H SF {args.sf:g}, runs per query: {args.runs}, gpu-exec device={args.device} "
              f"partitions={partitions}{cluster_note}; {os.cpu_count()} CPUs; {started:%Y-%m-%d %H:%M} UTC; "
              f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after; "
              + ", ".join(f"{k} {v}" for k, v in _versions("adbc-driver-flightsql", "distributed").items()))
    print(markdown(header, columns, results, args.queries, expected))
    if concurrency:
        print()
        print(concurrency_markdown(concurrency, len(args.queries), limits.max_concurrent_queries))
    print(f"\nPeak memory of this process (DataFusion, both sessions, the server, the clients): "
          f"{peak_rss_gib:.1f} GiB")

    args.results_dir.mkdir(parents=True, exist_ok=True)
    path = args.results_dir / f"service-sf{args.sf:g}-{started:%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps({
        "sf": args.sf, "data": str(data), "runs": args.runs, "device": args.device, "partitions": partitions,
        "executors": args.executors, "executor_threads": threads if args.executors else None, "limits": asdict(limits),
        "started": started.isoformat(), "cpus": os.cpu_count(), "load_average": [load_before, load_after],
        "peak_rss_gib": peak_rss_gib, "versions": _versions("adbc-driver-flightsql", "distributed"),
        "configurations": {c: {f"q{n:02d}": {"times_s": t.times_s, "median_s": t.median_s, "error": t.error}
                               for n, t in results[c].items()} for c in columns},
        "concurrency": [{**asdict(r), "queries": r.queries, "queries_per_s": r.queries_per_s} for r in concurrency],
    }, indent=1) + "\n")
    print(f"\nJSON: {path}", file=sys.stderr)
    failed = any(t.error for c in columns for t in results[c].values()) or any(r.errors for r in concurrency)
    if cluster_name in results and any(t.error for t in results[cluster_name].values()):
        print(f"the cluster's logs: {logs}", file=sys.stderr)
    else:
        shutil.rmtree(logs, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
