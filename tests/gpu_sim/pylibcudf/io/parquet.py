"""Simulated ``pylibcudf.io.parquet`` (pylibcudf 26.10): ``read_parquet`` and ``write_parquet``
with their option builders, on pyarrow, with libcudf's types (``cpp/src/io/parquet/``).

Reading: the columns come back in the order ``set_column_names`` asks for (a repeated name
once; a name the file lacks is skipped, as ``ignore_missing_columns`` defaults to true), preceded
by the pandas index columns when ``use_pandas_metadata`` is on and the file has them. Strings are
STRING, dates TIMESTAMP_DAYS, timestamps keep their unit (the time zone is lost), decimals are
DECIMAL32/64/128 by precision (≤ 9, ≤ 18, more) unless ``decimal_width`` asks for a wider one.
``set_row_groups`` takes one list per source; an index past the file's row groups is an
IndexError. ``set_filter`` is not modelled (NotImplementedError: gpu-exec never calls it).

Writing: the table goes to the sink with the names, nullability and decimal precisions of the
``TableInputMetadata`` (a precision defaults to the width's maximum), the compression asked for,
``row_group_size_rows`` rows per group, and the Arrow schema stored when ``write_arrow_schema``.
A column marked non-nullable that has NULLs is a ValueError.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pylibcudf import _sim
from pylibcudf.column import Column
from pylibcudf.io.types import CompressionType, SinkInfo, SourceInfo, TableInputMetadata, TableWithMetadata
from pylibcudf.table import Table
from pylibcudf.types import DataType, TypeId

__all__ = ["ParquetReaderOptions", "ParquetReaderOptionsBuilder", "read_parquet", "ParquetWriterOptions",
           "ParquetWriterOptionsBuilder", "write_parquet"]

_WIDTH_DIGITS = {TypeId.DECIMAL32: 9, TypeId.DECIMAL64: 18, TypeId.DECIMAL128: 38}


class ParquetReaderOptions:
    def __init__(self) -> None:
        raise TypeError("build ParquetReaderOptions with ParquetReaderOptions.builder(source)")

    @staticmethod
    def builder(source: SourceInfo) -> ParquetReaderOptionsBuilder:
        if not isinstance(source, SourceInfo):
            raise TypeError(f"builder takes a SourceInfo, not {type(source).__name__}")
        return ParquetReaderOptionsBuilder._of(source)

    def set_column_names(self, col_names: list[str]) -> None:
        self._columns = [str(c) for c in col_names]

    set_columns = set_column_names  # deprecated alias in 26.10

    def set_row_groups(self, row_groups: list[list[int]]) -> None:
        self._row_groups = [[int(g) for g in groups] for groups in row_groups]

    def set_num_rows(self, nrows: int) -> None:
        self._num_rows = int(nrows)

    def set_skip_rows(self, skip_rows: int) -> None:
        self._skip_rows = int(skip_rows)

    def set_filter(self, filter: Any) -> None:
        raise NotImplementedError("Parquet filters are not modelled by the simulator (gpu-exec does not use them)")


class ParquetReaderOptionsBuilder:
    def __init__(self) -> None:
        raise TypeError("use ParquetReaderOptions.builder(source)")

    @classmethod
    def _of(cls, source: SourceInfo) -> ParquetReaderOptionsBuilder:
        builder = object.__new__(cls)
        builder._source = source
        builder._settings = {"use_pandas_metadata": True, "decimal_width": None, "columns": None}
        return builder

    def use_pandas_metadata(self, val: bool) -> ParquetReaderOptionsBuilder:
        self._settings["use_pandas_metadata"] = bool(val)
        return self

    def decimal_width(self, width: TypeId) -> ParquetReaderOptionsBuilder:
        if width not in _WIDTH_DIGITS:
            raise ValueError(f"decimal_width takes DECIMAL32/64/128, not {width!r}")
        self._settings["decimal_width"] = TypeId(width)
        return self

    def column_names(self, col_names: list[str]) -> ParquetReaderOptionsBuilder:
        self._settings["columns"] = [str(c) for c in col_names]
        return self

    columns = column_names

    def build(self) -> ParquetReaderOptions:
        options = object.__new__(ParquetReaderOptions)
        options._source = self._source
        options._pandas = self._settings["use_pandas_metadata"]
        options._decimal_width = self._settings["decimal_width"]
        options._columns = self._settings["columns"]
        options._row_groups = None
        options._num_rows = -1
        options._skip_rows = 0
        return options


def _device_type(t: pa.DataType, width: TypeId | None) -> DataType:
    """The libcudf type the Parquet reader gives a column of Arrow type ``t``."""
    if pa.types.is_decimal(t):
        by_precision = (TypeId.DECIMAL32 if t.precision <= 9 else TypeId.DECIMAL64 if t.precision <= 18
                        else TypeId.DECIMAL128)
        tid = by_precision if width is None or _WIDTH_DIGITS[width] < _WIDTH_DIGITS[by_precision] else width
        return DataType(tid, -t.scale)
    if pa.types.is_dictionary(t):
        return _device_type(t.value_type, width)
    if pa.types.is_timestamp(t):
        return _sim.datatype_from_arrow(pa.timestamp(t.unit))
    return _sim.datatype_from_arrow(t)


def _column(arr: pa.ChunkedArray, dtype: DataType) -> Column:
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    if pa.types.is_timestamp(arr.type) and arr.type.tz is not None:
        arr = arr.cast(pa.timestamp(arr.type.unit))
    return _sim.column_from_arrow(arr, dtype)


def _pandas_index_names(schema: pa.Schema) -> list[str]:
    meta = (schema.metadata or {}).get(b"pandas")
    if not meta:
        return []
    return [c for c in json.loads(meta).get("index_columns", []) if isinstance(c, str)]


def read_parquet(options: ParquetReaderOptions, stream: Any = None, mr: Any = None,
                 parquet_metadatas: Any = None) -> TableWithMetadata:
    if not isinstance(options, ParquetReaderOptions):
        raise TypeError(f"read_parquet takes ParquetReaderOptions, not {type(options).__name__}")
    sources = options._source._sources
    if not sources:
        raise RuntimeError("no sources to read")
    if options._row_groups is not None and len(options._row_groups) != len(sources):
        raise ValueError("set_row_groups needs one list of row groups per source")
    pieces, per_source, names = [], [], None
    for i, source in enumerate(sources):
        if hasattr(source, "seek"):
            source.seek(0)
        try:
            file = pq.ParquetFile(source)
        except Exception as exc:
            raise RuntimeError(f"cannot read Parquet: {exc}") from exc
        schema = file.schema_arrow
        wanted = [f.name for f in schema] if options._columns is None else list(dict.fromkeys(options._columns))
        if options._pandas:
            wanted = [n for n in _pandas_index_names(schema) if n not in wanted] + wanted
        present = [n for n in wanted if schema.get_field_index(n) >= 0]
        groups = None if options._row_groups is None else options._row_groups[i]
        if groups is not None and any(g < 0 or g >= file.num_row_groups for g in groups):
            raise IndexError("Invalid rowgroup index")
        table = file.read(columns=present) if groups is None else file.read_row_groups(groups, columns=present)
        if names is None:
            names = present
        elif names != present:
            raise RuntimeError("the sources' schemas differ (allow_mismatched_pq_schemas is not modelled)")
        pieces.append(table.select(present))
        per_source.append(table.num_rows)
    combined = pa.concat_tables(pieces) if len(pieces) > 1 else pieces[0]
    if options._skip_rows or options._num_rows >= 0:
        stop = combined.num_rows if options._num_rows < 0 else options._skip_rows + options._num_rows
        combined = combined.slice(options._skip_rows, max(stop - options._skip_rows, 0))
    columns = [_column(combined.column(j), _device_type(combined.schema.field(j).type, options._decimal_width))
               for j in range(combined.num_columns)]
    tbl = Table(columns) if columns else Table([], num_rows=combined.num_rows)
    return TableWithMetadata(tbl, list(names or []), per_source)


# ---- writing ------------------------------------------------------------------------------------

_COMPRESSIONS = {CompressionType.NONE: "none", CompressionType.AUTO: "snappy", CompressionType.SNAPPY: "snappy",
                 CompressionType.ZSTD: "zstd", CompressionType.LZ4: "lz4", CompressionType.GZIP: "gzip",
                 CompressionType.BROTLI: "brotli"}


class ParquetWriterOptions:
    def __init__(self) -> None:
        raise TypeError("build ParquetWriterOptions with ParquetWriterOptions.builder(sink, table)")

    @staticmethod
    def builder(sink: SinkInfo, table: Table) -> ParquetWriterOptionsBuilder:
        if not isinstance(sink, SinkInfo) or not isinstance(table, Table):
            raise TypeError("builder takes a SinkInfo and a Table")
        return ParquetWriterOptionsBuilder._of(sink, table)

    def set_row_group_size_rows(self, size_rows: int) -> None:
        if int(size_rows) <= 0:
            raise RuntimeError("The maximum row group row count must be a positive integer.")
        self._settings["row_group_size_rows"] = int(size_rows)


class ParquetWriterOptionsBuilder:
    def __init__(self) -> None:
        raise TypeError("use ParquetWriterOptions.builder(sink, table)")

    @classmethod
    def _of(cls, sink: SinkInfo, table: Table) -> ParquetWriterOptionsBuilder:
        builder = object.__new__(cls)
        builder._sink, builder._table = sink, table
        builder._settings = {"metadata": None, "compression": CompressionType.SNAPPY, "row_group_size_rows": None,
                             "write_arrow_schema": False}
        return builder

    def metadata(self, metadata: TableInputMetadata) -> ParquetWriterOptionsBuilder:
        if not isinstance(metadata, TableInputMetadata):
            raise TypeError("metadata must be a TableInputMetadata")
        if len(metadata.column_metadata) != self._table.num_columns():
            raise ValueError("the metadata has another number of columns than the table")
        self._settings["metadata"] = metadata
        return self

    def compression(self, compression: CompressionType) -> ParquetWriterOptionsBuilder:
        self._settings["compression"] = CompressionType(compression)
        return self

    def row_group_size_rows(self, val: int) -> ParquetWriterOptionsBuilder:
        if int(val) <= 0:
            raise RuntimeError("The maximum row group row count must be a positive integer.")
        self._settings["row_group_size_rows"] = int(val)
        return self

    def write_arrow_schema(self, enabled: bool) -> ParquetWriterOptionsBuilder:
        self._settings["write_arrow_schema"] = bool(enabled)
        return self

    def build(self) -> ParquetWriterOptions:
        options = object.__new__(ParquetWriterOptions)
        options._sink, options._table, options._settings = self._sink, self._table, dict(self._settings)
        return options


def _arrow_field(col: Column, meta: Any, index: int) -> tuple[pa.Field, pa.Array]:
    dtype = col.type()
    values = _sim.column_to_arrow(col)
    if dtype.id() in _WIDTH_DIGITS:
        precision = meta._precision if meta is not None and meta._precision is not None else _WIDTH_DIGITS[dtype.id()]
        target = pa.decimal128(precision, -dtype.scale())
        try:
            values = values.cast(target)
        except pa.ArrowInvalid as exc:
            raise ValueError(f"a value does not fit decimal precision {precision}: {exc}") from exc
    else:
        values = values.cast(_sim.arrow_type_of(dtype))
    name = meta.get_name() if meta is not None else ""
    nullable = col.null_count() > 0 if meta is None or meta._nullable is None else meta._nullable
    if not nullable and col.null_count():
        raise ValueError(f"column {name or index} is marked non-nullable but has nulls")
    return pa.field(name, values.type, nullable=nullable), values


def write_parquet(options: ParquetWriterOptions, stream: Any = None) -> memoryview:
    if not isinstance(options, ParquetWriterOptions):
        raise TypeError(f"write_parquet takes ParquetWriterOptions, not {type(options).__name__}")
    settings = options._settings
    table = options._table
    metas = settings["metadata"].column_metadata if settings["metadata"] is not None else [None] * table.num_columns()
    fields, arrays = [], []
    for i, (col, meta) in enumerate(zip(table.columns(), metas)):
        field, values = _arrow_field(col, meta, i)
        fields.append(field)
        arrays.append(values)
    arrow = pa.Table.from_arrays(arrays, schema=pa.schema(fields)) if fields else pa.table({})
    if settings["compression"] not in _COMPRESSIONS:
        raise ValueError(f"compression {settings['compression']!r} is not supported for writing")
    if len(options._sink._sinks) != 1:
        raise NotImplementedError("the simulator writes one sink (partitioned writes are not modelled)")
    pq.write_table(arrow, options._sink._sinks[0], compression=_COMPRESSIONS[settings["compression"]],
                   row_group_size=settings["row_group_size_rows"] or 1_000_000,
                   store_schema=settings["write_arrow_schema"])
    return memoryview(b"")
