"""``gpu-exec tpch``: generate TPC-H data, run the 22 queries, show times and where operators ran.

The query files ship with the package (``gpu_exec/testing/tpch_queries/q01.sql`` .. ``q22.sql``, the
validation parameters of the TPC-H specification). ``--check`` compares every result with
DataFusion's on the same files and, at SF1, with the official answer files.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import traceback
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from planner.errors import one_line

if TYPE_CHECKING:
    import datafusion
    import pyarrow as pa
    from rich.console import Console
    from rich.table import Table

__all__ = [
    "TABLES",
    "QUERY_NUMBERS",
    "default_data_dir",
    "query_sql",
    "parse_query_numbers",
    "query_numbers_argument",
    "table_paths",
    "missing_tables",
    "tpchgen_executable",
    "ensure_data",
    "Placement",
    "parse_placement",
    "placement_summary",
    "QueryOutcome",
    "check_result",
    "run_query",
    "add_arguments",
    "run",
]

TABLES = ("lineitem", "orders", "customer", "part", "partsupp", "supplier", "nation", "region")
QUERY_NUMBERS = tuple(range(1, 23))


def default_data_dir(sf: float) -> Path:
    """``./data/tpch-sf{sf}``, e.g. ``data/tpch-sf0.1``, ``data/tpch-sf1``."""
    return Path("data") / f"tpch-sf{sf:g}"


def query_sql(number: int) -> str:
    """The text of TPC-H query ``number`` (1..22), as shipped in the package."""
    if number not in QUERY_NUMBERS:
        raise ValueError(f"TPC-H has queries 1 to 22, not {number}")
    return (resources.files("gpu_exec.testing") / "tpch_queries" / f"q{number:02d}.sql").read_text()


def parse_query_numbers(text: str) -> list[int]:
    """``"1,5,15"`` -> ``[1, 5, 15]``; ranges such as ``"1-5"`` too."""
    numbers: list[int] = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        low, _, high = item.partition("-")
        try:
            span = range(int(low), int(high or low) + 1)
        except ValueError:
            raise ValueError(f"not a query number or range: {item!r}") from None
        for n in span:
            if n not in QUERY_NUMBERS:
                raise ValueError(f"TPC-H has queries 1 to 22, not {n}")
            numbers.append(n)
    return numbers


# ---- data --------------------------------------------------------------------------------------


def _table_path(data_dir: Path, table: str) -> Path | None:
    # tpchgen-cli writes <table>.parquet, or a <table>/ directory of parts with --parts
    for candidate in (data_dir / f"{table}.parquet", data_dir / table):
        if candidate.exists():
            return candidate
    return None


def missing_tables(data_dir: str | os.PathLike[str]) -> list[str]:
    """The TPC-H tables with neither ``<table>.parquet`` nor ``<table>/`` in ``data_dir``."""
    return [t for t in TABLES if _table_path(Path(data_dir), t) is None]


def table_paths(data_dir: str | os.PathLike[str]) -> dict[str, str]:
    """``{table: path}`` for the 8 tables in ``data_dir``; FileNotFoundError names any missing."""
    missing = missing_tables(data_dir)
    if missing:
        raise FileNotFoundError(f"{os.fspath(data_dir)!r} lacks TPC-H tables: {', '.join(missing)}")
    return {t: str(_table_path(Path(data_dir), t)) for t in TABLES}


def tpchgen_executable() -> str:
    """tpchgen-cli next to this Python first (the project's virtualenv), then on PATH."""
    beside = Path(sys.executable).parent / "tpchgen-cli"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("tpchgen-cli")
    if found is None:
        raise FileNotFoundError("tpchgen-cli not found: install it with `pip install 'tpchgen-cli>=4'`")
    return found


def ensure_data(sf: float, data_dir: str | os.PathLike[str]) -> dict[str, str]:
    """The 8 tables' paths in ``data_dir``, generating them with tpchgen-cli if any is missing.

    Generation writes into a temporary directory beside ``data_dir`` and moves the files in only
    when tpchgen-cli succeeded, so an interrupted run never leaves a truncated table to be reused.
    """
    data = Path(data_dir)
    if not missing_tables(data):
        return table_paths(data)
    data.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".tpchgen-", dir=data.parent) as scratch:
        command = [tpchgen_executable(), "parquet", "-s", f"{sf:g}", "-o", scratch, "--no-progress"]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()}")
        for entry in Path(scratch).iterdir():
            target = data / entry.name
            if target.is_dir():
                shutil.rmtree(target)
            os.replace(entry, target)
    return table_paths(data)


# ---- one query ---------------------------------------------------------------------------------

# Every operator line of df.explain() ends with " @gpu", " @cpu" or " @cpu: <reason>".
_PLACEMENT = re.compile(r"\s@(?P<device>gpu|cpu)(?::\s*(?P<reason>.*?))?\s*$")


