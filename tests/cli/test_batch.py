"""``gpu-exec run``: a file of SQL statements run in order, as a user runs it (a subprocess), and
the pieces behind it: line-aware statement splitting, stopping and cancelling, the display."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rich.console import Console

from gpu_exec.cli.batch import JobDisplay, Terminated, load_job, run_statements, terminate_as_interrupt
from gpu_exec.testing.compare import compare_tables
from gpu_exec.api.sql_scripts import (ScriptStatement, datafusion_context, split_statements,
                                  split_statements_with_lines)


def run_job(job: Path | str, *args: str, stdin: str | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``gpu-exec run JOB ARGS`` in a subprocess, with a wide terminal width for rich."""
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "gpu_exec.cli.main", "run", str(job), *args],
                          capture_output=True, text=True, env=env, timeout=timeout, input=stdin)


def write_job(folder: Path, text: str, name: str = "job.sql") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def line_of(job: Path, fragment: str) -> int:
    """The 1-based line of ``job`` holding ``fragment``."""
    return next(i for i, line in enumerate(job.read_text().splitlines(), 1) if fragment in line)


def datafusion_result(sql: str, tables: dict[str, str]) -> pa.Table:
    return datafusion_context(tables).sql(sql).to_arrow_table()


# ---- statement splitting -----------------------------------------------------------------------


def test_statements_know_their_first_line() -> None:
    script = textwrap.dedent("""\
        -- header comment; with a semicolon
        create view v as select ';' as x;  -- trailing; comment

        /* a block comment
           spanning ; lines */ select
          'it''s; here' as s, "a;b" from v;
        ;;
        drop view v""")
    statements = split_statements_with_lines(script)
    assert statements == [
        ScriptStatement("create view v as select ';' as x", 2),
        ScriptStatement("select\n  'it''s; here' as s, \"a;b\" from v", 5),
        ScriptStatement("drop view v", 8),
    ]
    # one tokenizer: the plain split is the same statements
    assert split_statements(script) == [s.text for s in statements]


def test_a_block_comment_separates_tokens() -> None:
    assert split_statements("select 1/* c */from t") == ["select 1 from t"]


def test_line_numbers_count_newlines_inside_literals() -> None:
    statements = split_statements_with_lines("select 'a\nb\nc';\n\n  select 2")
    assert [s.line for s in statements] == [1, 5]


# ---- a whole job, end to end -------------------------------------------------------------------


@pytest.fixture(scope="module")
def dask_scheduler() -> Iterator[str]:
    """A local Dask cluster for ``--cluster tcp://...``: two worker processes."""
    from scheduler.cluster import start_local_cluster

    cluster = start_local_cluster(workers=2, threads=1, gpu=False)
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


REVENUE = ("select l_returnflag, l_linestatus, sum(l_quantity) as qty, count(*) as n "
           "from lineitem group by l_returnflag, l_linestatus")
BIG_ORDERS = ("select o_orderkey, o_custkey, o_totalprice, o_orderdate from orders "
              "where o_totalprice > 400000")


