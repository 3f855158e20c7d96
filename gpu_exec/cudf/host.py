"""Host transfers: device tables to Arrow and back, and round-trips through the CPU kernels."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Sequence

import pyarrow as pa

from gpu_exec.cudf.columns import CudfColumn, CudfTable, Operand
from gpu_exec.cudf.types import _MAX_DIGITS, _decimal, _device_type
from planner.errors import ExecutionError
from planner.expr import Literal

if TYPE_CHECKING:
    import pylibcudf as plc

    from fallback_cpu.kernels import ArrowKernels
else:
    from gpu_exec.cudf.lazy import plc


@functools.cache
def _cpu_kernels() -> ArrowKernels:
    from fallback_cpu.kernels import ArrowKernels

    return ArrowKernels()


def _column_metadata(field: pa.Field) -> plc.interop.ColumnMetadata:
    t = field.type
    if pa.types.is_decimal(t):
        return plc.interop.ColumnMetadata(name=field.name, precision=int(t.precision))
    if pa.types.is_timestamp(t) and t.tz is not None:
        return plc.interop.ColumnMetadata(name=field.name, timezone=str(t.tz))
    return plc.interop.ColumnMetadata(name=field.name)


def _download(table: plc.Table, schema: pa.Schema) -> pa.Table:
    """A device table as Arrow with exactly ``schema``: the metadata carries names, precision and
    timezone, and decimals must be DECIMAL128 to come back as decimal128 (NOTES.md, 'Metadata')."""
    n = table.num_rows()
    if not len(schema):
        return pa.table({"_": pa.nulls(n)}).drop_columns(["_"])
    columns = []
    for col, field in zip(table.columns(), schema):
        t = field.type
        if pa.types.is_decimal(t) and col.type() != _decimal(t.scale):
            col = plc.unary.cast(col, _decimal(t.scale))
        columns.append(col)
    raw = plc.Table(columns).to_arrow(metadata=[_column_metadata(f) for f in schema])
    host = raw if isinstance(raw, pa.Table) else pa.table(raw)
    arrays = []
    for column, field in zip(host.columns, schema):
        t = field.type
        if pa.types.is_null(t):
            arrays.append(pa.nulls(n))
        elif column.type != t:
            # strings come back as utf8 (large_utf8 past 2 GiB), decimals as decimal128, dates
            # as date32: the planned type may be utf8_view, decimal64, date64 or a dictionary.
            arrays.append(column.cast(t))
        else:
            arrays.append(column)
    return pa.Table.from_arrays(arrays, schema=schema)


def _host_array(col: CudfColumn) -> pa.Array:
    schema = pa.schema([pa.field("c", col.type)])
    return _download(plc.Table([col.data]), schema).column(0).combine_chunks()


def _host_operand(x: Operand) -> Any:
    return x if isinstance(x, Literal) else _host_array(x)


def _upload_array(arr: pa.Array | pa.ChunkedArray) -> CudfColumn:
    table = _upload(pa.table({"c": arr}))
    return table.column(0)


def _prepare_for_upload(column: pa.ChunkedArray) -> tuple[pa.ChunkedArray, pa.DataType]:
    """An Arrow column in a shape pylibcudf takes, and the type it then stands for (decode
    dictionaries, no null type, no date64, decimals widened to decimal128: NOTES.md, 'Metadata')."""
    t = column.type
    if pa.types.is_dictionary(t):
        return _prepare_for_upload(column.cast(t.value_type))
    if pa.types.is_null(t):
        return pa.chunked_array([pa.nulls(len(column), pa.int8())]), t
    if pa.types.is_date64(t):
        return column.cast(pa.timestamp("ms")), t
    if pa.types.is_decimal(t) and t.bit_width != 128:
        if t.precision > _MAX_DIGITS:
            raise ExecutionError(f"{t} has more digits than the GPU's DECIMAL128 holds")
        return column.cast(pa.decimal128(t.precision, t.scale)), t
    return column, t


def _upload(table: pa.Table) -> CudfTable:
    n = table.num_rows
    if not table.num_columns:
        return CudfTable(plc.Table([], num_rows=n), table.schema)
    arrays, fields = [], []
    for column, field in zip(table.columns, table.schema):
        prepared, t = _prepare_for_upload(column)
        arrays.append(prepared)
        fields.append(pa.field(field.name, t, field.nullable))
    schema = pa.schema(fields)
    if n == 0:
        return _empty(schema)
    device = plc.Table.from_arrow(pa.Table.from_arrays(arrays, names=[f.name for f in fields]))
    return CudfTable(device, schema)


def _empty(schema: pa.Schema) -> CudfTable:
    columns = [plc.column_factories.make_empty_column(_device_type(f.type)) for f in schema]
    return CudfTable(plc.Table(columns, num_rows=0), schema)


def _host_cast(col: CudfColumn, to_type: pa.DataType, safe: bool) -> CudfColumn:
    # host round-trip: the caller names the DataFusion cast rule libcudf has no kernel for.
    return _upload_array(_cpu_kernels().cast(_host_array(col), to_type, safe))


def _host_scalar_function(name: str, args: Sequence[Operand], out_type: pa.DataType, n: int) -> CudfColumn:
    # host round-trip: the caller names the argument shape libcudf has no kernel for.
    host_args = [_host_operand(a) for a in args]
    return _upload_array(_cpu_kernels().scalar_function(name, host_args, out_type, n))
