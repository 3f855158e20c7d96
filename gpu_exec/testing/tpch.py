"""The TPC-H kit: generate the data, the 22 queries, run one and check it, where its operators ran.

The query files ship with the package (``gpu_exec/testing/tpch_queries/q01.sql`` .. ``q22.sql``, the
validation parameters of the TPC-H specification). ``--check`` compares every result with
DataFusion's on the same files and, at SF1, with the official answer files.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
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

__all__ = [
    "TABLES",
    "QUERY_NUMBERS",
    "default_data_dir",
    "query_sql",
    "parse_query_numbers",
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
    from gpu_exec.testing.tools import find_tool

    return find_tool("tpchgen-cli", "pip install 'tpchgen-cli>=4'")


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
