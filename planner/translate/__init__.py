"""DataFusion's optimized logical plan → gpu-exec's IR; the only package that touches DataFusion plans.

One ``functools.singledispatch`` handler per plan variant (``plan.to_variant()``), one handler per
expression kind (``expr.variant_name()``). Unsupported constructs are recorded, the walk goes on,
and ``translate`` raises :class:`UnsupportedSQLError` with every reason at the end (the
cudf-polars ``Translator.errors`` pattern); other planning problems raise :class:`SQLError`.

How the facts DataFusion's Python API does not expose are obtained (datafusion 55.0.0):

- Column references: resolved against the input's qualified field names (``DFSchema.field_names``)
  into positions; a join's residual filter indexes the left columns, then the right ones.
- Types: a node's typed schema comes from ``ctx.create_dataframe_from_logical_plan(node).schema()``.
  A sub-expression's type is asked of DataFusion itself: the expression is ``select``-ed over a
  DataFrame of the owning node's input (a join's filter: over ``left.join_on(right, TRUE)``), so
  coercion rules (decimal precision, date + interval, function return types) are DataFusion's own,
  never re-derived here. Columns, literals and boolean-valued expressions are typed locally.
- Fields with no Python accessor are read from DataFusion's own protobuf encoding of the expression
  (``Expr.to_bytes``): the plan of an uncorrelated scalar subquery (``Subquery.input()`` returns
  nothing), an aggregate's ``FILTER (WHERE ...)``, a window aggregate's DISTINCT/FILTER, and whether
  a LIKE is an ILIKE, and the grouping sets of GROUPING SETS / CUBE / ROLLUP. The join's
  ``null_aware`` flag is read from the node's one-line display.
- A scalar subquery whose encoded plan DataFusion cannot decode (an always-false filter became a
  schema-less EmptyRelation) is found again in the unoptimized plan, optimized on its own, and
  taken only when its encoding equals the failing one byte for byte.
- WITH RECURSIVE: DataFusion's RecursiveQuery gives its name, distinct flag and two terms; the scan
  of its work table is a TableScan of the bare CTE name inside the recursive term whose encoding
  (``LogicalPlan.to_bytes``) is a CteWorkTableScanNode (plans._work_table_scan), never a catalog
  table of that name.
- GROUPING SETS / CUBE / ROLLUP become a UNION ALL of one plain Aggregate per grouping set, the
  absent keys NULL and ``__grouping_id`` a constant per branch (plans._grouping_sets).

Strings are ``pa.string()`` everywhere in the IR (Utf8View and LargeUtf8 are normalized).

Statements (``translate_statement``): DataFusion's DDL, COPY and DESCRIBE plans become the classes
of planner.statements, and ``parameter_types`` reads the types DataFusion inferred for a query's
placeholders.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
from datafusion.plan import LogicalPlan

from planner import ir
from planner import statements as st
from planner.errors import GpuExecError, SQLError, UnsupportedSQLError

# Importing the handler modules registers their handlers: here, and nowhere else.
from planner.translate import expressions, plans  # noqa: F401
from planner.translate.statements import (
    _placeholder_types,
    _plan_expressions,
    _translate_statement,
)
from planner.translate.subqueries import _subquery_kind
from planner.translate.translator import _Translator, _wrap

if TYPE_CHECKING:
    import datafusion

    from planner.catalog import Catalog

__all__ = ["translate", "translate_statement", "parameter_types"]


def translate(
    plan: LogicalPlan, ctx: datafusion.SessionContext, catalog: Catalog, unoptimized: LogicalPlan | None = None
) -> ir.PlanNode:
    """Translate DataFusion's optimized logical plan into gpu-exec's IR.

    Parameters
    ----------
    plan
        ``df.optimized_logical_plan()`` of a query planned by ``ctx``.
    ctx
        The DataFusion session that planned ``plan``; used to ask DataFusion the types of
        sub-expressions and to decode scalar subqueries.
    catalog
        gpu-exec's tables; every table the plan scans must be registered there.
    unoptimized
        ``df.logical_plan()``, when known: it still says whether the query's subqueries are IN or
        EXISTS, which decides the NULL semantics of DataFusion's mark joins (see
        ``_subquery_kind``).

    Returns
    -------
    ir.PlanNode
        The root of the IR plan; its schema equals DataFusion's result schema with strings
        normalized to ``pa.string()``.

    Raises
    ------
    UnsupportedSQLError
        Listing every unsupported construct of the query at once.
    SQLError
        For any other problem met while translating.
    """
    translator = _Translator(ctx, catalog)
    translator.subquery_kind = _subquery_kind(unoptimized)
    translator.unoptimized = unoptimized
    try:
        root = translator.plan(plan)
    except GpuExecError as exc:
        # An unsupported node is replaced by a stand-in so the walk can go on; if a parent then
        # trips over the stand-in, the user still needs the unsupported reasons, not the symptom.
        if translator.reasons:
            raise UnsupportedSQLError(translator.reasons) from exc
        raise
    except Exception as exc:  # noqa: BLE001 — DataFusion's Python API raises plain exceptions
        if translator.reasons:
            raise UnsupportedSQLError(translator.reasons) from exc
        raise SQLError(f"internal planning error while translating DataFusion's plan: {exc!r}") from exc
    if translator.reasons:
        raise UnsupportedSQLError(translator.reasons)
    return root.node


def translate_statement(plan: LogicalPlan, ctx: datafusion.SessionContext, sql: str) -> st.Statement | None:
    """The statement of ``plan`` as gpu-exec's (planner.statements); None when it is a query.

    Parameters
    ----------
    plan
        DataFusion's plan of the statement, not run: the input of ``EXPLAIN <statement>`` for DDL
        and COPY, which DataFusion refuses to plan otherwise without running it; the plan itself
        for DESCRIBE.
    ctx
        The planning context (it types declared columns).
    sql
        The statement's text: DataFusion's Python API gives the names of a CREATE EXTERNAL
        TABLE's declared columns but not their types.
    """
    return _translate_statement(plan.to_variant(), plan, ctx, sql)


def parameter_types(plan: LogicalPlan) -> dict[str, pa.DataType]:
    """The types DataFusion inferred for the placeholders of ``plan`` (unoptimized, unbound), by
    name without ``$``: from the comparisons and arithmetic they appear in (``a > $1`` gives
    ``a``'s type). Placeholders DataFusion could not type, and those inside subqueries or
    aggregate FILTER clauses (not reachable from Python), are absent."""
    found: dict[str, pa.DataType] = {}
    pending = [plan]
    while pending:
        node = pending.pop()
        for e in _plan_expressions(node.to_variant()):
            _placeholder_types(_wrap(e), found)
        pending.extend(node.inputs())
    return found
