"""SQL statements beyond queries: DDL, COPY, DESCRIBE (SHOW TABLES is found in the text).

Pure planning, no DataFusion: the statements as gpu-exec's own classes (``planner.translate``
builds them from DataFusion's plan of the statement), the checks of formats and options (every
reason collected, as for queries), and the plan of a write (``write_plan``). What only the SQL
text tells is read by planner.sql_text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import pyarrow as pa

from planner.errors import SQLError
from planner.expr import AggregateCall, AggregateFunction, ColumnRef
from planner.ir import Aggregate, FileFormat, FileWrite, PlanNode

__all__ = [
    "Statement",
    "CreateExternalTable",
    "CreateTableAs",
    "DropTable",
    "CopyTo",
    "DescribeTable",
    "COUNT_SCHEMA",
    "SHOW_TABLES_SCHEMA",
    "DESCRIBE_SCHEMA",
    "CATALOG",
    "SCHEMA",
    "table_name",
    "read_options",
    "write_format",
    "write_plan",
    "check_written_columns",
]

CATALOG, SCHEMA = "datafusion", "public"  # where DataFusion (and so gpu-exec) puts every table

# The one-row result of COPY and CREATE TABLE AS, as DataFusion's COPY answers: rows written.
COUNT_SCHEMA = pa.schema([pa.field("count", pa.uint64(), nullable=False)])
SHOW_TABLES_SCHEMA = pa.schema(
    [pa.field(name, pa.string(), nullable=False) for name in ("table_catalog", "table_schema", "table_name", "table_type")]
)
DESCRIBE_SCHEMA = pa.schema(
    [pa.field(name, pa.string(), nullable=False) for name in ("column_name", "data_type", "is_nullable")]
)


# ---------------------------------------------------------------------------------------------
# Statements
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateExternalTable:
    """CREATE EXTERNAL TABLE: ``schema`` is None when the statement declares no columns."""

    name: str
    file_type: str  # lower case: "parquet", "csv", "json", ...
    locations: tuple[str, ...]
    schema: pa.Schema | None
    options: tuple[tuple[str, str], ...]
    if_not_exists: bool
    partition_columns: tuple[str, ...]
    unbounded: bool
    or_replace: bool = False  # CREATE OR REPLACE EXTERNAL TABLE (DataFusion's Python API hides it)


@dataclass(frozen=True)
class CreateTableAs:
    """CREATE [OR REPLACE] TABLE [IF NOT EXISTS] name AS query. ``query`` is DataFusion's plan of
    the query, opaque here (the session plans it like any query)."""

    name: str
    query: Any
    or_replace: bool
    if_not_exists: bool


@dataclass(frozen=True)
class DropTable:
    name: str
    if_exists: bool


@dataclass(frozen=True)
class CopyTo:
    """COPY (query) TO target: ``query`` as in CreateTableAs."""

    query: Any
    target: str
    file_type: str
    options: tuple[tuple[str, str], ...]
    partition_by: tuple[str, ...]


@dataclass(frozen=True)
class InsertInto:
    """INSERT INTO name query (or VALUES): ``query`` as in CreateTableAs, its columns already
    the table's (DataFusion fills and casts them)."""

    name: str
    query: Any


@dataclass(frozen=True)
class DescribeTable:
    schema: pa.Schema


Statement = CreateExternalTable | CreateTableAs | DropTable | CopyTo | InsertInto | DescribeTable


def table_name(qualified: str) -> str:
    """A table name DataFusion gave as ``t``, ``public.t`` or ``datafusion.public.t`` (gpu-exec has
    the one schema ``datafusion.public``)."""
    for prefix in (f"{CATALOG}.{SCHEMA}.", f"{SCHEMA}."):
        if qualified.startswith(prefix):
            return qualified[len(prefix) :]
    if "." in qualified:
        raise SQLError(f"table {qualified!r}: gpu-exec has one schema, {CATALOG}.{SCHEMA}")
    return qualified


# ---------------------------------------------------------------------------------------------
# Formats and options
# ---------------------------------------------------------------------------------------------

_COMPRESSION = re.compile(r"(?i)(snappy|gzip|brotli|lz4|lz4_raw|zstd|uncompressed|none)(?:\((\d+)\))?")
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def _options(options: Sequence[tuple[str, str]]) -> dict[str, str]:
    # DataFusion prefixes every key with "format."; Postgres' HEADER is DataFusion's has_header.
    out = {}
    for key, value in options:
        key = key.lower().removeprefix("format.")
        out["has_header" if key == "header" else key] = value
    return out