@pytest.mark.parametrize("where", ["in-process", "dask"])
def test_a_job_creates_tables_queries_and_writes_parquet(
    where: str, tpch_data: dict[str, str], tmp_path: Path, request: pytest.FixtureRequest,
) -> None:
    out = tmp_path / "out"
    job = write_job(tmp_path, f"""
        -- TPC-H tables, registered by the job itself
        CREATE EXTERNAL TABLE lineitem STORED AS PARQUET LOCATION '{tpch_data["lineitem"]}';
        CREATE EXTERNAL TABLE orders STORED AS PARQUET
          LOCATION '{tpch_data["orders"]}';

        {REVENUE} order by l_returnflag, l_linestatus;
        COPY ({REVENUE}) TO '{out / "revenue"}' (FORMAT parquet);
        COPY ({BIG_ORDERS}) TO '{out / "big_orders"}' (FORMAT parquet);
        select count(*) as big from orders where o_totalprice > 400000;
        """)
    args = ["--partitions", "3", "--device", os.environ.get("GPU_EXEC_TEST_DEVICE", "cpu")]
    if where == "dask":
        args += ["--cluster", request.getfixturevalue("dask_scheduler")]
    done = run_job(job, *args)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    tables = {"lineitem": tpch_data["lineitem"], "orders": tpch_data["orders"]}
    expected_big = datafusion_result(BIG_ORDERS, tables)
    # one line per finished statement on stdout, with its line in the job file
    for index, fragment in enumerate(["lineitem STORED", "orders STORED", "order by l_returnflag",
                                      "revenue", "big_orders", "as big"], 1):
        assert f"[{index}/6] line {line_of(job, fragment)} " in done.stdout
    assert "4 rows in" in done.stdout  # the query's four (returnflag, linestatus) groups
    # COPY says how many rows it wrote, instead of printing its one-row `count` result
    assert "— 4 rows written in" in done.stdout
    assert f"— {expected_big.num_rows} rows written in" in done.stdout
    last_table = done.stdout.split("[6/6]")[1]
    assert re.search(rf"│\s*{expected_big.num_rows}\s*│", last_table)
    # the files COPY wrote hold the query's rows
    for name, sql in (("revenue", REVENUE), ("big_orders", BIG_ORDERS)):
        written = pq.read_table(out / name)
        differences = compare_tables(written, datafusion_result(sql, tables), ordered=False)
        assert not differences, f"{name}: {differences}"