@dataclass(frozen=True)
class Placement:
    """How many operators of a plan run on each device, and why some run on the CPU."""

    gpu: int = 0
    cpu: int = 0
    reasons: tuple[str, ...] = ()  # distinct, in plan order

    def __add__(self, other: Placement) -> Placement:
        return Placement(self.gpu + other.gpu, self.cpu + other.cpu,
                         tuple(dict.fromkeys(self.reasons + other.reasons)))

    def __str__(self) -> str:
        why = f" ({'; '.join(self.reasons)})" if self.reasons else ""
        if self.gpu + self.cpu == 0:
            return "unknown (no operator lines in explain)"
        if self.gpu == 0:
            return f"cpu {self.cpu}/{self.cpu}{why}"
        if self.cpu == 0:
            return f"gpu {self.gpu}/{self.gpu}"
        return f"gpu {self.gpu}, cpu {self.cpu}{why}"


def parse_placement(plan: str) -> Placement:
    """Count the ``@gpu`` / ``@cpu`` operator lines of an explain text and collect the reasons."""
    counts = {"gpu": 0, "cpu": 0}
    reasons: dict[str, None] = {}
    for line in plan.splitlines():
        match = _PLACEMENT.search(line)
        if match is None:
            continue
        counts[match["device"]] += 1
        if match["reason"]:
            reasons[match["reason"]] = None
    return Placement(counts["gpu"], counts["cpu"], tuple(reasons))


def placement_summary(plan: str) -> str:
    """Where a plan's operators run, from its explain text: ``"cpu 14/14 (no GPU)"``,
    ``"gpu 14/14"`` or ``"gpu 12, cpu 2 (reason; other reason)"``."""
    return str(parse_placement(plan))


@dataclass
class QueryOutcome:
    """What ``gpu-exec tpch`` reports for one query."""

    number: int
    rows: int | None = None
    seconds: float | None = None
    placement: Placement = field(default_factory=Placement)
    error: str | None = None  # the query failed to run
    problems: list[str] = field(default_factory=list)  # differences found by --check
    checked: list[str] = field(default_factory=list)  # what it was checked against

    @property
    def name(self) -> str:
        return f"q{self.number:02d}"

    @property
    def ok(self) -> bool:
        return self.error is None and not self.problems


def check_result(
    number: int,
    actual: pa.Table,
    *,
    expected: pa.Table | None = None,
    answers_dir: Path | None = None,
) -> list[str]:
    """Differences of query ``number``'s result from DataFusion's (``expected``) and from the
    answer file in ``answers_dir``, each line saying which; empty when both agree."""
    from gpu_exec.testing.compare import compare_tables, compare_with_answer, query_is_ordered
    from gpu_exec.api.sql_scripts import last_query

    problems = []
    if expected is not None:
        ordered = query_is_ordered(last_query(query_sql(number)))
        problems += [f"vs DataFusion: {d}" for d in compare_tables(actual, expected, ordered)]
    if answers_dir is not None:
        answer = answers_dir / f"q{number:02d}.out"
        problems += [f"vs {answer}: {d}" for d in compare_with_answer(actual, answer)]
    return problems


def run_query(
    session: object,
    number: int,
    *,
    oracle: datafusion.SessionContext | None = None,
    answers_dir: Path | None = None,
    debug: bool = False,
) -> QueryOutcome:
    """Run TPC-H query ``number`` on ``session``; compare with ``oracle`` and the answer file
    when given. Never raises for a failing query: the failure is in the outcome."""
    from gpu_exec.api.sql_scripts import run_on_datafusion, run_on_gpu_exec

    outcome = QueryOutcome(number)
    sql = query_sql(number)
    try:
        result = run_on_gpu_exec(session, sql, explain=True)
    except Exception as exc:  # a failing query is reported, the others still run
        outcome.error = traceback.format_exc() if debug else one_line(exc)
        return outcome
    outcome.rows, outcome.seconds = result.table.num_rows, result.seconds
    outcome.placement = parse_placement(result.explain or "")
    expected = None
    if oracle is not None:
        try:
            expected = run_on_datafusion(oracle, sql).table
            outcome.checked.append("DataFusion")
        except Exception as exc:
            outcome.problems.append(f"DataFusion failed: {one_line(exc)}")
    if answers_dir is not None:
        outcome.checked.append("answer")
    outcome.problems += check_result(number, result.table, expected=expected,
                                     answers_dir=answers_dir)
    return outcome


# ---- the command -------------------------------------------------------------------------------


