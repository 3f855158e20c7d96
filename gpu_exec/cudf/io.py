"""Parquet in and out of the device, and the table-building kernels (make_table, concat, slice)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import pyarrow as pa

from gpu_exec.cudf.cast import _cast
from gpu_exec.cudf.columns import CudfColumn, CudfTable, _kernel
from gpu_exec.cudf.host import _cpu_kernels, _download, _empty
from gpu_exec.cudf.types import _device_type
from planner.errors import CatalogError

if TYPE_CHECKING:
    import pylibcudf as plc

    from planner.ir import FileFormat
else:
    from gpu_exec.cudf.lazy import plc


def read_parquet(
    path: str, columns: Sequence[str], row_groups: Sequence[int] | None, schema: pa.Schema
) -> CudfTable:
    if row_groups is not None and not row_groups:
        return _empty(schema)
    try:
        if not columns:
            # COUNT(*) reads no column but needs the row count: the footer has it.
            footer = plc.io.parquet_metadata.read_parquet_footers(plc.io.SourceInfo([path]))[0]
            per_group = footer.row_group_num_rows
            n = sum(per_group) if row_groups is None else sum(per_group[i] for i in row_groups)
            return CudfTable(plc.Table([], num_rows=n), schema)
        wanted = list(dict.fromkeys(columns))
        groups = None if row_groups is None else list(row_groups)
        ordered = groups is None or groups == sorted(groups)
        options = (
            plc.io.parquet.ParquetReaderOptions.builder(plc.io.SourceInfo([path]))
            .decimal_width(plc.TypeId.DECIMAL128)  # else DECIMAL32/64 (NOTES.md, 'Parquet')
            .use_pandas_metadata(False)
            .build()
        )
        options.set_column_names(wanted)
        if groups is not None:
            options.set_row_groups([sorted(groups)])
        read = plc.io.parquet.read_parquet(options)
        table = read.tbl
        if not ordered and groups is not None:
            table = _row_groups_in_order(path, table, sorted(groups), groups)
    except (OSError, RuntimeError, ValueError, IndexError, OverflowError) as exc:
        raise CatalogError(f"cannot read Parquet file {path!r}: {exc}") from exc
    # Columns come back in file order: pick them by name, then cast to the plan.
    by_name = {name: i for i, name in reversed(list(enumerate(read.column_names())))}
    out = []
    for name, field in zip(columns, schema):
        col = table.columns()[by_name[name]]
        target = _device_type(field.type)
        out.append(col if col.type() == target else plc.unary.cast(col, target))
    return CudfTable(plc.Table(out), schema)


def _row_groups_in_order(
    path: str, table: plc.Table, read_order: list[int], wanted: list[int]
) -> plc.Table:
    """Rows of row groups read in ascending order, put in the asked order."""
    footer = plc.io.parquet_metadata.read_parquet_footers(plc.io.SourceInfo([path]))[0]
    sizes = footer.row_group_num_rows
    starts, position = {}, 0
    for g in read_order:
        starts[g] = position
        position += sizes[g]
    bounds = [b for g in wanted for b in (starts[g], starts[g] + sizes[g])]
    return plc.concatenate.concatenate(plc.copying.slice(table, bounds))


def write_file(table: CudfTable, schema: pa.Schema, path: str, file_format: FileFormat) -> None:
    if file_format.kind != "parquet":
        # host round-trip: libcudf's CSV writer formats floats, decimals and dates its own way;
        # pyarrow writes them as the CPU backend (and DataFusion) do.
        _cpu_kernels().write_file(to_arrow(table, schema), schema, path, file_format)
        return
    # Names and decimal precisions are not in the device table (NOTES.md, 'Metadata'); the Arrow schema stored
    # in the file gives back the planned types (date32, decimal128(p, s), string).
    device = table.table
    metadata = plc.io.types.TableInputMetadata(device)
    for column, field in zip(metadata.column_metadata, schema):
        # Nullability from the plan, as pyarrow writes it: left to libcudf it follows each
        # partition's null mask, and files of one table would disagree on their schema.
        column.set_name(field.name).set_nullability(field.nullable)
        if pa.types.is_decimal(field.type):
            column.set_decimal_precision(int(field.type.precision))
    builder = (
        plc.io.parquet.ParquetWriterOptions.builder(plc.io.SinkInfo([path]), device)
        .metadata(metadata)
        .compression(_parquet_compression(file_format.compression))
        .write_arrow_schema(True)
    )
    if file_format.row_group_size is not None:
        builder = builder.row_group_size_rows(file_format.row_group_size)
    plc.io.parquet.write_parquet(builder.build())


# @_kernel here too (write_file calls it): a failure inside names to_arrow, as the method would.
@_kernel
def to_arrow(table: CudfTable, schema: pa.Schema) -> pa.Table:
    if table.table.num_columns() != len(schema):
        raise ValueError(f"table has {table.table.num_columns()} columns, schema {len(schema)}")
    return _download(table.table, schema)


# @_kernel here too (concat and cross_join call it): a failure inside names make_table.
@_kernel
def make_table(columns: Sequence[CudfColumn], schema: pa.Schema, num_rows: int) -> CudfTable:
    if not columns:
        return CudfTable(plc.Table([], num_rows=num_rows), schema)
    if len(columns) != len(schema):
        raise ValueError(f"{len(columns)} columns for a schema of {len(schema)}")
    device = []
    for col, field in zip(columns, schema):
        target = _device_type(field.type)
        device.append(col.data if col.data.type() == target else _cast(col, field.type, safe=False).data)
    return CudfTable(plc.Table(device), schema)


def concat(tables: Sequence[CudfTable], schema: pa.Schema) -> CudfTable:
    if not tables:
        return _empty(schema)
    if not len(schema):
        return CudfTable(plc.Table([], num_rows=sum(t.table.num_rows() for t in tables)), schema)
    # concatenate wants equal types, decimal scales included (NOTES.md, 'Exact types'): conform
    # each piece first.
    pieces = [
        make_table([t.column(i) for i in range(len(schema))], schema, t.table.num_rows()).table
        for t in tables
    ]
    if len(pieces) == 1:
        return CudfTable(pieces[0], schema)
    return CudfTable(plc.concatenate.concatenate(pieces), schema)


def slice_table(table: CudfTable, offset: int, length: int) -> CudfTable:
    n = table.table.num_rows()
    begin = min(max(offset, 0), n)
    end = min(begin + max(length, 0), n)
    if not table.table.num_columns():
        return CudfTable(plc.Table([], num_rows=end - begin), table.schema)
    return CudfTable(plc.copying.slice(table.table, [begin, end])[0], table.schema)


def _parquet_compression(name: str | None) -> plc.io.types.CompressionType:
    """pyarrow's compression name → libcudf's; the names are those of
    ``gpu_exec.cudf.capabilities.GPU_PARQUET_COMPRESSIONS`` (others are placed on the CPU)."""
    kinds = {
        "snappy": plc.io.types.CompressionType.SNAPPY,
        "zstd": plc.io.types.CompressionType.ZSTD,
        "lz4": plc.io.types.CompressionType.LZ4,
        "none": plc.io.types.CompressionType.NONE,
    }
    return kinds[name or "snappy"]