def _boolean(key: str, value: str, reasons: list[str]) -> bool:
    if value.lower() in _TRUE:
        return True
    if value.lower() not in _FALSE:
        reasons.append(f"option {key!r} must be true or false, not {value!r}")
    return False


def _delimiter(value: str, reasons: list[str]) -> str:
    if len(value) != 1:
        reasons.append(f"option 'delimiter' must be one character, not {value!r}")
        return ","
    return value


def _check_known(kind: str, options: Mapping[str, str], known: Sequence[str], what: str, reasons: list[str]) -> None:
    for key in options:
        if key not in known:
            allowed = ", ".join(known) or "none"
            reasons.append(f"unknown option {key!r} for {what} {kind.upper()} (supported: {allowed})")


def read_options(kind: str, options: Sequence[tuple[str, str]], reasons: list[str]) -> dict[str, Any]:
    """The keyword arguments of ``Catalog.register_<kind>`` for CREATE EXTERNAL TABLE's OPTIONS;
    unsupported formats and options are added to ``reasons``."""
    given = _options(options)
    if kind == "csv":
        _check_known(kind, given, ("has_header", "delimiter"), "reading", reasons)
        return {
            "has_header": _boolean("has_header", given.get("has_header", "true"), reasons),
            "delimiter": _delimiter(given.get("delimiter", ","), reasons),
        }
    if kind == "parquet":
        _check_known(kind, given, (), "reading", reasons)
    else:
        reasons.append(f"STORED AS {kind.upper()}: gpu-exec reads Parquet and CSV tables")
    return {}


def write_format(kind: str, options: Sequence[tuple[str, str]], reasons: list[str]) -> FileFormat:
    """The FileFormat of COPY's ``STORED AS`` / ``FORMAT`` and options; unsupported formats and
    options are added to ``reasons``."""
    given = _options(options)
    if kind == "csv":
        _check_known(kind, given, ("has_header", "delimiter"), "writing", reasons)
        return FileFormat("csv", has_header=_boolean("has_header", given.get("has_header", "true"), reasons),
                          delimiter=_delimiter(given.get("delimiter", ","), reasons))
    if kind != "parquet":
        reasons.append(f"STORED AS {kind.upper()}: gpu-exec writes Parquet and CSV files")
        return FileFormat("parquet")
    _check_known(kind, given, ("compression", "max_row_group_size", "row_group_size"), "writing", reasons)
    compression = level = rows = None
    if "compression" in given:
        m = _COMPRESSION.fullmatch(given["compression"].strip())
        if m is None:
            reasons.append(f"unknown Parquet compression {given['compression']!r} "
                           "(snappy, gzip, brotli, lz4, zstd, uncompressed; a level as zstd(3))")
        else:
            name = m.group(1).lower()
            compression = {"uncompressed": "none", "lz4_raw": "lz4"}.get(name, name)
            level = int(m.group(2)) if m.group(2) else None
    size = given.get("max_row_group_size", given.get("row_group_size"))
    if size is not None:
        if size.isdigit() and int(size) > 0:
            rows = int(size)
        else:
            reasons.append(f"option 'max_row_group_size' must be a positive number of rows, not {size!r}")
    return FileFormat("parquet", compression=compression, compression_level=level, row_group_size=rows)


def write_plan(query: PlanNode, directory: str, file_format: FileFormat, single_file: bool) -> PlanNode:
    """The plan of writing ``query``'s rows into ``directory``: each partition writes its file
    where it runs (FileWrite), then one SUM of the rows written (COUNT_SCHEMA)."""
    write = FileWrite(query, directory, file_format, single_file, COUNT_SCHEMA)
    rows = ColumnRef(0, "count", pa.uint64())
    total = AggregateCall(AggregateFunction.SUM, (rows,), False, None, pa.uint64(), "count")
    return Aggregate(write, (), (total,), COUNT_SCHEMA)


def check_written_columns(schema: pa.Schema, reasons: list[str]) -> None:
    """Files need at least one column, and columns a reader can tell apart."""
    if not len(schema):
        reasons.append("a query without columns cannot be written to files")
    repeated = sorted({name for name in schema.names if schema.names.count(name) > 1})
    if repeated:
        reasons.append(f"the query has several columns named {', '.join(map(repr, repeated))}: give them distinct aliases")
