"""DataFusion's optimized logical plan → gpu-exec's IR; the only module that touches DataFusion plans.

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
  a LIKE is an ILIKE. The join's ``null_aware`` flag is read from the node's one-line display.

Strings are ``pa.string()`` everywhere in the IR (Utf8View and LargeUtf8 are normalized).

Statements (``translate_statement``): DataFusion's DDL, COPY and DESCRIBE plans become the classes
of planner.statements, and ``parameter_types`` reads the types DataFusion inferred for a query's
placeholders.
"""

from __future__ import annotations

import decimal
import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import datafusion.expr as dfx
import pyarrow as pa
from datafusion import Expr as DFExpr
from datafusion import lit
from datafusion.plan import LogicalPlan

from planner import expr as ex
from planner import ir
from planner import statements as st
from planner.catalog import normalize_schema, normalize_type
from planner.errors import GpuExecError, SQLError, UnsupportedSQLError
from planner.sql_text import column_definitions

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


# ---------------------------------------------------------------------------------------------
# Translation state
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Rel:
    """A translated plan node, with what its parent needs to resolve and type expressions."""

    node: ir.PlanNode
    plan: LogicalPlan  # the DataFusion node whose output ``node`` reproduces (qualifiers included)
    names: tuple[str, ...]  # DataFusion's qualified field names ("t.x", "sum(t.z)"), by position
    df_schema: pa.Schema  # DataFusion's types and nullability, strings not yet normalized


class _Scope:
    """The columns an expression may read (an operator's input), by position.

    Resolves DataFusion column references to positions and asks DataFusion the type of any
    expression over these columns.
    """

    def __init__(
        self,
        names: tuple[str, ...],
        df_schema: pa.Schema,
        make_frame: Callable[[], datafusion.DataFrame],
    ) -> None:
        self.df_schema = df_schema
        self._make_frame = make_frame
        self._frame: datafusion.DataFrame | None = None
        self._fields: dict[str, pa.Field] = {}
        self._by_name: dict[tuple[str | None, str], list[int]] = {}
        for i, (qualified, f) in enumerate(zip(names, df_schema)):
            self._by_name.setdefault((_qualifier(qualified, f.name), f.name), []).append(i)

    def index_of(self, relation: str | None, name: str) -> int:
        hits = self._by_name.get((relation, name), [])
        if relation is None and not hits:
            hits = [i for (_, n), idx in self._by_name.items() if n == name for i in idx]
        if len(hits) != 1:
            shown = f"{relation}.{name}" if relation else name
            why = "is ambiguous" if hits else "is not among the input columns"
            raise _ColumnNotFound(f"internal planning error: column {shown!r} {why}")
        return hits[0]

    def dtype(self, e: DFExpr) -> pa.DataType:
        return normalize_type(self.field(e).type)

    def field(self, e: DFExpr) -> pa.Field:
        """DataFusion's output field (type, nullability) for ``e`` evaluated over this scope."""
        key = e.canonical_name()
        # Every scalar subquery prints as "(<subquery>)": such texts do not identify the expression.
        cacheable = "<subquery>" not in key
        cached = self._fields.get(key) if cacheable else None
        if cached is not None:
            return cached
        if self._frame is None:
            self._frame = self._make_frame()
        try:
            result = self._frame.select(e.alias("__gpu_exec_type")).schema().field(0)
        except Exception as exc:  # noqa: BLE001 — DataFusion raises plain exceptions
            raise SQLError(f"internal planning error: DataFusion cannot type {key}: {exc}") from exc
        if cacheable:
            self._fields[key] = result
        return result


class _ColumnNotFound(SQLError):
    """A column reference that does not resolve in its scope."""


def _qualifier(qualified: str, name: str) -> str | None:
    if qualified != name and qualified.endswith("." + name):
        return qualified[: -len(name) - 1]
    return None


class _Translator:
    """Walks one plan; collects the reasons it cannot be run."""

    def __init__(self, ctx: datafusion.SessionContext, catalog: Catalog) -> None:
        self.ctx = ctx
        self.catalog = catalog
        self.reasons: list[str] = []
        # Mark columns ("__correlated_sq_1.mark") that a Filter reads only under AND/OR, where a
        # NULL mark filters exactly like FALSE (see _join_null_aware).
        self.positive_marks: set[str] = set()
        self.subquery_kind: str | None = None

    def unsupported(self, reason: str) -> None:
        self.reasons.append(reason)

    # ---- plans -------------------------------------------------------------------------------
    def plan(self, plan: LogicalPlan) -> _Rel:
        return _translate_plan(plan.to_variant(), plan, self)

    def inputs(self, plan: LogicalPlan) -> list[_Rel]:
        return [self.plan(child) for child in plan.inputs()]

    def df_schema(self, plan: LogicalPlan) -> pa.Schema:
        try:
            return self.ctx.create_dataframe_from_logical_plan(plan).schema()
        except Exception as exc:  # noqa: BLE001
            raise SQLError(f"internal planning error: DataFusion gives no schema for a plan node: {exc}") from exc

    def rel(self, node_factory: Callable[[pa.Schema], ir.PlanNode], plan: LogicalPlan, variant: Any) -> _Rel:
        """A _Rel for ``plan``: ``node_factory`` gets the normalized output schema."""
        df_schema = self.df_schema(plan)
        return _Rel(node_factory(normalize_schema(df_schema)), plan, _field_names(variant), df_schema)

    def stand_in(self, plan: LogicalPlan, variant: Any) -> _Rel:
        """An empty relation of the node's schema, standing for a node that cannot be translated,
        so that the walk (and the reasons) can go on above it."""
        try:
            names = _field_names(variant)
            df_schema = self.df_schema(plan)
        except (AttributeError, SQLError):
            names, df_schema = (), pa.schema([])
        return _Rel(ir.EmptyRelation(False, normalize_schema(df_schema)), plan, names, df_schema)

    def scope(self, rel: _Rel) -> _Scope:
        return _Scope(rel.names, rel.df_schema, lambda: self.ctx.create_dataframe_from_logical_plan(rel.plan))

    def join_scope(self, left: _Rel, right: _Rel) -> _Scope:
        """Left columns then right columns: what a join's residual filter reads."""

        def frame() -> datafusion.DataFrame:
            lf = self.ctx.create_dataframe_from_logical_plan(left.plan)
            rf = self.ctx.create_dataframe_from_logical_plan(right.plan)
            return lf.join_on(rf, lit(True), how="inner")

        schema = pa.schema(list(left.df_schema) + list(right.df_schema))
        return _Scope(left.names + right.names, schema, frame)

    # ---- expressions -------------------------------------------------------------------------
    def expr(self, e: Any, scope: _Scope) -> ex.Expr:
        e = _wrap(e)
        handler = _EXPR_HANDLERS.get(e.variant_name(), _unsupported_expr)
        return handler(self, e, scope)

    def exprs(self, es: Any, scope: _Scope) -> tuple[ex.Expr, ...]:
        return tuple(self.expr(e, scope) for e in es)

    def proto(self, e: DFExpr) -> bytes:
        """DataFusion's protobuf encoding of ``e`` (LogicalExprNode), for fields Python lacks."""
        try:
            return e.to_bytes(self.ctx)
        except Exception as exc:  # noqa: BLE001
            message = f"internal planning error: DataFusion cannot encode {e.canonical_name()}: {exc}"
            raise SQLError(message) from exc


