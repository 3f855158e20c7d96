"""``gpu-exec run``: run a file of SQL statements in order, stopping at the first that fails.

A batch job is a plain SQL script — CREATE EXTERNAL TABLE, queries, ``COPY (query) TO 'dir'``,
CTAS, views — run on one session: in this process, on a Dask cluster (``tcp://``) or through a
gpu-exec query service (``grpc://``). What the user sees:

- stderr: while a statement runs, a spinner with its number, its opening text and the elapsed
  time on a terminal, or one plain ``[k/N] line L: ...`` line when stderr is a log file (Slurm,
  Kubernetes);
- stdout: a line per finished statement with its rows and seconds, and the first rows of each
  result, so that stdout alone is the job's report;
- on failure, ``gpu-exec: error: job.sql:LINE: statement K of N failed: <error>`` on stderr and
  exit code 1; later statements are not run. Ctrl-C (or SIGTERM) cancels the running statement's
  query — in this process, on the cluster or on the server — and exits with 130 (143) within a
  few seconds (``run_interruptible``), even while the query sits in a kernel or in a blocking call
  to the server.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, TypeVar

from gpu_exec.api.sql_scripts import ScriptStatement, register_tables, rows_written, split_statements_with_lines
from planner.errors import GpuExecError

if TYPE_CHECKING:
    import pyarrow as pa
    from rich.console import Console

__all__ = [
    "JobFileError",
    "Terminated",
    "DASK_SCHEMES",
    "SERVICE_SCHEMES",
    "load_job",
    "open_session",
    "JobStatement",
    "JobDisplay",
    "run_statements",
    "terminate_as_interrupt",
    "run_interruptible",
    "CANCEL_GRACE_SECONDS",
]

T = TypeVar("T")

# How long an interrupted statement gets to wind down (its tasks stop at their next batch) before
# the command exits anyway.
CANCEL_GRACE_SECONDS = 5.0

# Addresses of a Dask scheduler (``gpu_exec.connect(cluster=...)``) and of a gpu-exec query
# service (``gpu_exec.connect(address)``, the remote Flight SQL session).
DASK_SCHEMES = ("tcp", "tls", "ucx")
SERVICE_SCHEMES = ("grpc", "grpc+tcp", "grpc+tls")

EXIT_FAILED = 1
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a job stopped by Ctrl-C
EXIT_TERMINATED = 143  # 128 + SIGTERM

_PREVIEW_WIDTH = 72


class JobFileError(GpuExecError):
    """The job file is missing, unreadable, not text, or holds no statement."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C's KeyboardInterrupt so that the same code cancels the running
    query (Slurm's and Kubernetes' way of stopping a job is SIGTERM, then SIGKILL)."""


@dataclass(frozen=True)
class JobStatement:
    """Statement ``index`` (1-based) of ``total`` in the job file ``source``."""

    index: int
    total: int
    source: str
    statement: ScriptStatement

    @property
    def label(self) -> str:
        return f"[{self.index}/{self.total}] line {self.statement.line}"

    @property
    def where(self) -> str:
        return f"{self.source}:{self.statement.line}"

    @property
    def preview(self) -> str:
        """The statement's start on one line, shortened: enough to recognize it in a progress
        line. Whitespace is collapsed rather than the text cut at its first newline, which for a
        statement written as "select\\n  a, b ..." would show only "select"."""
        text = " ".join(self.statement.text.split())
        if len(text) > _PREVIEW_WIDTH:
            return text[: _PREVIEW_WIDTH - 1] + "…"
        return text


def load_job(path: str) -> list[ScriptStatement]:
    """The statements of the job file ``path`` (``-``: standard input), each with its line.

    Raises
    ------
    JobFileError
        When the file is missing or unreadable, not UTF-8, or holds no statement (an empty job is
        more likely a wrong path or a botched edit than a job meant to do nothing).
    """
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise JobFileError(f"job file not found: {path}") from None
    except IsADirectoryError:
        raise JobFileError(f"the job file {path} is a directory") from None
    except OSError as exc:
        raise JobFileError(f"cannot read the job file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise JobFileError(f"the job file {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    statements = split_statements_with_lines(text)
    if not statements:
        raise JobFileError(f"the job file {path} holds no SQL statement")
    return statements


def open_session(cluster: str | None, *, device: str | None = None, partitions: int | None = None,
                 tables: Mapping[str, str] | None = None, token: str | None = None,
                 tls_ca: str | None = None) -> Any:
    """The session a job runs on, with ``tables`` registered.

    ``cluster`` None: in this process; ``tcp://HOST:8786``: a Dask scheduler with gpu-exec
    executors; ``grpc://HOST:50050`` / ``grpc+tls://``: a gpu-exec query service, whose own
    settings decide the device and the partitions, reached with ``token`` (default
    ``$GPU_EXEC_TOKEN``, as ``gpu-exec jobs``) and, for TLS, the CA certificates in ``tls_ca``.
    """
    import gpu_exec

    scheme = cluster.partition("://")[0].lower() if cluster and "://" in cluster else ""
    if scheme not in SERVICE_SCHEMES and (token is not None or tls_ca is not None):
        raise GpuExecError("--token and --tls-ca are for a gpu-exec query service (--cluster grpc://...)")
    options: dict[str, Any] = {"device": device, "partitions": partitions}
    if cluster is None:
        session = gpu_exec.connect(**options)
    elif scheme in DASK_SCHEMES:
        # Our own spinner shows progress; rich allows one live display at a time.
        session = gpu_exec.connect(cluster=cluster, progress="off", **options)
    elif scheme in SERVICE_SCHEMES:
        if device is not None or partitions is not None:
            raise GpuExecError(f"--device and --partitions configure a session in this process or on a "
                               f"Dask cluster; the service at {cluster} uses its own settings")
        credentials: dict[str, Any] = {}
        token = token if token is not None else os.environ.get("GPU_EXEC_TOKEN") or None
        if token is not None:
            credentials["token"] = token
        if tls_ca is not None:
            credentials["tls_root_certs"] = tls_ca
        session = gpu_exec.connect(cluster, **credentials)
    else:
        raise GpuExecError(f"--cluster {cluster!r}: expected tcp://HOST:PORT (a Dask scheduler with "
                           "gpu-exec executors) or grpc://HOST:PORT / grpc+tls://HOST:PORT "
                           "(a gpu-exec query service)")
    try:
        register_tables(session, dict(tables or {}))
    except BaseException:
        session.close()
        raise
    return session


class JobDisplay:
    """What a job shows while it runs; see the module docstring.

    ``out`` gets the finished statements and their rows, ``err`` the progress and the errors; a
    spinner is drawn only when ``err`` is a terminal.
    """

    def __init__(self, out: Console, err: Console, max_rows: int) -> None:
        self.out = out
        self.err = err
        self.max_rows = max_rows

    @contextlib.contextmanager
    def running(self, job: JobStatement) -> Iterator[None]:
        """Shown while ``job`` runs: a spinner, or one plain line."""
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
        from rich.text import Text

        if not self.err.is_terminal:
            self.err.print(Text(f"{job.label}: {job.preview}"), highlight=False, soft_wrap=True)
            yield
            return
        # transient: the spinner line vanishes when the statement ends, replaced by its result on
        # stdout. redirect_stdout=False: stdout is the report, it must not be drawn onto stderr.
        progress = Progress(SpinnerColumn(), TextColumn("{task.description}", markup=False),
                            TimeElapsedColumn(), console=self.err, transient=True, redirect_stdout=False)
        with progress:
            progress.add_task(f"{job.label}  {job.preview}")
            yield

    def finished(self, job: JobStatement, result: pa.Table, seconds: float) -> None:
        """A line for the statement, then the first rows of its result if it has rows to show:
        DDL returns no columns, COPY and CTAS only the count of rows they wrote; a query, SHOW
        TABLES or EXPLAIN return rows."""
        from rich.text import Text

        from gpu_exec.cli.display import result_table

        n = result.num_rows
        written = rows_written(job.statement.text, result)
        if written is not None:
            what = f"{written} row{'s' * (written != 1)} written"
        else:
            what = f"{n} row{'s' * (n != 1)}" if result.num_columns else "done"
        line = Text(f"{job.label}  {job.preview}  — ")
        line.append(f"{what} in {seconds:.3f} s", style="green")
        self.out.print(line, highlight=False, soft_wrap=True)
        if written is None and result.num_columns and self.max_rows > 0:
            self.out.print(result_table(result, self.max_rows))
            if n > self.max_rows:
                self.out.print(f"(first {self.max_rows} of {n} rows shown; --max-rows N to see more)",
                               style="dim", highlight=False)

    def stopped(self, job: JobStatement, outcome: str, seconds: float) -> None:
        """The statement failed or was cancelled: say so, and how many statements were not run."""
        from rich.text import Text

        later = job.total - job.index
        line = Text(f"{job.label}  {job.preview}  — ")
        line.append(f"{outcome} after {seconds:.3f} s", style="red")
        if later:
            line.append(f"; {later} later statement{'s' * (later != 1)} not run")
        self.err.print(line, highlight=False, soft_wrap=True)


def run_statements(session: Any, statements: list[ScriptStatement], *, source: str, display: JobDisplay,
                   describe: Callable[[BaseException], str], debug: bool = False) -> int:
    """Run ``statements`` in order on ``session``; stop at the first that fails.

    Returns the exit code: 0 when all ran, 1 when one failed, 130 (143) when interrupted by
    Ctrl-C (SIGTERM), after cancelling the running query.
    """
    for index, statement in enumerate(statements, 1):
        job = JobStatement(index, len(statements), source, statement)
        start = time.perf_counter()
        frames: list[Any] = []

        def run(text: str = statement.text) -> pa.Table:
            frames.append(session.sql(text))
            # Every statement is run to the end, DDL and COPY included: their DataFrames run
            # on to_arrow, like run_on_gpu_exec's (some DDL already ran in sql()).
            return frames[-1].to_arrow()

        try:
            with display.running(job):
                result = run_interruptible(run, lambda: _cancel_all(frames))
        except KeyboardInterrupt as exc:
            # In process the query stops at its next batch, on a cluster its tasks on every
            # executor, on a service through the server (run_interruptible cancelled it already
            # when the interrupt reached this thread; once more is harmless).
            _cancel_all(frames)
            display.stopped(job, "cancelled", time.perf_counter() - start)
            print(f"gpu-exec: interrupted: {job.where}: statement {index} of {job.total} cancelled",
                  file=sys.stderr, flush=True)
            return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED
        except Exception as exc:  # any error stops the job: one line, or the traceback with --debug
            display.stopped(job, "failed", time.perf_counter() - start)
            if debug:
                traceback.print_exc()
            print(f"gpu-exec: error: {job.where}: statement {index} of {job.total} failed: {describe(exc)}",
                  file=sys.stderr, flush=True)
            return EXIT_FAILED
        display.finished(job, result, time.perf_counter() - start)
    return 0


def _cancel_all(frames: list[Any]) -> None:
    for frame in frames:
        _cancel(frame)


def _cancel(frame: Any) -> None:
    cancel = getattr(frame, "cancel", None)
    if cancel is None:
        return
    try:
        cancel()
    except Exception:  # noqa: BLE001 — the query is being abandoned; its own error is not the news
        pass


def run_interruptible(run: Callable[[], T], cancel: Callable[[], object],
                      grace: float = CANCEL_GRACE_SECONDS) -> T:
    """``run()`` on a daemon thread, waited for by the calling (main) thread, which Ctrl-C and
    SIGTERM reach at once even while the query is inside a kernel or a blocking call to a server.
    On KeyboardInterrupt, ``cancel()`` stops the query — its tasks on the cluster, its statement
    on the server — and the thread gets ``grace`` seconds to wind down before the interrupt is
    raised again (the command then exits; see gpu_exec.cli.main, which does not wait for threads
    still inside a kernel)."""
    done = threading.Event()
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = run()
        except BaseException as exc:  # noqa: BLE001 — handed to the waiting thread
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=target, name="gpu-exec-statement", daemon=True).start()
    try:
        done.wait()
    except KeyboardInterrupt:
        try:
            cancel()
        except Exception:  # noqa: BLE001 — the query is being abandoned; its own error is not the news
            pass
        done.wait(grace)
        raise
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises ``Terminated`` (a KeyboardInterrupt) in the main thread,
    so a job stopped by its scheduler cancels its query rather than leaving it on the cluster."""

    def raise_terminated(signum: int, frame: object) -> None:
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, raise_terminated)
    except ValueError:  # not the main thread: signals can't be handled here
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
