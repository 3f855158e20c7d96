"""The ``gpu-exec`` command line: ``gpu-exec sql`` runs one query, ``gpu-exec run`` a file of
statements (``gpu_exec.cli.batch``), ``gpu-exec tpch`` runs TPC-H,
``gpu-exec scheduler`` and ``gpu-exec executor`` run the processes of a cluster.

Heavy modules (the engine, DataFusion, pyarrow, rich) are imported only once a command runs, so
``gpu-exec --help`` is instant. Errors print one line on stderr and exit with code 1; ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from typing import Sequence

from gpu_exec.cli.display import describe, result_summary, result_table

__all__ = ["main", "build_parser"]


def _table_arg(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not sep or not name.strip() or not path.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=PATH, got {text!r}")
    return name.strip(), path.strip()


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    return common


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``gpu-exec`` and its subcommands."""
    from gpu_exec.cli import cluster, jobs, tpch

    parser = argparse.ArgumentParser(
        prog="gpu-exec",
        description="gpu-exec: a distributed SQL engine for GPU clusters, with a CPU fallback.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sql = commands.add_parser("sql", parents=[_common_options()], help="run one SQL statement",
                              description="Run one SQL statement over Parquet/CSV files and print "
                              "the result.")
    sql.add_argument("query", help="the SQL statement")
    sql.add_argument("--table", "-t", dest="tables", action="append", type=_table_arg, default=[],
                     metavar="NAME=PATH", help="register a .parquet/.csv file or directory as "
                     "table NAME (repeatable)")
    sql.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto")
    sql.add_argument("--partitions", type=int, help="partitions per stage (default: the engine's)")
    sql.add_argument("--max-rows", type=int, default=100, metavar="N",
                     help="print at most N rows (default 100)")
    sql.set_defaults(handler=run_sql)

    run = commands.add_parser("run", parents=[_common_options()],
                              help="run a file of SQL statements in order (a batch job)",
                              description="Run the ';'-separated statements of a SQL file in order "
                              "(CREATE EXTERNAL TABLE, queries, COPY ... TO, ...), printing each "
                              "result's first rows; stop at the first statement that fails (exit 1).")
    run.add_argument("job", metavar="JOB.sql", help="the SQL file ('-': standard input)")
    run.add_argument("--cluster", metavar="ADDRESS",
                     help="tcp://HOST:8786: a Dask scheduler with gpu-exec executors; grpc://HOST:50050 "
                     "(grpc+tls://): a gpu-exec query service (default: run in this process)")
    run.add_argument("--table", "-t", dest="tables", action="append", type=_table_arg, default=[],
                     metavar="NAME=PATH", help="register a .parquet/.csv file or directory as "
                     "table NAME before the job (repeatable)")
    run.add_argument("--device", choices=("auto", "cpu", "gpu"),
                     help="default auto; not with grpc://, where the service decides")
    run.add_argument("--partitions", type=int, help="partitions per stage (default: the engine's)")
    run.add_argument("--max-rows", type=int, default=10, metavar="N",
                     help="print at most N rows of each result (default 10)")
    run.add_argument("--token", help="grpc://: bearer token (default: $GPU_EXEC_TOKEN)")
    run.add_argument("--tls-ca", metavar="FILE",
                     help="grpc+tls://: trust the CA certificate(s) in this PEM file (default: the system's)")
    run.set_defaults(handler=run_job)

    bench = commands.add_parser("tpch", parents=[_common_options()],
                                help="run the 22 TPC-H queries (generating the data if needed)",
                                description="Generate TPC-H Parquet data if needed, run the 22 "
                                "queries and show times and where each query's operators ran.")
    tpch.add_arguments(bench)
    bench.set_defaults(handler=tpch.run)

    scheduler = commands.add_parser("scheduler", parents=[_common_options()],
                                    help="run the scheduler of a gpu-exec cluster",
                                    description="Run a Dask scheduler for gpu-exec executors, the "
                                    "query service (Arrow Flight SQL, grpc://HOST:50050) and the control "
                                    "API (gRPC jobs and health, HOST:50051).")
    cluster.add_scheduler_arguments(scheduler)
    scheduler.set_defaults(handler=cluster.scheduler_command)

    executor = commands.add_parser("executor", parents=[_common_options()],
                                   help="run the executors of one node of a gpu-exec cluster",
                                   description="Run gpu-exec executors (Dask workers with the "
                                   "shuffle service): one per GPU, or one using the CPU cores.")
    cluster.add_executor_arguments(executor)
    executor.set_defaults(handler=cluster.run_executor)

    jobs_command = commands.add_parser("jobs", parents=[_common_options()],
                               help="list the queries a gpu-exec scheduler runs and ran",
                               description="List the queries of a gpu-exec scheduler, through its "
                               "control API: id, state, user, duration, rows, task progress, SQL.")
    jobs.add_jobs_arguments(jobs_command)
    jobs_command.set_defaults(handler=jobs.run_jobs)

    cancel = commands.add_parser("cancel", parents=[_common_options()],
                                 help="cancel a query running on a gpu-exec scheduler",
                                 description="Ask a running query of a gpu-exec scheduler to stop "
                                 "(QUERY_ID as `gpu-exec jobs` shows it).")
    jobs.add_cancel_arguments(cancel)
    cancel.set_defaults(handler=jobs.run_cancel)
    return parser