def _field_names(variant: Any) -> tuple[str, ...]:
    return tuple(variant.schema().field_names())


def _wrap(e: Any) -> DFExpr:
    return e if isinstance(e, DFExpr) else DFExpr(e)


def _raw(e: Any) -> Any:
    return e.expr if isinstance(e, DFExpr) else e


# ---------------------------------------------------------------------------------------------
# Plan nodes
# ---------------------------------------------------------------------------------------------


@functools.singledispatch
def _translate_plan(variant: Any, plan: LogicalPlan, t: _Translator) -> _Rel:
    t.unsupported(f"unsupported plan node {type(variant).__name__}: {plan.display()}")
    for child in plan.inputs():  # keep collecting reasons below it
        t.plan(child)
    return t.stand_in(plan, variant)


@_translate_plan.register(dfx.TableScan)
def _(v: dfx.TableScan, plan: LogicalPlan, t: _Translator) -> _Rel:
    name = _catalog_name(v, t.catalog)
    if name not in t.catalog:
        t.unsupported(
            f"table {name!r} is not registered with gpu-exec (only tables registered through gpu-exec "
            "can be read; information_schema and DataFusion-only tables cannot)"
        )
        return t.stand_in(plan, v)
    source = t.catalog.get(name)
    df_schema = t.df_schema(plan)
    schema = normalize_schema(df_schema)
    _check_scan_columns(name, schema, source.schema)
    names = _field_names(v)
    rel = _Rel(ir.EmptyRelation(False, schema), plan, names, df_schema)
    scope = t.scope(rel)
    filters = []
    for f in v.filters():
        try:
            filters.append(t.expr(f, scope))
        except _ColumnNotFound:
            # Pushed-down filters may only read scanned columns for the scan to apply them.
            t.unsupported(
                f"a filter pushed into the scan of {name!r} reads a column the scan does not read: "
                f"{_wrap(f).canonical_name()}"
            )
    node = ir.TableScan(source, tuple(schema.names), tuple(filters), v.fetch(), schema)
    return _Rel(node, plan, names, df_schema)


def _catalog_name(v: dfx.TableScan, catalog: Catalog) -> str:
    """The catalog name of a scanned table: ``t``, also when written ``public.t`` or
    ``datafusion.public.t`` (gpu-exec registers its tables in DataFusion's default schema)."""
    name = v.table_name()
    catalog_part, schema_part, table = v.fqn()
    if name not in catalog and catalog_part in (None, "datafusion") and schema_part in (None, "public"):
        return table
    return name


def _check_scan_columns(table: str, scanned: pa.Schema, source: pa.Schema) -> None:
    """DataFusion and the catalog must agree on the table, or operators would read other types."""
    for f in scanned:
        index = source.get_field_index(f.name)
        if index < 0:
            raise SQLError(
                f"table {table!r}: DataFusion reads column {f.name!r}, which the catalog does not have; "
                "register the table again"
            )
        if source.field(index).type != f.type:
            raise SQLError(
                f"table {table!r}: DataFusion types column {f.name!r} as {f.type} but the catalog has "
                f"{source.field(index).type}; register the table again"
            )


@_translate_plan.register(dfx.Projection)
def _(v: dfx.Projection, plan: LogicalPlan, t: _Translator) -> _Rel:
    (child,) = t.inputs(plan)
    exprs = t.exprs(v.projections(), t.scope(child))
    return t.rel(lambda schema: ir.Projection(child.node, exprs, schema), plan, v)


@_translate_plan.register(dfx.Filter)
def _(v: dfx.Filter, plan: LogicalPlan, t: _Translator) -> _Rel:
    predicate = _wrap(v.predicate())
    t.positive_marks |= _positive_mark_columns(predicate)  # before the mark join below is translated
    (child,) = t.inputs(plan)
    translated = t.expr(predicate, t.scope(child))
    return t.rel(lambda schema: ir.Filter(child.node, translated, schema), plan, v)


@_translate_plan.register(dfx.SubqueryAlias)
def _(v: dfx.SubqueryAlias, plan: LogicalPlan, t: _Translator) -> _Rel:
    # Same rows and positions; only the qualifiers change ("__correlated_sq_1.l_orderkey").
    (child,) = t.inputs(plan)
    return _Rel(child.node, plan, _field_names(v), child.df_schema)


@_translate_plan.register(dfx.Repartition)
def _(v: dfx.Repartition, plan: LogicalPlan, t: _Translator) -> _Rel:
    # DataFusion's own partitioning hint; gpu-exec's physical planner places its exchanges itself.
    (child,) = t.inputs(plan)
    return _Rel(child.node, plan, child.names, child.df_schema)


@_translate_plan.register(dfx.Sort)
def _(v: dfx.Sort, plan: LogicalPlan, t: _Translator) -> _Rel:
    (child,) = t.inputs(plan)
    keys = _sort_keys(t, v.sort_exprs(), t.scope(child))
    return t.rel(lambda schema: ir.Sort(child.node, keys, v.get_fetch_val(), schema), plan, v)