def query_numbers_argument(text: str) -> list[int]:
    """``parse_query_numbers`` as an argparse ``type``: a bad list is a usage error."""
    try:
        return parse_query_numbers(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``gpu-exec tpch``."""
    parser.add_argument("--sf", type=float, default=0.1, help="scale factor (default 0.1)")
    parser.add_argument("--data", type=Path, help="TPC-H Parquet directory, generated if it lacks "
                        "a table (default ./data/tpch-sf{sf})")
    parser.add_argument("--partitions", type=int, help="partitions per stage (default: the engine's)")
    parser.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto")
    parser.add_argument("--queries", type=query_numbers_argument, default=list(QUERY_NUMBERS),
                        metavar="LIST", help="e.g. 1,5,15 or 1-6 (default: all 22)")
    parser.add_argument("--check", action="store_true",
                        help="compare every result with DataFusion's on the same files")
    parser.add_argument("--answers", type=Path, metavar="DIR",
                        help="with --check at SF 1: also compare with the TPC-H answer files "
                        "q01.out..q22.out in DIR")


def _answers_dir(args: argparse.Namespace, err: Console) -> Path | None:
    if args.answers is None:
        return None
    if not args.check:
        raise ValueError("--answers is used by --check: add --check")
    if args.sf != 1:
        err.print(f"[yellow]note:[/] the answer files are for SF 1; not compared at SF {args.sf:g}")
        return None
    answers: Path = args.answers
    if not answers.is_dir():
        raise FileNotFoundError(f"answer directory not found: {os.fspath(answers)!r}")
    return answers


def _run_all(session: object, args: argparse.Namespace, oracle: datafusion.SessionContext | None,
             answers: Path | None, err: Console) -> list[QueryOutcome]:
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn,
                               TextColumn, TimeElapsedColumn)

    outcomes = []
    columns = (SpinnerColumn(), TextColumn("TPC-H {task.description}"), BarColumn(),
               MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("", total=len(args.queries))
        for number in args.queries:
            progress.update(task, description=f"q{number:02d}")
            outcomes.append(run_query(session, number, oracle=oracle, answers_dir=answers,
                                      debug=args.debug))
            progress.advance(task)
    return outcomes


def _check_cell(outcome: QueryOutcome) -> str:
    if outcome.error is not None:
        return "[red]FAILED[/]"
    if outcome.problems:
        return "[red]MISMATCH[/]"
    return "[green]ok[/] (" + ", ".join(outcome.checked) + ")"


def _results_table(outcomes: list[QueryOutcome], title: str, check: bool) -> Table:
    from rich.table import Table

    table = Table(title=title, show_footer=True)
    ran = [o for o in outcomes if o.error is None]
    total_placement = sum((o.placement for o in ran), Placement())
    table.add_column("query", footer="total")
    table.add_column("rows", justify="right", footer=str(sum(o.rows or 0 for o in ran)))
    table.add_column("seconds", justify="right",
                     footer=f"{sum(o.seconds or 0.0 for o in ran):.3f}")
    table.add_column("operators", footer=str(total_placement) if ran else "")
    if check:
        passed = sum(o.ok for o in outcomes)
        table.add_column("check", footer=f"{passed}/{len(outcomes)} ok")
    for o in outcomes:
        if o.error is not None:
            cells = [o.name, "-", "-", "[red]failed[/]"]
        else:
            cells = [o.name, str(o.rows), f"{o.seconds:.3f}", str(o.placement)]
        table.add_row(*cells, *([_check_cell(o)] if check else []))
    return table


def _report_failures(outcomes: list[QueryOutcome], err: Console) -> int:
    from rich.markup import escape

    bad = [o for o in outcomes if not o.ok]
    for o in bad:
        if o.error is not None:
            err.print(f"[red]{o.name} FAILED:[/] {escape(o.error)}", highlight=False)
        else:
            err.print(f"[red]{o.name} MISMATCH:[/]")
            for problem in o.problems:
                err.print(f"  {escape(problem)}", highlight=False)
    if bad:
        err.print(f"[red]{len(bad)} of {len(outcomes)} queries failed:[/] "
                  + ", ".join(o.name for o in bad))
        return 1
    return 0


def run(args: argparse.Namespace) -> int:
    """Run ``gpu-exec tpch``; the exit code is 1 when a query fails or (with --check) mismatches."""
    from rich.console import Console

    import gpu_exec
    from gpu_exec.api.sql_scripts import datafusion_context, register_tables

    out, err = Console(), Console(stderr=True)
    data = args.data if args.data is not None else default_data_dir(args.sf)
    answers = _answers_dir(args, err)
    if missing_tables(data):
        err.print(f"generating TPC-H SF {args.sf:g} Parquet into {data} with tpchgen-cli ...")
    tables = ensure_data(args.sf, data)

    options: dict[str, object] = {"device": args.device, "fallback": "silent"}
    if args.partitions is not None:
        options["partitions"] = args.partitions
    # fallback="silent": the table shows, per query, which operators ran on the CPU and why.
    session = gpu_exec.connect(**options)
    try:
        register_tables(session, tables)
        oracle = datafusion_context(tables) if args.check else None
        outcomes = _run_all(session, args, oracle, answers, err)
    finally:
        session.close()

    partitions = args.partitions if args.partitions is not None else "default"
    title = f"TPC-H SF {args.sf:g} on gpu-exec (device={args.device}, partitions={partitions})"
    out.print(_results_table(outcomes, title, args.check))
    return _report_failures(outcomes, err)
