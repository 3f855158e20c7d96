"""SQL scripts (several ';'-separated statements) run on gpu-exec and on DataFusion, the oracle.

Shared by ``gpu-exec tpch``, the tests' ``assert_matches_datafusion`` and the benchmark, so that all
three register tables, split statements and time queries the same way. A script's result is the
result of its last query statement (TPC-H q15 is ``CREATE VIEW; SELECT; DROP VIEW``).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Mapping, Protocol

if TYPE_CHECKING:
    import datafusion
    import pyarrow as pa

__all__ = [
    "TableRegistry",
    "ScriptResult",
    "ScriptStatement",
    "split_statements",
    "split_statements_with_lines",
    "is_query",
    "rows_written",
    "last_query",
    "table_format",
    "register_tables",
    "datafusion_context",
    "run_on_gpu_exec",
    "run_on_datafusion",
]


class TableRegistry(Protocol):
    """What both a gpu-exec session and a ``datafusion.SessionContext`` offer to register files."""

    def register_parquet(self, name: str, path: str) -> object: ...

    def register_csv(self, name: str, path: str) -> object: ...


@dataclass(frozen=True)
class ScriptResult:
    """The result of a script's last query, the seconds all statements took, and its plan."""

    table: pa.Table
    seconds: float
    explain: str | None = None


_SCRIPT_TOKEN = re.compile(
    r"""(?P<comment>--[^\n]*|/\*.*?\*/)
      | (?P<quoted>'(?:[^']|'')*'|"(?:[^"]|"")*")
      | (?P<end>;)
      | (?P<other>[^;'"/-]+|.)""",
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True)
class ScriptStatement:
    """One statement of a script, comments removed, and the 1-based line where its text starts."""

    text: str
    line: int


def split_statements_with_lines(sql: str) -> list[ScriptStatement]:
    """The non-empty statements of a script, comments removed, each with the line it starts on
    (for messages such as ``job.sql:12: ...``).

    Splits on ';' outside comments, string literals and quoted identifiers, and counts newlines
    (comments and literals included) so that each statement knows its line.
    """
    statements: list[ScriptStatement] = []
    current: list[str] = []
    start: int | None = None  # line of the current statement's first non-blank token
    line = 1
    for match in _SCRIPT_TOKEN.finditer(sql):
        token, kind = match.group(0), match.lastgroup
        if kind == "end":
            statements.append(ScriptStatement("".join(current).strip(), start or line))
            current, start = [], None
        elif kind == "comment":
            # A space, not nothing: "select 1/* c */from t" must not become "select 1from t".
            current.append(" ")
        else:
            if start is None and token.strip():
                start = line + token[: len(token) - len(token.lstrip())].count("\n")
            current.append(token)
        line += token.count("\n")
    statements.append(ScriptStatement("".join(current).strip(), start or line))
    return [s for s in statements if s.text]


def split_statements(sql: str) -> list[str]:
    """The non-empty statements of a script, comments removed (``split_statements_with_lines``
    without the lines: one tokenizer for both)."""
    return [s.text for s in split_statements_with_lines(sql)]


def is_query(statement: str) -> bool:
    """True for a statement that returns rows (SELECT, WITH, VALUES), False for DDL."""
    return re.match(r"(?is)[\s(]*(select|with|values)\b", statement) is not None


def rows_written(statement: str, result: pa.Table) -> int | None:
    """The rows a COPY / CREATE TABLE AS wrote: such statements return one row with one column,
    ``count`` (DataFusion's convention for statements that write); None for anything else."""
    if is_query(statement) or result.column_names != ["count"] or result.num_rows != 1:
        return None
    value = result.column(0)[0].as_py()
    return value if isinstance(value, int) else None


def last_query(sql: str) -> str:
    """The script's last query statement: the one whose result the script returns."""
    queries = [s for s in split_statements(sql) if is_query(s)]
    if not queries:
        raise _no_query(sql)
    return queries[-1]


def table_format(path: str | os.PathLike[str]) -> Literal["parquet", "csv"]:
    """"parquet" or "csv", from a file's suffix or from the files inside a directory.

    A path with a .parquet or .csv suffix is not checked here: the engine reports a missing file.

    Raises
    ------
    FileNotFoundError
        When a path without such a suffix does not exist.
    ValueError
        When the format cannot be told (no .parquet or .csv suffix, or a directory with neither).
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".parquet":
        return "parquet"
    if suffix == ".csv":
        return "csv"
    if not p.exists():
        raise FileNotFoundError(f"no such file or directory: {os.fspath(path)!r}")
    if p.is_dir() and any(p.rglob("*.parquet")):
        return "parquet"
    if p.is_dir() and any(p.rglob("*.csv")):
        return "csv"
    raise ValueError(f"cannot tell the format of {os.fspath(path)!r}: expected a .parquet or .csv "
                     "file, or a directory of them")


def register_tables(registry: TableRegistry, tables: Mapping[str, str | os.PathLike[str]]) -> None:
    """Register each ``name -> path`` as Parquet or CSV, by ``table_format``."""
    for name, path in tables.items():
        if table_format(path) == "parquet":
            registry.register_parquet(name, os.fspath(path))
        else:
            registry.register_csv(name, os.fspath(path))


def datafusion_context(tables: Mapping[str, str | os.PathLike[str]]) -> datafusion.SessionContext:
    """A plain DataFusion session over the same files: the oracle."""
    import datafusion

    ctx = datafusion.SessionContext()
    register_tables(ctx, tables)
    return ctx


def _no_query(sql: str) -> ValueError:
    return ValueError(f"the script has no query statement (SELECT/WITH/VALUES): {sql[:80]!r}")


def run_on_gpu_exec(session: object, sql: str, *, explain: bool = False) -> ScriptResult:
    """Run every statement of ``sql`` on a gpu-exec session; time them, keep the last query's result.

    The time covers planning, execution and collecting the whole result as Arrow; ``explain`` is
    taken outside the timing, right after the query ran (before a later DROP VIEW).
    """
    seconds = 0.0
    table: pa.Table | None = None
    plan: str | None = None
    for statement in split_statements(sql):
        start = time.perf_counter()
        df = session.sql(statement)  # type: ignore[attr-defined]
        result = df.to_arrow()
        seconds += time.perf_counter() - start
        if is_query(statement):
            table = result
            plan = df.explain() if explain else None
    if table is None:
        raise _no_query(sql)
    return ScriptResult(table, seconds, plan)


def run_on_datafusion(ctx: datafusion.SessionContext, sql: str) -> ScriptResult:
    """Run every statement of ``sql`` on DataFusion; time them, keep the last query's result."""
    seconds = 0.0
    table: pa.Table | None = None
    for statement in split_statements(sql):
        start = time.perf_counter()
        result = ctx.sql(statement).to_arrow_table()
        seconds += time.perf_counter() - start
        if is_query(statement):
            table = result
    if table is None:
        raise _no_query(sql)
    return ScriptResult(table, seconds)
