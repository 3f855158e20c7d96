"""The handlers of DataFusion's plan nodes, registered on ``_translate_plan`` by variant class."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import datafusion.expr as dfx
import pyarrow as pa
from datafusion import Expr as DFExpr
from datafusion.plan import LogicalPlan

from planner import expr as ex
from planner import ir
from planner.catalog import normalize_schema
from planner.errors import SQLError
from planner.translate.calls import _aggregate_call, _check_aggregate_orders, _window_call
from planner.translate.literals import _literal
from planner.translate.protobuf import _PB_PLAN_CTE_WORK_TABLE_SCAN, _proto_fields
from planner.translate.subqueries import (
    _anti_join_null_aware,
    _mark_join_null_aware,
    _positive_mark_columns,
)
from planner.translate.translator import (
    _ColumnNotFound,
    _field_names,
    _Rel,
    _sort_keys,
    _translate_plan,
    _Translator,
    _wrap,
)

if TYPE_CHECKING:
    from planner.catalog import Catalog


@_translate_plan.register(dfx.TableScan)
def _(v: dfx.TableScan, plan: LogicalPlan, t: _Translator) -> _Rel:
    work = _work_table_scan(v, plan, t)
    if work is not None:
        return work
    name = _catalog_name(v, t.catalog)
    if name not in t.catalog:
        t.unsupported(
            f"table {name!r} is not registered with gpu-exec (only tables registered through gpu-exec "
            "can be read; information_schema can be queried on its own, not with data tables)"
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


def _work_table_scan(v: dfx.TableScan, plan: LogicalPlan, t: _Translator) -> _Rel | None:
    """The scan of a recursive query's work table, or None for a catalog table.

    Inside a recursive term the bare CTE name is the work table (``public.r`` stays the catalog's
    ``r``), and DataFusion's encoding of the scan says so for certain: its table source is a
    CteWorkTable, encoded as a CteWorkTableScanNode (a catalog table encodes as something else,
    or not at all without gpu-exec's codec)."""
    catalog_part, schema_part, table = v.fqn()
    if catalog_part is not None or schema_part is not None:
        return None
    found = next(((i, names) for name, i, names in reversed(t.recursive_ctes) if name == table), None)
    if found is None:
        return None
    rid, cte_columns = found
    try:
        encoded = plan.to_bytes(t.ctx)
    except Exception:  # noqa: BLE001 — a table source DataFusion cannot encode is not a work table
        return None
    fields = _proto_fields(encoded)
    if not fields or fields[0][0] != _PB_PLAN_CTE_WORK_TABLE_SCAN:
        return None
    t.work_table_scans[rid] = t.work_table_scans.get(rid, 0) + 1
    if v.filters():
        t.unsupported(f"filters pushed into the scan of the recursive CTE {table!r}")
    df_schema = t.df_schema(plan)
    # A scan decoded from a scalar subquery's encoding has no projection list: by name then.
    columns = tuple(index for index, _ in v.projection()) or tuple(cte_columns.index(n) for n in df_schema.names)
    node = ir.WorkTableScan(table, rid, columns, v.fetch(), normalize_schema(df_schema))
    return _Rel(node, plan, _field_names(v), df_schema)


@_translate_plan.register(dfx.RecursiveQuery)
def _(v: dfx.RecursiveQuery, plan: LogicalPlan, t: _Translator) -> _Rel:
    # The static term is planned before the CTE's name exists: only the recursive term reads the
    # work table (gpu_exec.engine.operators.recursive runs the rounds).
    static_plan, recursive_plan = plan.inputs()
    static = t.plan(static_plan)
    name = v.name()
    df_schema = t.df_schema(plan)
    rid = len(t.work_table_scans)
    t.work_table_scans[rid] = 0
    t.recursive_ctes.append((name, rid, tuple(df_schema.names)))
    try:
        recursive = t.plan(recursive_plan)
    finally:
        t.recursive_ctes.pop()
    scans = sum(isinstance(n, ir.WorkTableScan) and n.id == rid for n in ir.walk_plan(recursive.node))
    if t.work_table_scans[rid] > 1:
        # DataFusion refuses it too ("Multiple recursive references to the same CTE"); SQL's
        # recursion is linear: each round reads the previous one's rows once.
        t.unsupported(f"the recursive CTE {name!r} is referenced more than once in its recursive term")
    elif t.work_table_scans[rid] != scans:
        t.unsupported(f"the recursive CTE {name!r} is read inside a subquery of its recursive term "
                      "(scalar subqueries are computed before the query runs)")
    schema = normalize_schema(df_schema)
    node = ir.RecursiveQuery(_conform(static, schema), _conform(recursive, schema), name, bool(v.is_distinct()),
                             rid, schema)
    return _Rel(node, plan, static.names, df_schema)  # DataFusion's RecursiveQuery has its static term's schema


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
        return _grouping_sets(t, v, plan, child, group_exprs)
    group_by = t.exprs(group_exprs, scope)
    df_schema = t.df_schema(plan)
    calls = tuple(
        _aggregate_call(t, _wrap(a), scope, df_schema.field(len(group_by) + i))
        for i, a in enumerate(v.aggregate_exprs())
    )
    _check_aggregate_orders(t, calls)
    schema = normalize_schema(df_schema)
    return _Rel(ir.Aggregate(child.node, group_by, calls, schema), plan, _field_names(v), df_schema)


# LogicalExprNode members holding grouping sets (datafusion-proto 55): GroupingSetNode {repeated
# LogicalExprList expr = 1} with LogicalExprList {repeated LogicalExprNode expr = 1}; CubeNode and
# RollupNode {repeated LogicalExprNode expr = 1}. The Python GroupingSet accessors return nothing.
_PB_GROUPING_SET, _PB_CUBE, _PB_ROLLUP = 22, 23, 24


def _grouping_set_lists(t: _Translator, e: DFExpr) -> list[list[bytes]] | None:
    """The grouping sets of ``e`` (GROUPING SETS, CUBE or ROLLUP), each a list of encoded key
    expressions, in DataFusion's order; None when the encoding is not one of those."""
    encoded = t.proto(e)
    fields = _proto_fields(encoded)
    if len(fields) != 1 or not isinstance(fields[0][1], bytes):
        return None
    tag, body = fields[0]
    assert isinstance(body, bytes)
    items = [value for number, value in _proto_fields(body) if number == 1 and isinstance(value, bytes)]
    if tag == _PB_GROUPING_SET:
        return [[x for n, x in _proto_fields(item) if n == 1 and isinstance(x, bytes)] for item in items]
    if tag == _PB_ROLLUP:  # (a, b, c), (a, b), (a), ()
        return [items[:i] for i in range(len(items), -1, -1)]
    if tag == _PB_CUBE:  # every subset
        return [[x for j, x in enumerate(items) if mask >> j & 1] for mask in range(2 ** len(items) - 1, -1, -1)]
    return None


def _grouping_sets(t: _Translator, v: dfx.Aggregate, plan: LogicalPlan, child: _Rel,
                   group_exprs: list[DFExpr]) -> _Rel:
    """GROUPING SETS / CUBE / ROLLUP as a UNION ALL of one plain aggregate per grouping set.

    DataFusion's Aggregate outputs every distinct key, then ``__grouping_id``, then the
    aggregates; a key absent from a row's grouping set is NULL there, and bit ``n - 1 - i`` of
    the grouping id (n keys) is set when key i is absent; GROUPING() above reads those bits with
    & and >>. Each branch aggregates over its own keys and projects the rest as typed NULLs and
    the grouping id as a constant: nothing but ordinary operators, so it distributes like any
    GROUP BY (each branch reads the input again)."""
    scope = t.scope(child)
    df_schema = t.df_schema(plan)
    sets = _grouping_set_lists(t, group_exprs[0]) if len(group_exprs) == 1 else None
    if sets is None:
        t.unsupported(f"grouping sets DataFusion encodes in an unexpected way: {plan.display()}")
        return t.stand_in(plan, v)
    keys: list[bytes] = []  # the distinct keys, in order of first appearance (DataFusion's order)
    for members in sets:
        keys.extend(k for k in members if k not in keys)
    n = len(keys)
    names = _field_names(v)
    key_exprs = [DFExpr.from_bytes(k, t.ctx) for k in keys]
    if n >= len(names) or names[n] != "__grouping_id":
        raise SQLError(f"internal planning error: unexpected grouping sets aggregate schema {names}")
    group_by = t.exprs(key_exprs, scope)
    calls = tuple(
        _aggregate_call(t, _wrap(a), scope, df_schema.field(n + 1 + i)) for i, a in enumerate(v.aggregate_exprs())
    )
    _check_aggregate_orders(t, calls)
    schema = normalize_schema(df_schema)
    id_type = schema.field(n).type
    branches: list[ir.PlanNode] = []
    for members in sets:
        present = [i for i, k in enumerate(keys) if k in members]
        grouping_id = sum(1 << (n - 1 - i) for i in range(n) if i not in present)
        fields = [schema.field(i) for i in present] + [schema.field(n + 1 + j) for j in range(len(calls))]
        agg = ir.Aggregate(child.node, tuple(group_by[i] for i in present), calls, pa.schema(fields))
        exprs: list[ex.Expr] = []
        for i in range(n):
            f = schema.field(i)
            exprs.append(ex.ColumnRef(present.index(i), f.name, f.type) if i in present else ex.Literal(None, f.type))
        exprs.append(ex.Literal(grouping_id, id_type))
        exprs += [ex.ColumnRef(len(present) + j, fields[len(present) + j].name, fields[len(present) + j].type)
                  for j in range(len(calls))]
        branches.append(ir.Projection(agg, tuple(exprs), schema))
    node = branches[0] if len(branches) == 1 else ir.Union(tuple(branches), schema)
    return _Rel(node, plan, names, df_schema)


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
    # DataFusion wraps a constant in a cast to its column's type (strings to Utf8View), or in an
    # alias once the cast is folded: the entry's value is the constant's, cast below.
    while cell.variant_name() in ("Cast", "TryCast", "Alias"):
        cell = _wrap(cell.to_variant().expr())
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


# ---- windows --------------------------------------------------------------------------------


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
