"""How the command line shows results and errors: rich tables of the first rows, one-line errors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa
    from rich.table import Table

__all__ = ["result_table", "result_summary", "describe"]


def _format_value(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return repr(value)
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


def result_table(result: pa.Table, max_rows: int) -> Table:
    """A rich table of the first ``max_rows`` rows, with each column's type under its name."""
    import pyarrow as pa
    from rich.table import Table
    from rich.text import Text

    table = Table()
    for f in result.schema:
        numeric = pa.types.is_integer(f.type) or pa.types.is_floating(f.type) \
            or pa.types.is_decimal(f.type)
        header = Text(f.name)
        header.append(f"\n{f.type}", style="dim")
        table.add_column(header, justify="right" if numeric else "left")
    columns = [c.to_pylist() for c in result.slice(0, max(max_rows, 0)).columns]
    for row in zip(*columns):
        # Text, not str: a value such as "[red]" is data, not rich markup.
        table.add_row(*(Text(_format_value(v)) for v in row))
    return table


def result_summary(result: pa.Table, max_rows: int, seconds: float) -> str:
    """``"123 rows in 0.042 s"``, saying when only the first rows were printed."""
    n = result.num_rows
    line = f"{n} row{'s' * (n != 1)} in {seconds:.3f} s"
    if n > max_rows:
        line += f" (first {max(max_rows, 0)} shown; --max-rows N to see more)"
    return line


def describe(exc: BaseException) -> str:
    """One line: the error's class and message, whitespace collapsed."""
    from planner.errors import GpuExecError, one_line

    line = one_line(exc)
    if not isinstance(exc, (GpuExecError, OSError, ValueError)):
        line += " (internal error; --debug shows the traceback)"
    return line
