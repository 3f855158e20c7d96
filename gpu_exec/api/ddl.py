"""What each statement that is not a query does: CREATE EXTERNAL TABLE, DROP TABLE, DESCRIBE,
COPY and CREATE TABLE AS (the catalog, the planning context and the file system), and the
session's list of tables and views (SHOW TABLES, Flight SQL's GetTables).

Writes run on gpu-exec's executors like any query: a FileWrite at the root of the plan has each
partition write its own file where it was computed, into a staging directory that
gpu_exec.executor.output_files publishes once the query succeeds. Catalog changes hold the session's lock;
running a write does not.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, NamedTuple

import pyarrow as pa

from gpu_exec.api.dataframe import DataFrame
from gpu_exec.executor.output_files import OutputTarget
from planner import statements as st
from planner.catalog import normalize_schema
from planner.errors import CatalogError, SQLError, UnsupportedSQLError
from planner.ir import EmptyRelation, FileFormat

if TYPE_CHECKING:
    from gpu_exec.api.session import Session
    from planner.ir import PlanNode

__all__ = ["TableInfo", "execute_statement", "statement_result", "table_infos", "show_tables"]


class TableInfo(NamedTuple):
    """One table or view of a session (Flight SQL's GetTables): ``kind`` is "TABLE" or "VIEW"."""

    name: str
    kind: str
    schema: pa.Schema


def statement_result(session: Session, table: pa.Table) -> DataFrame:
    """A DataFrame holding the result of a statement that already ran."""
    return DataFrame(session, None, plan=EmptyRelation(False, table.schema), result=table)


def _count(rows: int) -> pa.Table:
    return pa.Table.from_arrays([pa.array([rows], pa.uint64())], schema=st.COUNT_SCHEMA)


@functools.singledispatch
def execute_statement(statement: Any, session: Session) -> DataFrame:
    """Carry out ``statement`` (planner.statements) on ``session``: at once, except COPY, whose
    DataFrame writes when its result is asked for."""
    raise SQLError(f"internal error: no handler for the statement {type(statement).__name__}")


@execute_statement.register(st.DescribeTable)
def _(statement: st.DescribeTable, session: Session) -> DataFrame:
    fields = statement.schema
    rows = [fields.names, [str(f.type) for f in fields], ["YES" if f.nullable else "NO" for f in fields]]
    return statement_result(session, pa.Table.from_arrays([pa.array(r, pa.string()) for r in rows],
                                                          schema=st.DESCRIBE_SCHEMA))


@execute_statement.register(st.CreateExternalTable)
def _(statement: st.CreateExternalTable, session: Session) -> DataFrame:
    reasons: list[str] = []
    if statement.partition_columns:
        reasons.append(f"PARTITIONED BY ({', '.join(statement.partition_columns)}): gpu-exec reads tables "
                       "without partition columns")
    if statement.unbounded:
        reasons.append("UNBOUNDED: gpu-exec reads files, not streams")
    options = st.read_options(statement.file_type, statement.options, reasons)
    if len(statement.locations) != 1:
        reasons.append(f"{len(statement.locations)} locations: gpu-exec reads one file or directory per table")
    location = statement.locations[0].removeprefix("file://") if statement.locations else ""
    if re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", location):
        reasons.append(f"LOCATION {location!r}: gpu-exec reads paths of a file system every worker sees")
    if reasons:
        raise UnsupportedSQLError([f"CREATE EXTERNAL TABLE {statement.name}: {r}" for r in reasons])
    with session.state.lock:
        name = statement.name
        if session.state.table_exists(name):
            if statement.if_not_exists:
                return statement_result(session, pa.schema([]).empty_table())
            if not statement.or_replace:
                raise CatalogError(f"table {name!r} already exists (CREATE OR REPLACE EXTERNAL TABLE replaces it)")
            if name not in session.catalog:
                raise CatalogError(f"{name!r} is a view: DROP VIEW {name} first")
            if name in session.state.managed_tables:
                raise CatalogError(f"table {name!r} was made by CREATE TABLE AS and its files are the "
                                   f"warehouse's: DROP TABLE {name} first (which deletes them)")
        if statement.file_type == "parquet":
            session.register_parquet(statement.name, location, schema=statement.schema)
        else:
            session.register_csv(statement.name, location, schema=statement.schema, **options)
    return statement_result(session, pa.schema([]).empty_table())


@execute_statement.register(st.DropTable)
def _(statement: st.DropTable, session: Session) -> DataFrame:
    name = statement.name
    with session.state.lock:
        if name in session.catalog:
            session.catalog.deregister(name)
            session.state.forget_planner_table(name)
            # A table CREATE TABLE AS made is the session's: its files go with it (a later CREATE
            # TABLE AS of the same name then finds its directory free).
            directory = session.state.managed_tables.pop(name, None)
            if directory is not None:
                shutil.rmtree(directory, ignore_errors=True)
        elif session.state.table_exists(name):
            raise SQLError(f"{name!r} is a view: use DROP VIEW {name}")
        elif not statement.if_exists:
            known = ", ".join(session.catalog.names()) or "none"
            raise CatalogError(f"unknown table {name!r} (registered: {known})")
    return statement_result(session, pa.schema([]).empty_table())


@execute_statement.register(st.CopyTo)
def _(statement: st.CopyTo, session: Session) -> DataFrame:
    reasons: list[str] = []
    if statement.partition_by:
        reasons.append(f"PARTITIONED BY ({', '.join(statement.partition_by)}): gpu-exec writes one file per "
                       "partition of the result, not a directory per value")
    file_format = st.write_format(statement.file_type, statement.options, reasons)
    target = statement.target
    # DataFusion's rule: a target with an extension is one file, any other a directory.
    single_file = not target.endswith(("/", os.sep)) and bool(PurePath(target).suffix)
    output = OutputTarget(target, extension=file_format.extension, single_file=single_file,
                          hint="remove it, or COPY to another target")
    with session.state.lock:
        query = _query_plan(session, statement.query, reasons)
        if reasons:
            raise UnsupportedSQLError([f"COPY: {r}" for r in reasons])
        output.check()
        return _write_frame(session, query, output, file_format)


@execute_statement.register(st.InsertInto)
def _(statement: st.InsertInto, session: Session) -> DataFrame:
    name = statement.name
    reasons: list[str] = []
    with session.state.lock:
        if name not in session.catalog:
            raise CatalogError(f"INSERT INTO {name}: unknown table {name!r}")
        source = session.catalog.get(name)
        location = source.location
        if source.format != "parquet" or not os.path.isdir(location):
            raise UnsupportedSQLError([f"INSERT INTO {name}: only tables of Parquet files in a directory take new "
                                       f"rows (new files beside the others); {name!r} is {source.format} at "
                                       f"{location!r}"])
        query = _query_plan(session, statement.query, reasons)
        if not reasons and [(f.name, f.type) for f in query.schema] != [(f.name, f.type) for f in source.schema]:
            reasons.append(f"the rows have columns {query.schema} but the table has {source.schema}")
        if reasons:
            raise UnsupportedSQLError([f"INSERT INTO {name}: {r}" for r in reasons])
        output = OutputTarget(location, extension=".parquet", append=True)
        frame = _write_frame(session, query, output, FileFormat("parquet"))
    result = frame.to_arrow()  # outside the lock: other queries run meanwhile
    with session.state.lock:
        # The new files join the table; its columns (as declared, or all of the files') stay.
        session.catalog.register_parquet(name, location, schema=source.schema)
    return statement_result(session, result)


@execute_statement.register(st.CreateTableAs)
def _(statement: st.CreateTableAs, session: Session) -> DataFrame:
    name = statement.name
    if name in (".", "..") or name.startswith(".") or "/" in name or os.sep in name:
        raise SQLError(f"CREATE TABLE AS: {name!r} cannot name a directory of the warehouse")
    reasons: list[str] = []
    with session.state.lock:
        if session.state.table_exists(name):
            if statement.if_not_exists:
                return statement_result(session, _count(0))
            if name not in session.catalog:
                raise SQLError(f"{name!r} is a view: DROP VIEW {name} first")
            if not statement.or_replace:
                raise CatalogError(f"table {name!r} already exists (CREATE OR REPLACE TABLE replaces it)")
        query = _query_plan(session, statement.query, reasons)
        if reasons:
            raise UnsupportedSQLError([f"CREATE TABLE {name} AS: {r}" for r in reasons])
        output = OutputTarget(os.path.join(session.config.warehouse, name), extension=".parquet",
                              replace=statement.or_replace,
                              hint="CREATE OR REPLACE TABLE overwrites it; CREATE EXTERNAL TABLE ... LOCATION reads it")
        output.check()
        frame = _write_frame(session, query, output, FileFormat("parquet"))
    result = frame.to_arrow()  # outside the lock: other queries run meanwhile
    with session.state.lock:
        session.register_parquet(name, output.target)
        session.state.managed_tables[name] = output.target
    return statement_result(session, result)


def _query_plan(session: Session, plan: Any, reasons: list[str]) -> PlanNode:
    """gpu-exec's plan of a statement's query (DataFusion's plan), its unsupported parts and
    unwritable columns added to ``reasons``."""
    frame = DataFrame(session, session.state.planner.create_dataframe_from_logical_plan(plan), step="")
    try:
        query = frame.logical_plan
    except UnsupportedSQLError as exc:
        reasons.extend(exc.reasons)
        return EmptyRelation(False, pa.schema([]))
    st.check_written_columns(query.schema, reasons)
    return query


def _write_frame(session: Session, query: PlanNode, output: OutputTarget, file_format: FileFormat) -> DataFrame:
    plan = st.write_plan(query, output.staging, file_format, output.single_file)
    frame = DataFrame(session, None, plan=plan, output=output)
    frame.physical_plan  # noqa: B018 — fallback="raise" and planning errors surface now
    return frame


# ---- the catalog --------------------------------------------------------------------------------


def table_infos(session: Session) -> list[TableInfo]:
    """Every table and view of the session, by name."""
    with session.state.lock:
        infos = [TableInfo(name, "TABLE", session.catalog.get(name).schema) for name in session.catalog.names()]
        ctx = session.state.planner
        schema = ctx.catalog(st.CATALOG).schema(st.SCHEMA)
        for name in schema.names():
            if name not in session.catalog and schema.table(name).kind == "view":
                infos.append(TableInfo(name, "VIEW", normalize_schema(ctx.table(name).schema())))
    return sorted(infos, key=lambda info: info.name)


def show_tables(session: Session) -> pa.Table:
    """SHOW TABLES' rows, as DataFusion answers it (without information_schema's views)."""
    infos = table_infos(session)
    columns = [
        [st.CATALOG] * len(infos),
        [st.SCHEMA] * len(infos),
        [info.name for info in infos],
        ["BASE TABLE" if info.kind == "TABLE" else "VIEW" for info in infos],
    ]
    return pa.Table.from_arrays([pa.array(c, pa.string()) for c in columns], schema=st.SHOW_TABLES_SCHEMA)