def _sort_keys(t: _Translator, sort_exprs: Any, scope: _Scope) -> tuple[ex.SortKey, ...]:
    return tuple(ex.SortKey(t.expr(s.expr(), scope), s.ascending(), s.nulls_first()) for s in sort_exprs)


@_translate_plan.register(dfx.Limit)
def _(v: dfx.Limit, plan: LogicalPlan, t: _Translator) -> _Rel:
    (child,) = t.inputs(plan)
    skip = _limit_value(t, v.skip(), "OFFSET")
    fetch = _limit_value(t, v.fetch(), "LIMIT")
    return t.rel(lambda schema: ir.Limit(child.node, skip or 0, fetch, schema), plan, v)


def _limit_value(t: _Translator, e: Any, clause: str) -> int | None:
    # DataFusion 55 keeps LIMIT/OFFSET as expressions; after constant folding they are literals.
    if e is None:
        return None
    e = _wrap(e)
    value = e.python_value().as_py() if e.variant_name() == "Literal" else None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    t.unsupported(f"{clause} must be a non-negative integer constant, not {e.canonical_name()}")
    return None


@_translate_plan.register(dfx.Aggregate)
def _(v: dfx.Aggregate, plan: LogicalPlan, t: _Translator) -> _Rel:
    (child,) = t.inputs(plan)
    scope = t.scope(child)
    group_exprs = [_wrap(g) for g in v.group_by_exprs()]
    if any(g.variant_name() == "GroupingSet" for g in group_exprs):
        t.unsupported("GROUPING SETS, ROLLUP and CUBE are not supported; use a UNION ALL of GROUP BYs")
        for a in v.aggregate_exprs():  # keep collecting reasons
            _aggregate_call(t, _wrap(a), scope, pa.field("", pa.null()))
        return t.stand_in(plan, v)
    group_by = t.exprs(group_exprs, scope)
    df_schema = t.df_schema(plan)
    calls = tuple(
        _aggregate_call(t, _wrap(a), scope, df_schema.field(len(group_by) + i))
        for i, a in enumerate(v.aggregate_exprs())
    )
    schema = normalize_schema(df_schema)
    return _Rel(ir.Aggregate(child.node, group_by, calls, schema), plan, _field_names(v), df_schema)


_AGGREGATE_FUNCTIONS = {f.value: f for f in ex.AggregateFunction} | {"mean": ex.AggregateFunction.AVG}


def _aggregate_call(t: _Translator, a: DFExpr, scope: _Scope, out: pa.Field) -> ex.AggregateCall:
    inner = _unalias(a)
    dtype = normalize_type(out.type)
    if inner.variant_name() != "AggregateFunction":
        t.unsupported(f"unsupported aggregate expression {a.canonical_name()}")
        return ex.AggregateCall(ex.AggregateFunction.COUNT, (), False, None, dtype, out.name)
    call = inner.to_variant()
    name = call.aggregate_type()
    func = _AGGREGATE_FUNCTIONS.get(name.lower())
    if func is None:
        t.unsupported(f"unsupported aggregate function {name}() (gpu-exec runs sum, avg, min, max, count)")
    args = t.exprs(call.args(), scope)
    condition = _aggregate_filter(t, a)
    filt = t.expr(condition, scope) if condition is not None else None
    return ex.AggregateCall(func or ex.AggregateFunction.COUNT, args, call.is_distinct(), filt, dtype, out.name)


def _aggregate_filter(t: _Translator, a: DFExpr) -> DFExpr | None:
    """The ``FILTER (WHERE ...)`` of an aggregate call; Python exposes it only in the encoding."""
    if "FILTER (WHERE" not in a.canonical_name():  # DataFusion always prints a filter this way
        return None
    node = _proto_unalias(t.proto(a))
    call = _proto_field(node, _PB_EXPR_AGGREGATE_UDF)
    condition = _proto_field(call, _PB_AGGREGATE_FILTER) if isinstance(call, bytes) else None
    if not isinstance(condition, bytes):
        return None
    return DFExpr.from_bytes(condition, t.ctx)


@_translate_plan.register(dfx.Distinct)
def _(v: dfx.Distinct, plan: LogicalPlan, t: _Translator) -> _Rel:
    (child,) = t.inputs(plan)
    if repr(v).startswith("Distinct(Distinct ON"):  # the variant has no accessor for the kind
        t.unsupported("SELECT DISTINCT ON is not supported")
        return _Rel(ir.EmptyRelation(False, child.node.schema), plan, child.names, child.df_schema)
    # DISTINCT = GROUP BY every column, no aggregates.
    keys = tuple(ex.ColumnRef(i, f.name, f.type) for i, f in enumerate(child.node.schema))
    node = ir.Aggregate(child.node, keys, (), child.node.schema)
    return _Rel(node, plan, child.names, child.df_schema)


@_translate_plan.register(dfx.Union)
def _(v: dfx.Union, plan: LogicalPlan, t: _Translator) -> _Rel:
    children = t.inputs(plan)
    df_schema = t.df_schema(plan)
    schema = normalize_schema(df_schema)
    inputs = tuple(_conform(child, schema) for child in children)
    return _Rel(ir.Union(inputs, schema), plan, _field_names(v), df_schema)


def _conform(child: _Rel, schema: pa.Schema) -> ir.PlanNode:
    """``child`` with the union's column types (DataFusion casts them itself; this is a guard)."""
    have = child.node.schema
    if len(have) != len(schema):
        raise SQLError(f"internal planning error: a UNION input has {len(have)} columns, the union {len(schema)}")
    if all(h.type == w.type for h, w in zip(have, schema)):
        return child.node
    exprs: list[ex.Expr] = []
    for i, (h, w) in enumerate(zip(have, schema)):
        ref = ex.ColumnRef(i, h.name, h.type)
        exprs.append(ref if h.type == w.type else ex.Cast(ref, w.type))
    fields = [pa.field(h.name, w.type, w.nullable) for h, w in zip(have, schema)]
    return ir.Projection(child.node, tuple(exprs), pa.schema(fields))