def test_a_failing_statement_stops_the_job(tpch_data: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "never"
    job = write_job(tmp_path, f"""
        select count(*) from nation;
        -- the next one names a column that does not exist
        select n_name,
               n_nope
        from nation;
        COPY (select * from nation) TO '{out}' (FORMAT parquet);
        select 1;
        """)
    done = run_job(job, "--table", f"nation={tpch_data['nation']}")
    assert done.returncode == 1
    line = line_of(job, "select n_name")
    error = done.stderr.strip().splitlines()[-1]
    assert error.startswith(f"gpu-exec: error: {job}:{line}: statement 2 of 4 failed: SQLError: ")
    assert "n_nope" in error
    assert "2 later statements not run" in done.stderr
    assert "Traceback" not in done.stderr
    assert "[1/4]" in done.stdout and "[2/4]" not in done.stdout and "[3/4]" not in done.stdout
    assert not out.exists()  # the COPY after the failure never ran


def test_comments_and_semicolons_inside_strings(tmp_path: Path) -> None:
    job = write_job(tmp_path, """
        /* a job; with comments */
        select 'a;b' as semi, 'it''s -- not a comment' as quote;  -- trailing; comment
        -- select 'this statement is commented out';
        select "x;y" from (select 1 as "x;y") t
        """)
    done = run_job(job)
    assert done.returncode == 0, done.stderr
    assert "a;b" in done.stdout and "it's -- not a comment" in done.stdout
    assert "[1/2] line 2 " in done.stdout and "[2/2] line 4 " in done.stdout
    assert "commented out" not in done.stdout


def test_missing_job_file_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.sql"
    done = run_job(missing)
    assert done.returncode == 1
    assert done.stderr.strip() == f"gpu-exec: error: JobFileError: job file not found: {missing}"


def test_a_job_without_statements_is_an_error(tmp_path: Path) -> None:
    done = run_job(write_job(tmp_path, "-- nothing but a comment;\n;\n"))
    assert done.returncode == 1 and "holds no SQL statement" in done.stderr


def test_job_from_standard_input_and_max_rows(tpch_data: dict[str, str]) -> None:
    done = run_job("-", "-t", f"nation={tpch_data['nation']}", "--max-rows", "2",
                   stdin="select n_nationkey from nation order by n_nationkey;\n")
    assert done.returncode == 0, done.stderr
    rows = [line.strip("│ ") for line in done.stdout.splitlines() if line.startswith("│")]
    assert rows == ["0", "1"]
    assert "25 rows in" in done.stdout and "first 2 of 25 rows shown" in done.stdout


def test_progress_lines_go_to_stderr_when_it_is_not_a_terminal(tmp_path: Path) -> None:
    done = run_job(write_job(tmp_path, "select 1;\nselect 2;\n"))
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines.index("[1/2] line 1: select 1") < lines.index("[2/2] line 2: select 2")
    assert "\x1b[" not in done.stderr  # no spinner, no colours


@pytest.mark.parametrize("address", ["grpc+unix:///tmp/x", "localhost:8786"])
def test_unknown_cluster_address_is_an_error(tmp_path: Path, address: str) -> None:
    done = run_job(write_job(tmp_path, "select 1"), "--cluster", address)
    assert done.returncode == 1 and "expected tcp://HOST:PORT" in done.stderr


def test_device_is_refused_for_a_query_service(tmp_path: Path) -> None:
    done = run_job(write_job(tmp_path, "select 1"), "--cluster", "grpc://localhost:1", "--device", "cpu")
    assert done.returncode == 1 and "uses its own settings" in done.stderr


# ---- stopping: errors, Ctrl-C, SIGTERM (a fake session, no engine) ------------------------------


class FakeFrame:
    def __init__(self, outcome: BaseException | None) -> None:
        self.outcome = outcome
        self.cancelled = False

    def to_arrow(self) -> pa.Table:
        if self.outcome is not None:
            raise self.outcome
        return pa.table({"x": [1]})

    def cancel(self) -> None:
        self.cancelled = True


class FakeSession:
    """Runs statements by their text: "boom" raises an error, "ctrl-c" a KeyboardInterrupt,
    "sigterm" Terminated; the rest return one row."""

    def __init__(self) -> None:
        self.ran: list[str] = []
        self.frames: list[FakeFrame] = []

    def sql(self, text: str) -> FakeFrame:
        self.ran.append(text)
        outcome = {"boom": RuntimeError("boom\n  happened"), "ctrl-c": KeyboardInterrupt(),
                   "sigterm": Terminated()}.get(text)
        self.frames.append(FakeFrame(outcome))
        return self.frames[-1]


def _run_fake(script: str, *, terminal: bool = False) -> tuple[int, FakeSession, str, str]:
    session = FakeSession()
    out, err = io.StringIO(), io.StringIO()
    display = JobDisplay(Console(file=out, width=120, force_terminal=terminal),
                         Console(file=err, width=120, force_terminal=terminal), max_rows=10)
    code = run_statements(session, split_statements_with_lines(script), source="j.sql", display=display,
                          describe=lambda exc: f"{type(exc).__name__}: {' '.join(str(exc).split())}")
    return code, session, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(("stop", "code"), [("ctrl-c", 130), ("sigterm", 143)])
def test_an_interrupt_cancels_the_query_and_stops(stop: str, code: int, capsys: pytest.CaptureFixture[str]) -> None:
    exit_code, session, _, err = _run_fake(f"one;\n{stop};\nthree;\nfour")
    assert exit_code == code
    assert session.ran == ["one", stop]  # nothing after the interrupted statement
    assert session.frames[-1].cancelled
    assert "cancelled after" in err and "2 later statements not run" in err
    assert capsys.readouterr().err.strip() == "gpu-exec: interrupted: j.sql:2: statement 2 of 4 cancelled"


def test_an_error_stops_the_job_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    exit_code, session, out, _ = _run_fake("one;\n\n  boom;\nthree")
    assert exit_code == 1 and session.ran == ["one", "boom"]
    assert capsys.readouterr().err.strip() == \
        "gpu-exec: error: j.sql:3: statement 2 of 3 failed: RuntimeError: boom happened"
    assert "[1/3] line 1  one" in out


def test_the_live_display_on_a_terminal_leaves_only_the_results() -> None:
    exit_code, _, out, err = _run_fake("one;\ntwo", terminal=True)
    assert exit_code == 0
    assert "[1/2] line 1  one" in out and "[2/2] line 2  two" in out
    assert "[1/2] line 1:" not in err  # no plain progress lines: the spinner was drawn instead


def test_sigterm_raises_terminated_inside_the_block() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated), terminate_as_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises as soon as the signal arrives
    assert signal.getsignal(signal.SIGTERM) == before


def test_load_job_reports_a_directory_and_binary_file(tmp_path: Path) -> None:
    from gpu_exec.cli.batch import JobFileError

    with pytest.raises(JobFileError, match="is a directory"):
        load_job(str(tmp_path))
    binary = tmp_path / "job.sql"
    binary.write_bytes(b"select 1;\xff\xfe")
    with pytest.raises(JobFileError, match="not UTF-8"):
        load_job(str(binary))
