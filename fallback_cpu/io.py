"""Reading Parquet, writing CSV/Parquet, and Arrow tables in and out of the CPU backend."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from fallback_cpu.columns import make_table
from planner.errors import CatalogError, ExecutionError

if TYPE_CHECKING:
    from planner.ir import FileFormat


def read_parquet(
    path: str, columns: Sequence[str], row_groups: Sequence[int] | None, schema: pa.Schema, use_threads: bool
) -> pa.Table:
    try:
        pf = pq.ParquetFile(path)
        if row_groups is None:
            table = pf.read(columns=list(columns), use_threads=use_threads)
        else:
            table = pf.read_row_groups(
                list(row_groups), columns=list(columns), use_threads=use_threads
            )
        read = [table.column(name) for name in columns]
    except (OSError, pa.ArrowException, KeyError, ValueError) as exc:
        raise CatalogError(f"cannot read Parquet file {path!r}: {exc}") from exc
    if not read:
        return make_table([], schema, table.num_rows)
    # Parquet strings arrive as string_view (or dictionary-encoded), decimals at the file's
    # width: cast to the planned types.
    arrays = [col if col.type == f.type else col.cast(f.type) for col, f in zip(read, schema)]
    return pa.Table.from_arrays(arrays, schema=schema)


def write_file(table: pa.Table, schema: pa.Schema, path: str, file_format: FileFormat) -> None:
    data = to_arrow(table, schema)
    try:
        if file_format.kind == "csv":
            options = pacsv.WriteOptions(include_header=file_format.has_header, delimiter=file_format.delimiter)
            pacsv.write_csv(data, path, write_options=options)
        else:
            pq.write_table(data, path, compression=file_format.compression or "snappy",
                           compression_level=file_format.compression_level,
                           row_group_size=file_format.row_group_size)
    except (OSError, pa.ArrowException) as exc:
        raise ExecutionError(f"cannot write {file_format.kind} file {path!r}: {exc}") from exc


def to_arrow(table: pa.Table, schema: pa.Schema) -> pa.Table:
    if table.schema == schema:
        return table
    if table.num_columns != len(schema):
        raise ValueError(f"table has {table.num_columns} columns, schema {len(schema)}")
    if not len(schema):
        return make_table([], schema, table.num_rows)
    arrays = [c if c.type == f.type else c.cast(f.type) for c, f in zip(table.columns, schema)]
    return pa.Table.from_arrays(arrays, schema=schema)


def concat(tables: Sequence[pa.Table], schema: pa.Schema) -> pa.Table:
    if not tables:
        return schema.empty_table()
    if not len(schema):
        return make_table([], schema, sum(t.num_rows for t in tables))
    return pa.concat_tables([to_arrow(t, schema) for t in tables])