@_translate_plan.register(dfx.EmptyRelation)
def _(v: dfx.EmptyRelation, plan: LogicalPlan, t: _Translator) -> _Rel:
    return t.rel(lambda schema: ir.EmptyRelation(bool(v.produce_one_row()), schema), plan, v)


@_translate_plan.register(dfx.Values)
def _(v: dfx.Values, plan: LogicalPlan, t: _Translator) -> _Rel:
    df_schema = t.df_schema(plan)
    schema = normalize_schema(df_schema)
    rows = tuple(
        tuple(_values_cell(t, _wrap(cell), schema.field(j).type) for j, cell in enumerate(row)) for row in v.values()
    )
    return _Rel(ir.Values(rows, schema), plan, _field_names(v), df_schema)


def _values_cell(t: _Translator, cell: DFExpr, dtype: pa.DataType) -> ex.Literal:
    if cell.variant_name() != "Literal":
        t.unsupported(f"VALUES entries must be constants, not {cell.canonical_name()}")
        return ex.Literal(None, dtype)
    literal = _literal(t, cell.python_value())
    if literal.dtype == dtype or literal.value is None:
        return ex.Literal(literal.value, dtype)
    try:  # a VALUES column has one type; DataFusion casts entries to it when it runs them
        value = pa.scalar(literal.value, type=literal.dtype).cast(dtype).as_py()
    except (pa.ArrowException, TypeError, ValueError):
        t.unsupported(f"VALUES entry {cell.canonical_name()} does not convert to the column type {dtype}")
        return ex.Literal(None, dtype)
    return ex.Literal(value, dtype)


# ---- joins ----------------------------------------------------------------------------------

_JOIN_TYPES = {
    "Inner": ir.JoinType.INNER,
    "Left": ir.JoinType.LEFT,
    "Right": ir.JoinType.RIGHT,
    "Full": ir.JoinType.FULL,
    "LeftSemi": ir.JoinType.LEFT_SEMI,
    "LeftAnti": ir.JoinType.LEFT_ANTI,
    "RightSemi": ir.JoinType.RIGHT_SEMI,
    "RightAnti": ir.JoinType.RIGHT_ANTI,
    "LeftMark": ir.JoinType.LEFT_MARK,
}


@_translate_plan.register(dfx.Join)
def _(v: dfx.Join, plan: LogicalPlan, t: _Translator) -> _Rel:
    left, right = t.inputs(plan)
    lscope, rscope, both = t.scope(left), t.scope(right), t.join_scope(left, right)
    pairs = [(_wrap(lk), _wrap(rk)) for lk, rk in v.on()]
    left_keys = tuple(t.expr(lk, lscope) for lk, _ in pairs)
    right_keys = tuple(t.expr(rk, rscope) for _, rk in pairs)
    condition = _wrap(v.filter()) if v.filter() is not None else None
    filt = t.expr(condition, both) if condition is not None else None
    kind = str(v.join_type())
    how = _JOIN_TYPES.get(kind)
    if how is None:
        t.unsupported(f"unsupported join type {kind}")
        return t.stand_in(plan, v)
    df_schema = t.df_schema(plan)
    schema = normalize_schema(df_schema)
    names = _field_names(v)
    if how is ir.JoinType.INNER and not pairs and condition is None:
        return _Rel(ir.CrossJoin(left.node, right.node, schema), plan, names, df_schema)
    if how is ir.JoinType.LEFT_ANTI:
        null_aware = _anti_join_null_aware(t, plan, len(pairs))
    elif how is ir.JoinType.LEFT_MARK:
        # Whether any match condition can be UNKNOWN, by DataFusion's own nullability analysis.
        unknowable = any(lscope.field(lk).nullable or rscope.field(rk).nullable for lk, rk in pairs) or (
            condition is not None and both.field(condition).nullable
        )
        if t.subquery_kind == "in" and len(pairs) == 1 and condition is None:
            null_aware = True  # every subquery of the query is an uncorrelated IN: SQL's rule
        elif t.subquery_kind == "exists":
            null_aware = False  # EXISTS is never unknown
        else:
            null_aware = _mark_join_null_aware(t, names[-1], unknowable)
    else:
        null_aware = False
    node = ir.Join(
        left.node, right.node, how, left_keys, right_keys, filt, bool(v.null_equals_null()), null_aware, schema
    )
    return _Rel(node, plan, names, df_schema)


def _anti_join_null_aware(t: _Translator, plan: LogicalPlan, keys: int) -> bool:
    """DataFusion 55 marks the anti join of ``WHERE x NOT IN (subquery)`` null-aware when NULLs
    are possible; the flag has no Python accessor, but the node's display ends with it."""
    null_aware = plan.display().rstrip().endswith(" null_aware")
    if null_aware and keys != 1:
        # The IR's flag would apply to every key, SQL's rule only to the IN comparison.
        t.unsupported(
            "NOT IN (correlated subquery): a null-aware anti join on more than one key "
            "(DataFusion 55 cannot run it either); rewrite it as NOT EXISTS"
        )
    return null_aware


def _subquery_kind(unoptimized: LogicalPlan | None) -> str | None:
    """"in" when every subquery predicate of the query is ``[NOT] IN (subquery)``, "exists" when
    every one is ``[NOT] EXISTS``, else None. Read from the unoptimized plan's text, the only
    place DataFusion 55 still tells them apart (its display prints ``IN (<subquery>)``,
    ``EXISTS (<subquery>)``, ``= ANY (<subquery>)``); a mix gives None and the cautious rule."""
    if unoptimized is None:
        return None
    text = unoptimized.display_indent()
    exists = text.count("EXISTS (<subquery>)")
    ins = text.count(" IN (<subquery>)")
    others = text.count("ANY (<subquery>)") + text.count("ALL (<subquery>)")
    if ins and not exists and not others:
        return "in"
    if exists and not ins and not others:
        return "exists"
    return None


