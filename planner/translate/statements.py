"""DataFusion's DDL, COPY and DESCRIBE plans as planner.statements, and the placeholders of a plan."""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Any

import datafusion.expr as dfx
import pyarrow as pa
from datafusion import Expr as DFExpr
from datafusion.plan import LogicalPlan

from planner import statements as st
from planner.catalog import normalize_schema, normalize_type
from planner.errors import SQLError, UnsupportedSQLError
from planner.sql_text import column_definitions
from planner.translate.translator import _wrap

if TYPE_CHECKING:
    import datafusion


def _logical_plan(raw: Any) -> LogicalPlan:
    # Statement variants hand out DataFusion's raw plan objects, not the Python wrapper.
    return raw if isinstance(raw, LogicalPlan) else LogicalPlan(raw)


@functools.singledispatch
def _translate_statement(variant: Any, plan: LogicalPlan, ctx: datafusion.SessionContext, sql: str) -> st.Statement | None:
    return None


@_translate_statement.register(dfx.CreateExternalTable)
def _(v: dfx.CreateExternalTable, plan: LogicalPlan, ctx: datafusion.SessionContext, sql: str) -> st.Statement:
    names = list(v.schema().field_names())
    return st.CreateExternalTable(
        name=st.table_name(v.name()),
        file_type=str(v.file_type()).lower(),
        locations=tuple(v.locations()),
        schema=_declared_schema(ctx, sql, names) if names else None,
        options=tuple(v.options().items()),
        if_not_exists=v.if_not_exists(),
        partition_columns=tuple(v.table_partition_cols()),
        unbounded=v.unbounded(),
        or_replace=re.match(r"(?is)\s*create\s+or\s+replace\b", sql) is not None,
    )


def _declared_schema(ctx: datafusion.SessionContext, sql: str, names: list[str]) -> pa.Schema:
    """The declared columns of a CREATE EXTERNAL TABLE, typed by planning (not running)
    ``CREATE TABLE <scratch> (<the same column list>)``: DataFusion's own type names and rules."""
    from datafusion import SQLOptions

    columns = column_definitions(sql)
    schema = None
    if columns is not None:
        try:
            explained = ctx.sql_with_options(f"EXPLAIN CREATE TABLE __gpu_exec_columns ({columns})", SQLOptions())
            (empty,) = explained.logical_plan().inputs()[0].to_variant().input()
            schema = normalize_schema(ctx.create_dataframe_from_logical_plan(_logical_plan(empty)).schema())
        except Exception as exc:  # noqa: BLE001 — DataFusion raises plain exceptions
            raise SQLError(f"cannot type the declared columns ({columns.strip()}): {exc}") from None
    if schema is None or [_unqualified(n) for n in names] != schema.names:
        raise SQLError(f"internal planning error: cannot read the column list of {sql!r}")
    return schema


def _unqualified(name: str) -> str:
    return name.rsplit(".", 1)[-1]


@_translate_statement.register(dfx.CreateMemoryTable)
def _(v: dfx.CreateMemoryTable, plan: LogicalPlan, ctx: datafusion.SessionContext, sql: str) -> st.Statement:
    (query,) = v.input()
    return st.CreateTableAs(st.table_name(v.name()), _logical_plan(query), v.or_replace(), v.if_not_exists())


@_translate_statement.register(dfx.DropTable)
def _(v: dfx.DropTable, plan: LogicalPlan, ctx: datafusion.SessionContext, sql: str) -> st.Statement:
    return st.DropTable(st.table_name(v.name()), v.if_exists())


@_translate_statement.register(dfx.CopyTo)
def _(v: dfx.CopyTo, plan: LogicalPlan, ctx: datafusion.SessionContext, sql: str) -> st.Statement:
    # The format is only in FileType's text: "FileType(FileType: ParquetFormatFactory { ... })".
    found = re.search(r"(\w+)FormatFactory", str(v.file_type()))
    file_type = found.group(1).lower() if found else str(v.file_type())
    return st.CopyTo(_logical_plan(v.input()), v.output_url(), file_type, tuple(v.options().items()),
                     tuple(v.partition_by()))


@_translate_statement.register(dfx.DmlStatement)
def _(v: dfx.DmlStatement, plan: LogicalPlan, ctx: datafusion.SessionContext, sql: str) -> st.Statement:
    op = str(v.op()).rsplit(".", 1)[-1]
    if op != "Append":
        raise UnsupportedSQLError([f"{op} of rows: gpu-exec tables are files it only adds to "
                                   "(INSERT INTO ... SELECT / VALUES); rewrite the table with CREATE OR REPLACE TABLE AS"])
    return st.InsertInto(st.table_name(str(v.table_name())), _logical_plan(v.input()))


@_translate_statement.register(dfx.DescribeTable)
def _(v: dfx.DescribeTable, plan: LogicalPlan, ctx: datafusion.SessionContext, sql: str) -> st.Statement:
    return st.DescribeTable(normalize_schema(v.schema()))


# Expression accessors of the plan variants that may hold placeholders.
_PLAN_EXPRESSIONS = ("projections", "predicate", "group_by_exprs", "aggregate_exprs", "sort_exprs", "skip",
                     "fetch", "filter", "filters", "window_exprs", "values", "on")
_LEAF_EXPRESSIONS = {"Column", "Literal", "ScalarVariable", "OuterReferenceColumn", "ScalarSubquery", "Exists",
                     "InSubquery", "Wildcard"}


def _plan_expressions(variant: Any) -> list[Any]:
    out: list[Any] = []

    def collect(value: Any) -> None:
        if value is None or isinstance(value, (bool, int, float, str)):  # e.g. a TableScan's fetch
            return
        if isinstance(value, (list, tuple)):
            for item in value:
                collect(item)
        elif type(value).__name__ == "SortExpr":
            out.append(value.expr())
        elif isinstance(value, DFExpr) or type(value).__name__ in ("RawExpr", "Expr"):
            out.append(value)

    for accessor in _PLAN_EXPRESSIONS:
        method = getattr(variant, accessor, None)
        if callable(method):
            try:
                collect(method())
            except Exception:  # noqa: BLE001 — an accessor that does not apply to this variant
                continue
    return out


def _placeholder_types(e: DFExpr, found: dict[str, pa.DataType]) -> None:
    kind = e.variant_name()
    if kind == "Placeholder":
        field = e.to_variant().field()
        if field is not None:
            found.setdefault(e.to_variant().id().removeprefix("$"), normalize_type(field.type))
        return
    if kind in _LEAF_EXPRESSIONS:
        return
    try:
        operands = e.rex_call_operands()
    except Exception:  # noqa: BLE001 — no operands for this kind of expression
        return
    for operand in operands:
        _placeholder_types(_wrap(operand), found)
