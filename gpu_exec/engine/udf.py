"""Running a Python scalar UDF (planner.udf) on a batch: its arguments as Arrow arrays in, one
Arrow array out, checked — a UDF that raises, returns too few values or a type that cannot be
its declared one fails the query with an ExecutionError naming the UDF and the batch."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from planner.errors import ExecutionError

if TYPE_CHECKING:
    from planner.udf import PythonUdf

__all__ = ["call_udf"]


def call_udf(udf: PythonUdf, args: pa.Table, num_rows: int, dtype: pa.DataType) -> pa.Array:
    """``udf.func`` over the columns of ``args`` (``num_rows`` rows), as an Array of ``dtype``."""
    arrays = [column.combine_chunks() for column in args.columns]
    where = f"Python UDF {udf.name}() on a batch of {num_rows} rows"
    try:
        result = udf.func(*arrays)
    except Exception as exc:  # noqa: BLE001 — any error of user code fails the query, named
        raise ExecutionError(f"{where} raised {type(exc).__name__}: {exc}") from exc
    if isinstance(result, pa.ChunkedArray):
        result = result.combine_chunks()
    if not isinstance(result, pa.Array):
        try:
            result = pa.array(result, type=dtype)
        except (TypeError, ValueError, pa.ArrowException) as exc:
            raise ExecutionError(f"{where} returned a {type(result).__name__}, not a pyarrow.Array "
                                 f"of {dtype}: {exc}") from exc
    if len(result) != num_rows:
        raise ExecutionError(f"{where} returned {len(result)} values; it must return one per row")
    if result.type != dtype:
        try:
            result = result.cast(dtype)
        except (pa.ArrowException, ValueError) as exc:
            raise ExecutionError(f"{where} returned {result.type}, which is not its declared return type "
                                 f"{dtype}: {exc}") from exc
    return result