def _mark_join_null_aware(t: _Translator, mark: str, unknowable: bool) -> bool:
    """A LeftMark join (IN / EXISTS subquery inside OR) carries no null-aware flag in DataFusion
    55, and its plan no longer says which of the two it came from: IN's mark is NULL when NULLs
    leave the comparison unknown, EXISTS's is FALSE (apache/datafusion#8241). The answers agree
    when no match condition can be UNKNOWN, or when the Filter above reads the mark only under
    AND/OR (a NULL row is dropped like a FALSE one). Otherwise refuse rather than answer wrongly.
    """
    if mark in t.positive_marks or not unknowable:
        return False
    t.unsupported(
        "[NOT] IN (subquery) or [NOT] EXISTS under NOT or IS inside an OR, on values that may "
        "be NULL: DataFusion 55's mark join does not record whether a NULL makes the result "
        "unknown (IN) or false (EXISTS) (apache/datafusion#8241); move the subquery to a "
        "plain WHERE conjunct or exclude NULLs explicitly"
    )
    return False


def _positive_mark_columns(predicate: DFExpr) -> set[str]:
    """Mark columns of ``predicate`` read only as operands of AND/OR chains from the top."""
    positive: set[str] = set()
    others: list[str] = []
    stack = [predicate]
    while stack:
        e = stack.pop()
        kind = e.variant_name()
        if kind == "Alias":
            stack.append(_wrap(e.to_variant().expr()))
            continue
        if kind == "BinaryExpr":
            b = e.to_variant()
            if b.op() in ("AND", "OR"):
                stack += [_wrap(b.left()), _wrap(b.right())]
                continue
        if kind == "Column" and e.to_variant().name() == "mark":
            positive.add(e.to_variant().qualified_name())
            continue
        others.append(e.canonical_name())
    # A mark also read elsewhere (under NOT, IS NULL, ...) is not purely positive. Matching the
    # text can only over-report, which refuses a query rather than mis-answering it.
    return {m for m in positive if not any(m in text for text in others)}


# ---- windows --------------------------------------------------------------------------------

_WINDOW_FUNCTIONS = {f.value: f for f in ex.WindowFunction}
_RANKING = {ex.WindowFunction.ROW_NUMBER, ex.WindowFunction.RANK, ex.WindowFunction.DENSE_RANK}


@_translate_plan.register(dfx.WindowExpr)
def _(v: dfx.WindowExpr, plan: LogicalPlan, t: _Translator) -> _Rel:
    (child,) = t.inputs(plan)
    scope = t.scope(child)
    df_schema = t.df_schema(plan)
    first = len(child.node.schema)
    calls = tuple(
        _window_call(t, v, _wrap(w), scope, df_schema.field(first + i)) for i, w in enumerate(v.get_window_expr())
    )
    schema = normalize_schema(df_schema)
    return _Rel(ir.Window(child.node, calls, schema), plan, _field_names(v), df_schema)


def _window_call(t: _Translator, v: dfx.WindowExpr, w: DFExpr, scope: _Scope, out: pa.Field) -> ex.WindowCall:
    inner = _unalias(w)
    dtype = normalize_type(out.type)
    if inner.variant_name() != "WindowFunction":
        t.unsupported(f"unsupported window expression {w.canonical_name()}")
        return ex.WindowCall(ex.WindowFunction.ROW_NUMBER, (), (), (), ex.WindowFrame.WHOLE_PARTITION, dtype, out.name)
    raw = _raw(inner)
    name = v.window_func_name(raw)
    func = _WINDOW_FUNCTIONS.get(name.lower())
    if func is None:
        t.unsupported(
            f"unsupported window function {name}() (gpu-exec runs row_number, rank, dense_rank, "
            "sum, avg, min, max, count)"
        )
    _check_window_modifiers(t, inner)
    args = t.exprs(v.get_args(raw), scope)
    partition_by = t.exprs(v.get_partition_exprs(raw), scope)
    order_by = _sort_keys(t, v.get_sort_exprs(raw), scope)
    frame = _window_frame(v.get_frame(raw), bool(order_by), func in _RANKING)
    if frame is None:
        t.unsupported(
            f"unsupported window frame in {inner.canonical_name()}: gpu-exec runs the default frames "
            "and ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"
        )
        frame = ex.WindowFrame.WHOLE_PARTITION
    return ex.WindowCall(
        func or ex.WindowFunction.ROW_NUMBER, args, partition_by, order_by, frame, dtype, out.name
    )


def _check_window_modifiers(t: _Translator, w: DFExpr) -> None:
    text = w.canonical_name()
    if "DISTINCT" not in text and "FILTER" not in text:  # DataFusion prints both when present
        return
    node = _proto_field(t.proto(w), _PB_EXPR_WINDOW)
    if not isinstance(node, bytes):
        return
    if _proto_field(node, _PB_WINDOW_DISTINCT):
        t.unsupported(f"DISTINCT in a window aggregate is not supported: {text}")
    if _proto_field(node, _PB_WINDOW_FILTER) is not None:
        t.unsupported(f"FILTER in a window aggregate is not supported: {text}")


def _window_frame(frame: Any, ordered: bool, ranking: bool) -> ex.WindowFrame | None:
    """gpu-exec's frame for DataFusion's, or None when it is not one gpu-exec runs."""
    if ranking:  # SQL ignores the frame of ranking functions
        return ex.WindowFrame.RANGE_TO_CURRENT if ordered else ex.WindowFrame.WHOLE_PARTITION
    if frame is None:
        return ex.WindowFrame.RANGE_TO_CURRENT if ordered else ex.WindowFrame.WHOLE_PARTITION
    units = str(frame.get_frame_units()).upper()
    lower, upper = frame.get_lower_bound(), frame.get_upper_bound()
    if not (lower.is_unbounded() and lower.is_preceding()) or units not in ("ROWS", "RANGE"):
        return None
    if upper.is_unbounded() and upper.is_following():
        return ex.WindowFrame.WHOLE_PARTITION
    if upper.is_current_row():
        if units == "ROWS":
            return ex.WindowFrame.ROWS_TO_CURRENT
        # Without ORDER BY every row is a peer of every other: the frame is the whole partition.
        return ex.WindowFrame.RANGE_TO_CURRENT if ordered else ex.WindowFrame.WHOLE_PARTITION
    return None


# ---------------------------------------------------------------------------------------------
# Expressions
# ---------------------------------------------------------------------------------------------

