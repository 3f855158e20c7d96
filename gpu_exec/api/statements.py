"""``Session.sql`` and ``Session.prepare``: queries, parameters, and the statements that are not
queries — CREATE EXTERNAL TABLE, CREATE TABLE AS, DROP TABLE, COPY, SHOW TABLES, DESCRIBE.

DataFusion parses and plans every statement but never runs one: its plan of a DDL or COPY
statement is read through ``EXPLAIN <statement>`` (planned, not executed), translated to
planner.statements, and carried out by gpu_exec.api.ddl against gpu-exec's catalog, which the
planning context mirrors.

Threads: planning and catalog changes hold the session's lock (DataFusion's context is not made
for concurrent changes); running a query — a CREATE TABLE AS's write included — does not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import pyarrow as pa

from gpu_exec.api.dataframe import DataFrame, clean_datafusion_message
from gpu_exec.api.ddl import TableInfo, execute_statement, show_tables, statement_result, table_infos
from gpu_exec.api.explain import explained_query
from gpu_exec.api.metadata import metadata_query, metadata_schema, reads_only_metadata
from planner import sql_text
from planner import statements as st
from planner.catalog import normalize_schema
from planner.errors import SQLError, UnsupportedSQLError

if TYPE_CHECKING:
    from gpu_exec.api.session import Session

__all__ = ["PreparedStatement", "TableInfo", "Params", "run_sql", "prepare", "table_infos", "statement_result"]

Params = Sequence[Any] | Mapping[str, Any]
"""Values of a statement's placeholders: a sequence for ``$1, $2, ...`` (or ``?``), a mapping
for ``$name`` (keys with or without the ``$``)."""

# DataFusion's refusals, with DDL, DML and statements disallowed, of what gpu-exec carries out
# itself. Views change only DataFusion's view catalog, so DataFusion runs those.
_VIEW_DDL = re.compile(r"DDL not supported: (CreateView|DropView)")
_STATEMENT = re.compile(r"(DDL|DML) not supported: (CreateExternalTable|CreateMemoryTable|DropTable|COPY|Insert Into)\b")


@dataclass(frozen=True)
class PreparedStatement:
    """A statement planned once, run with its parameters bound (``Session.prepare``).

    ``dataset_schema`` is the schema of the statement's result (empty when it returns no rows);
    ``parameter_schema`` has one field per placeholder, ``$1, $2, ...`` in number order (fields
    "1", "2", ...) then named ones, typed as DataFusion infers them from where they are used
    (``a > $1`` takes ``a``'s type; null when nothing tells).
    """

    session: Session
    query: str
    dataset_schema: pa.Schema
    parameter_schema: pa.Schema

    def bind(self, params: Params | None = None) -> DataFrame:
        """The statement with these values: a lazy DataFrame for a query (DDL runs at once, as
        ``Session.sql`` runs it). A missing or extra value is an SQLError."""
        return self.session.sql(self.query, params)


def _query_only_options() -> Any:
    from datafusion import SQLOptions

    return SQLOptions().with_allow_ddl(False).with_allow_dml(False).with_allow_statements(False)


def _prepared_text(query: str) -> str:
    return sql_text.number_question_marks(sql_text.rewrite_copy_options(query))


def run_sql(session: Session, query: str, params: Params | None) -> DataFrame:
    """``Session.sql``: plan a query (lazy DataFrame), or carry out a statement at once."""
    text = _prepared_text(query)
    values = sql_text.parameter_values(sql_text.placeholder_names(text), params)
    if sql_text.is_show_tables(text):
        return statement_result(session, show_tables(session))
    with session.state.lock:
        planned = _plan(session, text, values)
        if isinstance(planned, DataFrame):
            planned.physical_plan  # noqa: B018 — plan now: errors and fallback="raise" surface here
            return planned
    return execute_statement(planned, session)


def run_view_ddl(session: Session, query: str) -> DataFrame:
    """CREATE VIEW / DROP VIEW: DataFusion runs them itself (they change only its view catalog)."""
    with session.state.lock:
        try:
            session.state.planner.sql(query)
        except Exception as exc:  # noqa: BLE001
            raise session.state.planning_error(clean_datafusion_message(exc)) from None
    return statement_result(session, pa.schema([]).empty_table())


def _plan(session: Session, text: str, values: dict[str, Any]) -> DataFrame | st.Statement:
    from planner.translate import translate_statement

    ctx = session.state.planner
    try:
        df = ctx.sql_with_options(text, _query_only_options(), param_values=values or None)
    except Exception as exc:  # noqa: BLE001 — DataFusion raises plain exceptions
        message = clean_datafusion_message(exc)
        if _VIEW_DDL.search(message):
            if values:  # DataFusion keeps a view's placeholders unbound: it would fail when read
                raise UnsupportedSQLError(["parameters in CREATE VIEW: a view cannot keep their values"])
            return run_view_ddl(session, text)
        if _STATEMENT.search(message):
            return _explain_statement(session, text, values)
        raise session.state.planning_error(message) from None
    explained = explained_query(session, df)
    if explained is not None:
        return explained
    metadata = metadata_query(session, df)
    if metadata is not None:
        return metadata
    statement = translate_statement(df.logical_plan(), ctx, text)  # DESCRIBE plans as a query
    return statement if statement is not None else DataFrame(session, df, step="")


def _explain_statement(session: Session, text: str, values: dict[str, Any]) -> st.Statement:
    """DataFusion's plan of a DDL or COPY statement, without running it: the input of EXPLAIN."""
    from datafusion import SQLOptions

    from planner.translate import translate_statement

    ctx = session.state.planner
    try:
        explained = ctx.sql_with_options(f"EXPLAIN {text}", SQLOptions(), param_values=values or None)
        plan = explained.logical_plan().inputs()[0]
    except Exception as exc:  # noqa: BLE001
        raise session.state.planning_error(clean_datafusion_message(exc)) from None
    statement = translate_statement(plan, ctx, text)
    if statement is None:
        raise SQLError(f"internal planning error: no statement in DataFusion's plan of {text!r}")
    return statement


def prepare(session: Session, query: str) -> PreparedStatement:
    """``Session.prepare``: the statement's result and parameter schemas, nothing run."""
    from planner.translate import parameter_types, translate_statement

    text = _prepared_text(query)
    names = sql_text.placeholder_names(text)
    types: dict[str, pa.DataType] = {}
    if sql_text.is_show_tables(text):
        dataset = st.SHOW_TABLES_SCHEMA
    else:
        with session.state.lock:
            ctx = session.state.planner
            try:
                df = ctx.sql_with_options(text, _query_only_options())
            except Exception as exc:  # noqa: BLE001
                message = clean_datafusion_message(exc)
                if _VIEW_DDL.search(message):
                    dataset = pa.schema([])
                elif _STATEMENT.search(message):
                    statement = _explain_statement(session, text, {})
                    dataset = _result_schema(statement)
                    if isinstance(statement, (st.CopyTo, st.CreateTableAs)):
                        types = parameter_types(statement.query)
                else:
                    raise session.state.planning_error(message) from None
            else:
                # Planned (EXPLAIN's query is), not run: a metadata query runs when bound.
                explained = explained_query(session, df)
                metadata = explained is None and reads_only_metadata(df)
                statement = None if explained is not None or metadata else translate_statement(df.logical_plan(), ctx, text)
                if explained is not None:
                    dataset = explained.schema
                elif metadata:
                    dataset = metadata_schema(df)
                elif statement is not None:
                    dataset = _result_schema(statement)
                elif not names:  # planned in full, as Session.sql would: its errors surface now
                    dataset = DataFrame(session, df, step="").physical_plan.schema
                else:  # placeholders cannot be planned before they have values
                    dataset = normalize_schema(df.schema())
                    types = parameter_types(df.logical_plan())
    parameters = pa.schema([pa.field(name, types.get(name, pa.null())) for name in names])
    return PreparedStatement(session, query, dataset, parameters)


def _result_schema(statement: st.Statement) -> pa.Schema:
    if isinstance(statement, (st.CopyTo, st.CreateTableAs)):
        return st.COUNT_SCHEMA
    if isinstance(statement, st.DescribeTable):
        return st.DESCRIBE_SCHEMA
    return pa.schema([])
