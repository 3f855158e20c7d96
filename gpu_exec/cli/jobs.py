"""``gpu-exec jobs`` and ``gpu-exec cancel``: list and cancel a scheduler's queries through its
control API.

Only argparse is imported here: grpc and rich load once a command runs, so ``gpu-exec --help``
stays instant.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.table import Table

    from scheduler.protocol.control_client import ControlClient
    from scheduler.protocol.proto import jobs_pb2

__all__ = ["add_jobs_arguments", "add_cancel_arguments", "run_jobs", "run_cancel", "jobs_table",
           "format_duration", "executors_line"]

SQL_PREVIEW = 60  # characters of each query's SQL shown by `gpu-exec jobs`


def _add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("connection")
    group.add_argument("--server", default="localhost:50051", metavar="HOST:PORT",
                       help="the scheduler's control API (default localhost:50051)")
    group.add_argument("--token", default=None,
                       help="bearer token (default: $GPU_EXEC_TOKEN)")
    group.add_argument("--user", help="user for basic auth, with --password")
    group.add_argument("--password",
                       help="password for --user (default: $GPU_EXEC_PASSWORD, else asked for)")
    group.add_argument("--tls-ca", metavar="FILE",
                       help="connect with TLS, trusting the CA certificate(s) in this PEM file")


def add_jobs_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``gpu-exec jobs``."""
    parser.add_argument("--running", action="store_true", help="list only the running queries")
    _add_connection_arguments(parser)


def add_cancel_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``gpu-exec cancel``."""
    parser.add_argument("query_id", metavar="QUERY_ID", help="the query's id, as `gpu-exec jobs` shows it")
    _add_connection_arguments(parser)


def _connect(args: argparse.Namespace) -> ControlClient:
    """A client from the connection options, their environment defaults and a password prompt."""
    if not args.debug:
        # gRPC's C core logs failed TLS handshakes on stderr itself; the error line says it all.
        # (Read when grpc is first imported, i.e. just below.)
        os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    from scheduler.protocol.control_client import ControlClient
    from scheduler.protocol.tls import load_root_certificate

    if args.password is not None and args.user is None:
        raise ValueError("--password needs --user")
    token, password = args.token, args.password
    if args.user is not None:
        password = password if password is not None else os.environ.get("GPU_EXEC_PASSWORD")
        if password is None:
            if not sys.stdin.isatty():
                raise ValueError("--user needs --password (or GPU_EXEC_PASSWORD)")
            import getpass

            password = getpass.getpass(f"password for {args.user} at {args.server}: ")
    elif token is None:
        # The environment's token only when no user was given: an explicit --user wins.
        token = os.environ.get("GPU_EXEC_TOKEN") or None
    root = load_root_certificate(args.tls_ca) if args.tls_ca else None
    return ControlClient(args.server, token=token, user=args.user, password=password,
                         tls_root_cert=root)


def format_duration(seconds: float) -> str:
    """``"4.2 s"``, ``"3 min 04 s"``, ``"2 h 05 min"``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _sql_preview(sql: str) -> str:
    line = " ".join(sql.split())
    return line if len(line) <= SQL_PREVIEW else line[: SQL_PREVIEW - 1] + "…"


_STATE_STYLES = {"running": "bold cyan", "succeeded": "green", "failed": "red", "cancelled": "yellow"}


def jobs_table(jobs: list[jobs_pb2.Job]) -> Table:
    """A rich table of queries: id, state, user, duration, rows, task progress, SQL."""
    from rich.table import Table
    from rich.text import Text

    table = Table()
    for name, justify in (("id", "left"), ("state", "left"), ("user", "left"),
                          ("duration", "right"), ("rows", "right"), ("progress", "right"),
                          ("sql", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for job in jobs:
        running = job.state == "running"
        progress = f"{job.tasks_done}/{job.tasks_total}" if job.tasks_total else "-"
        # Text, not str: SQL such as "select '[red]'" is data, not rich markup.
        # A cancelled or timed-out query answers at once; its tasks stop a moment later.
        state = job.state if running or job.stopped else f"{job.state} (stopping)"
        table.add_row(Text(job.query_id), Text(state, style=_STATE_STYLES.get(job.state, "")),
                      Text(job.user or "-"), Text(format_duration(job.duration_seconds)),
                      Text("-" if running else str(job.rows)), Text(progress),
                      Text(_sql_preview(job.sql)))
    return table


def _summary(jobs: list[jobs_pb2.Job], running_only: bool) -> str:
    if not jobs:
        return "no running queries" if running_only else "no queries"
    counts: dict[str, int] = {}
    for job in jobs:
        counts[job.state] = counts.get(job.state, 0) + 1
    states = ", ".join(f"{n} {state}" for state, n in counts.items())
    return f"{len(jobs)} quer{'y' if len(jobs) == 1 else 'ies'}: {states}"


def run_jobs(args: argparse.Namespace) -> int:
    """``gpu-exec jobs``: print the scheduler's queries, and why the failed ones failed."""
    from rich.console import Console
    from rich.text import Text

    with _connect(args) as client:
        listing = client.listing(running_only=args.running)
    jobs = list(listing.jobs)
    console = Console()
    if jobs:
        console.print(jobs_table(jobs))
    for job in jobs:
        if job.state == "failed" and job.error:
            console.print(Text(f"{job.query_id} failed: {' '.join(job.error.split())}", style="red"))
    console.print(_summary(jobs, args.running), highlight=False)
    line = executors_line(listing.executors)
    if line:
        console.print(Text(line, style="red" if listing.executors == 0 else ""), highlight=False)
    return 0


def executors_line(executors: int) -> str:
    """What ``gpu-exec jobs`` says of the executors: how many are connected, or that none is."""
    if executors < 0:
        return ""  # a server without a cluster: its queries run in its own process
    if executors == 0:
        return ("no executors are connected: queries wait for one and fail after the scheduler's "
                "--executor-timeout (start one with `gpu-exec executor --scheduler ...`)")
    return f"{executors} executor{'s' * (executors != 1)} connected"


def run_cancel(args: argparse.Namespace) -> int:
    """``gpu-exec cancel``: ask a query to stop. Exit code 0 also when it had already ended (it is
    not running either way); 1 when the scheduler does not know the id."""
    with _connect(args) as client:
        response = client.cancel(args.query_id)
    if response.cancelled:
        print(f"cancel requested for {args.query_id}: it stops shortly")
    else:
        print(f"{args.query_id} already ended ({response.state}): nothing to cancel")
    return 0