_ExprHandler = Callable[[_Translator, DFExpr, _Scope], ex.Expr]
_EXPR_HANDLERS: dict[str, _ExprHandler] = {}


def _handles(*variant_names: str) -> Callable[[_ExprHandler], _ExprHandler]:
    def register(fn: _ExprHandler) -> _ExprHandler:
        for name in variant_names:
            _EXPR_HANDLERS[name] = fn
        return fn

    return register


def _unsupported_expr(t: _Translator, e: DFExpr, scope: _Scope) -> ex.Expr:
    t.unsupported(f"unsupported expression ({e.variant_name()}): {e.canonical_name()}")
    return _stand_in_expr()


def _stand_in_expr(dtype: pa.DataType | None = None) -> ex.Expr:
    """Stands for an untranslatable expression; never returned, since translate() then raises."""
    return ex.Literal(None, dtype or pa.null())


def _unalias(e: DFExpr) -> DFExpr:
    while e.variant_name() == "Alias":
        e = _wrap(e.to_variant().expr())
    return e


@_handles("Alias")
def _(t: _Translator, e: DFExpr, scope: _Scope) -> ex.Expr:
    # The alias names the output column (in the node's schema); the value is the inner expression.
    return t.expr(e.to_variant().expr(), scope)


@_handles("Column")
def _(t: _Translator, e: DFExpr, scope: _Scope) -> ex.Expr:
    column = e.to_variant()
    index = scope.index_of(column.relation(), column.name())
    return ex.ColumnRef(index, column.name(), normalize_type(scope.df_schema.field(index).type))


@_handles("Literal")
def _(t: _Translator, e: DFExpr, scope: _Scope) -> ex.Expr:
    return _literal(t, e.python_value())


def _literal(t: _Translator, scalar: pa.Scalar) -> ex.Literal:
    """A Literal of the exact Arrow type DataFusion gave the constant."""
    dtype = normalize_type(scalar.type)
    if not scalar.is_valid:
        return ex.Literal(None, dtype)
    value = scalar.as_py()
    if pa.types.is_decimal(dtype):
        value = _with_scale(value, dtype.scale)
    elif pa.types.is_interval(dtype) and dtype == pa.month_day_nano_interval():
        value = (value.months, value.days, value.nanoseconds)
    elif pa.types.is_timestamp(dtype) and hasattr(value, "to_pydatetime"):
        # pyarrow gives a pandas.Timestamp for nanosecond timestamps when pandas is installed.
        if value.nanosecond:
            t.unsupported(f"timestamp constant {value} has sub-microsecond precision")
        value = value.to_pydatetime()
    elif not _plain_literal_type(dtype):
        t.unsupported(f"unsupported constant of type {scalar.type}: {value!r}")
    return ex.Literal(value, dtype)


def _plain_literal_type(dtype: pa.DataType) -> bool:
    return (
        pa.types.is_boolean(dtype)
        or pa.types.is_integer(dtype)
        or pa.types.is_floating(dtype)
        or pa.types.is_string(dtype)
        or pa.types.is_date(dtype)
        or pa.types.is_timestamp(dtype)
        or pa.types.is_null(dtype)
    )


def _with_scale(value: decimal.Decimal, scale: int) -> decimal.Decimal:
    # Decimal('1') of Decimal128(20, 0) and Decimal('0.10') of Decimal128(15, 2): the value
    # carries the type's scale, so str() and arithmetic in kernels see the planned digits.
    if scale < 0:
        return value
    return value.quantize(decimal.Decimal(1).scaleb(-scale), context=_DECIMAL_CONTEXT)


_DECIMAL_CONTEXT = decimal.Context(prec=80)  # wider than Decimal256; the default 28 digits is not


_BOOLEAN_OPS = {op.value for op in ex.BinaryOperator if op.is_comparison} | {"AND", "OR"}


@_handles("BinaryExpr")
def _(t: _Translator, e: DFExpr, scope: _Scope) -> ex.Expr:
    b = e.to_variant()
    left, right = t.expr(b.left(), scope), t.expr(b.right(), scope)
    symbol = b.op()
    try:
        op = ex.BinaryOperator(symbol)
    except ValueError:
        what = "regular expression match" if symbol.strip("!*") == "~" else "operator"
        t.unsupported(f"unsupported {what} {symbol} in {e.canonical_name()}")
        return _stand_in_expr()
    dtype = pa.bool_() if symbol in _BOOLEAN_OPS else scope.dtype(e)
    return ex.BinaryOp(op, left, right, dtype)


_UNARY = {
    "Not": ex.UnaryOperator.NOT,
    "IsNull": ex.UnaryOperator.IS_NULL,
    "IsNotNull": ex.UnaryOperator.IS_NOT_NULL,
    "IsTrue": ex.UnaryOperator.IS_TRUE,
    "IsFalse": ex.UnaryOperator.IS_FALSE,
    "IsNotTrue": ex.UnaryOperator.IS_NOT_TRUE,
    "IsNotFalse": ex.UnaryOperator.IS_NOT_FALSE,
    # On a boolean, UNKNOWN is NULL.
    "IsUnknown": ex.UnaryOperator.IS_NULL,
    "IsNotUnknown": ex.UnaryOperator.IS_NOT_NULL,
}


@_handles(*_UNARY)
def _(t: _Translator, e: DFExpr, scope: _Scope) -> ex.Expr:
    return ex.UnaryOp(_UNARY[e.variant_name()], t.expr(e.to_variant().expr(), scope), pa.bool_())


@_handles("Negative")
def _(t: _Translator, e: DFExpr, scope: _Scope) -> ex.Expr:
    operand = t.expr(e.to_variant().expr(), scope)
    return ex.UnaryOp(ex.UnaryOperator.NEGATE, operand, operand.dtype)


@_handles("Between")
def _(t: _Translator, e: DFExpr, scope: _Scope) -> ex.Expr:
    # x BETWEEN a AND b is x >= a AND x <= b; NOT BETWEEN is x < a OR x > b (NULLs alike).
    b = e.to_variant()
    x, low, high = t.expr(b.expr(), scope), t.expr(b.low(), scope), t.expr(b.high(), scope)
    B, bool_ = ex.BinaryOperator, pa.bool_()
    if b.negated():
        return ex.BinaryOp(B.OR, ex.BinaryOp(B.LT, x, low, bool_), ex.BinaryOp(B.GT, x, high, bool_), bool_)
    return ex.BinaryOp(B.AND, ex.BinaryOp(B.GT_EQ, x, low, bool_), ex.BinaryOp(B.LT_EQ, x, high, bool_), bool_)