# ---- gpu-exec sql ------------------------------------------------------------------------------


def run_sql(args: argparse.Namespace) -> int:
    """``gpu-exec sql``: register the tables, run the statement, print the result."""
    from rich.console import Console

    import gpu_exec
    from gpu_exec.api.sql_scripts import register_tables
    from gpu_exec.cli.batch import run_interruptible, terminate_as_interrupt

    options: dict[str, object] = {"device": args.device}
    if args.partitions is not None:
        options["partitions"] = args.partitions
    session = gpu_exec.connect(**options)
    try:
        register_tables(session, dict(args.tables))
        start = time.perf_counter()
        frame = session.sql(args.query)
        # Ctrl-C (or SIGTERM) cancels the query at its next batch and exits within a few seconds,
        # even while it is inside a long kernel.
        with terminate_as_interrupt():
            result = run_interruptible(frame.to_arrow, frame.cancel)
        seconds = time.perf_counter() - start
    finally:
        session.close()
    console = Console()
    console.print(result_table(result, args.max_rows))
    console.print(result_summary(result, args.max_rows, seconds), highlight=False)
    return 0


# ---- gpu-exec run ------------------------------------------------------------------------------


def run_job(args: argparse.Namespace) -> int:
    """``gpu-exec run``: run a job file's statements in order on one session (``gpu_exec.cli.batch``)."""
    from rich.console import Console

    from gpu_exec.cli import batch

    statements = batch.load_job(args.job)  # before connecting: a wrong path fails fast
    source = "<stdin>" if args.job == "-" else args.job
    with batch.terminate_as_interrupt():
        session = batch.open_session(args.cluster, device=args.device, partitions=args.partitions,
                                     tables=dict(args.tables), token=args.token, tls_ca=args.tls_ca)
        try:
            display = batch.JobDisplay(Console(), Console(stderr=True), args.max_rows)
            return batch.run_statements(session, statements, source=source, display=display,
                                        describe=describe, debug=args.debug)
        finally:
            session.close()


# ---- entry point -------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gpu-exec`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return _exit_code(int(args.handler(args)))
    except KeyboardInterrupt as exc:
        print("gpu-exec: interrupted", file=sys.stderr)
        return _exit_code(143 if type(exc).__name__ == "Terminated" else 130)
    except Exception as exc:  # every error ends here: one line, or the traceback with --debug
        if args.debug:
            traceback.print_exc()
        print(f"gpu-exec: error: {describe(exc)}", file=sys.stderr)
        return 1


def _exit_code(code: int) -> int:
    """``code``; but an interrupted command whose query threads are still inside a kernel (they
    stop at its end: the query was cancelled) exits now rather than wait for them at exit."""
    import threading

    if code in (130, 143) and any(t.is_alive() and not t.daemon for t in threading.enumerate()
                                  if t is not threading.main_thread()):
        sys.stdout.flush()
        sys.stderr.flush()
        import os

        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