@_handles("Like", "ILike")
def _(t: _Translator, e: DFExpr, scope: _Scope) -> ex.Expr:
    like = e.to_variant()
    operand = t.expr(like.expr(), scope)
    pattern = _wrap(like.pattern())
    value = pattern.python_value().as_py() if pattern.variant_name() == "Literal" else None
    if not isinstance(value, str):
        t.unsupported(f"LIKE needs a constant pattern: {e.canonical_name()}")
        return _stand_in_expr(pa.bool_())
    # DataFusion's Like variant serves ILIKE too, with no accessor for the flag: the text says
    # "ILIKE" (possibly inside the operand or pattern too), the encoding says it exactly.
    case_insensitive = e.variant_name() == "ILike" or (
        "ILIKE" in e.canonical_name() and _proto_tag(t.proto(e)) == _PB_EXPR_ILIKE
    )
    return ex.Like(operand, value, bool(like.negated()), case_insensitive, like.escape_char())


@_handles("InList")
def _(t: _Translator, e: DFExpr, scope: _Scope) -> ex.Expr:
    in_list = e.to_variant()
    operand = t.expr(in_list.expr(), scope)
    values = t.exprs(in_list.list(), scope)
    negated = bool(in_list.negated())
    if all(isinstance(v, ex.Literal) and v.dtype == operand.dtype for v in values):
        return ex.InList(operand, values, negated)
    # Not constants of the operand's type: x IN (a, b) is x = a OR x = b under SQL's NULL rules,
    # and x NOT IN (a, b) is x != a AND x != b.
    B, bool_ = ex.BinaryOperator, pa.bool_()
    compare, combine = (B.NOT_EQ, B.AND) if negated else (B.EQ, B.OR)
    terms = [ex.BinaryOp(compare, operand, v, bool_) for v in values]
    result = terms[0]
    for term in terms[1:]:
        result = ex.BinaryOp(combine, result, term, bool_)
    return result


@_handles("Case")
def _(t: _Translator, e: DFExpr, scope: _Scope) -> ex.Expr:
    case = e.to_variant()
    subject = case.expr()
    operand = t.expr(subject, scope) if subject is not None else None
    whens: list[tuple[ex.Expr, ex.Expr]] = []
    for when, then in case.when_then_expr():
        condition = t.expr(when, scope)
        if operand is not None:  # CASE x WHEN v ... is CASE WHEN x = v ...
            condition = ex.BinaryOp(ex.BinaryOperator.EQ, operand, condition, pa.bool_())
        whens.append((condition, t.expr(then, scope)))
    otherwise = case.else_expr()
    return ex.Case(tuple(whens), t.expr(otherwise, scope) if otherwise is not None else None, scope.dtype(e))


@_handles("Cast", "TryCast")
def _(t: _Translator, e: DFExpr, scope: _Scope) -> ex.Expr:
    operand = t.expr(e.to_variant().expr(), scope)
    return ex.Cast(operand, scope.dtype(e), safe=e.variant_name() == "TryCast")


# DataFusion's function names (and aliases) → planner.expr.SCALAR_FUNCTIONS.
_SCALAR_FUNCTIONS = {
    "substr": "substr",
    "substring": "substr",
    "upper": "upper",
    "lower": "lower",
    "character_length": "character_length",
    "char_length": "character_length",
    "length": "character_length",
    "octet_length": "octet_length",
    "btrim": "trim",
    "trim": "trim",
    "ltrim": "ltrim",
    "rtrim": "rtrim",
    "concat": "concat",
    "starts_with": "starts_with",
    "ends_with": "ends_with",
    "strpos": "strpos",
    "instr": "strpos",
    "replace": "replace",
    "abs": "abs",
    "round": "round",
    "floor": "floor",
    "ceil": "ceil",
    "coalesce": "coalesce",
    "nullif": "nullif",
    "date_part": "date_part",
    "datepart": "date_part",
    "date_trunc": "date_trunc",
    "datetrunc": "date_trunc",
}
_DATE_PART_UNITS = {"year", "quarter", "month", "week", "day", "doy", "dow", "hour", "minute", "second"}
_DATE_TRUNC_UNITS = {"year", "quarter", "month", "week", "day"}
assert set(_SCALAR_FUNCTIONS.values()) <= set(ex.SCALAR_FUNCTIONS)


@_handles("ScalarFunction")
def _(t: _Translator, e: DFExpr, scope: _Scope) -> ex.Expr:
    name = e.rex_call_operator()
    args = t.exprs(e.rex_call_operands(), scope)
    canonical = _SCALAR_FUNCTIONS.get(name.lower())
    if canonical is None:
        t.unsupported(f"unsupported function {name}() in {e.canonical_name()}")
        return _stand_in_expr()
    if canonical in ("date_part", "date_trunc"):
        args = _with_unit_argument(t, canonical, args, e)
    return ex.ScalarFunction(canonical, args, scope.dtype(e))


def _with_unit_argument(t: _Translator, name: str, args: tuple[ex.Expr, ...], e: DFExpr) -> tuple[ex.Expr, ...]:
    """date_part/date_trunc: the unit must be a known string constant; EXTRACT(YEAR ...) spells it
    'YEAR', so it is lower-cased here once for every backend."""
    units = _DATE_PART_UNITS if name == "date_part" else _DATE_TRUNC_UNITS
    unit = args[0] if args else None
    text = unit.value.lower() if isinstance(unit, ex.Literal) and isinstance(unit.value, str) else None
    text = ex.DATE_PART_ALIASES.get(text, text) if text is not None else None
    if text not in units:
        t.unsupported(f"{name} needs one of the units {', '.join(sorted(units))} as a constant: {e.canonical_name()}")
        return args
    return (ex.Literal(text, pa.string()), *args[1:])


@_handles("ScalarSubquery")
def _(t: _Translator, e: DFExpr, scope: _Scope) -> ex.Expr:
    plan = _scalar_subquery_plan(t, e)
    if plan is None:
        return _stand_in_expr()
    rel = t.plan(plan)
    if len(rel.node.schema) != 1:
        raise SQLError(f"internal planning error: a scalar subquery returns {len(rel.node.schema)} columns")
    return ex.ScalarSubquery(rel.node, rel.node.schema.field(0).type)


def _scalar_subquery_plan(t: _Translator, e: DFExpr) -> LogicalPlan | None:
    """The plan of an uncorrelated scalar subquery, decoded from DataFusion's encoding of ``e``
    (the Python ``Subquery.input()`` returns no plan in datafusion 55)."""
    correlated = (
        "correlated scalar subquery (it reads columns of the outer query and DataFusion did not turn it "
        "into a join)"
    )
    try:
        encoded = e.to_bytes(t.ctx)
    except Exception as exc:  # noqa: BLE001
        if "OuterReferenceColumn" in str(exc) or "outer_ref" in str(exc):
            t.unsupported(correlated)
        else:
            t.unsupported(f"scalar subquery DataFusion cannot hand over: {exc}")
        return None
    subquery = _proto_field(_proto_field(encoded, _PB_EXPR_SCALAR_SUBQUERY) or b"", _PB_SCALAR_SUBQUERY_NODE)
    if not isinstance(subquery, bytes):
        raise SQLError("internal planning error: unexpected encoding of a scalar subquery")
    if _proto_field(subquery, _PB_SUBQUERY_OUTER_REFS) is not None:
        t.unsupported(correlated)
        return None
    plan_bytes = _proto_field(subquery, _PB_SUBQUERY_PLAN)
    if not isinstance(plan_bytes, bytes):
        raise SQLError("internal planning error: a scalar subquery has no plan")
    try:
        return LogicalPlan.from_bytes(t.ctx, plan_bytes)
    except Exception as exc:  # noqa: BLE001
        raise SQLError(f"internal planning error: cannot decode a scalar subquery's plan: {exc}") from exc


@_handles("OuterReferenceColumn")
def _(t: _Translator, e: DFExpr, scope: _Scope) -> ex.Expr:
    t.unsupported(
        f"correlated subquery reading the outer column {e.canonical_name()} (DataFusion did not turn it into a join)"
    )
    return _stand_in_expr()


@_handles("Exists", "InSubquery")
def _(t: _Translator, e: DFExpr, scope: _Scope) -> ex.Expr:
    t.unsupported(
        f"{e.canonical_name()} outside a WHERE clause: DataFusion did not turn this "
        f"{'EXISTS' if e.variant_name() == 'Exists' else 'IN'} subquery into a join"
    )
    return _stand_in_expr(pa.bool_())


@_handles("SimilarTo", "RLike")
def _(t: _Translator, e: DFExpr, scope: _Scope) -> ex.Expr:
    t.unsupported(f"SIMILAR TO is not supported: {e.canonical_name()}")
    return _stand_in_expr(pa.bool_())


@_handles("Placeholder")
def _(t: _Translator, e: DFExpr, scope: _Scope) -> ex.Expr:
    t.unsupported(f"query parameter {e.canonical_name()} has no value; bind parameters before planning")
    return _stand_in_expr()


@_handles("AggregateFunction", "WindowFunction")
def _(t: _Translator, e: DFExpr, scope: _Scope) -> ex.Expr:
    t.unsupported(f"{e.canonical_name()} where DataFusion left it inside another expression")
    return _stand_in_expr()


# ---------------------------------------------------------------------------------------------
# Statements (DDL, COPY, DESCRIBE) and placeholders
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# DataFusion's protobuf encoding (datafusion-proto 55), read for fields Python does not expose.
# Only the wire format is parsed: varint and length-delimited fields.
# ---------------------------------------------------------------------------------------------

_PB_EXPR_ALIAS = 2  # LogicalExprNode.alias: AliasNode {expr = 1}
_PB_ALIAS_EXPR = 1
_PB_EXPR_WINDOW = 18  # LogicalExprNode.window_expr: WindowExprNode
_PB_WINDOW_DISTINCT = 12
_PB_WINDOW_FILTER = 13
_PB_EXPR_AGGREGATE_UDF = 19  # LogicalExprNode.aggregate_udf_expr: AggregateUDFExprNode
_PB_AGGREGATE_FILTER = 3
_PB_EXPR_ILIKE = 32  # LogicalExprNode.ilike (31 is like)
_PB_EXPR_SCALAR_SUBQUERY = 36  # LogicalExprNode.scalar_subquery_expr: {subquery = 1}
_PB_SCALAR_SUBQUERY_NODE = 1
_PB_SUBQUERY_PLAN = 1  # SubqueryNode.subquery: LogicalPlanNode
_PB_SUBQUERY_OUTER_REFS = 2  # SubqueryNode.outer_ref_columns


def _proto_fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    """The top-level (field number, value) pairs of a protobuf message."""
    out: list[tuple[int, int | bytes]] = []
    i, n = 0, len(buf)
    while i < n:
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
            out.append((number, value))
        elif wire == 2:
            length, i = _varint(buf, i)
            out.append((number, buf[i : i + length]))
            i += length
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        else:
            raise SQLError(f"internal planning error: unexpected protobuf wire type {wire}")
    return out


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, i


def _proto_field(buf: bytes, number: int) -> int | bytes | None:
    """The value of field ``number`` (the last one, as protobuf merges singular fields)."""
    found: int | bytes | None = None
    for field_number, value in _proto_fields(buf):
        if field_number == number:
            found = value
    return found


def _proto_tag(buf: bytes) -> int | None:
    """Which member of LogicalExprNode's ``oneof`` an encoded expression is."""
    fields = _proto_fields(buf)
    return fields[0][0] if fields else None


def _proto_unalias(buf: bytes) -> bytes:
    while _proto_tag(buf) == _PB_EXPR_ALIAS:
        inner = _proto_field(_proto_field(buf, _PB_EXPR_ALIAS) or b"", _PB_ALIAS_EXPR)
        if not isinstance(inner, bytes):
            break
        buf = inner
    return buf
