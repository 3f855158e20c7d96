"""The translation state (relations, scopes, the translator) and the dispatch tables handlers register in."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import pyarrow as pa
from datafusion import Expr as DFExpr
from datafusion import lit
from datafusion.plan import LogicalPlan

from planner import expr as ex
from planner import ir
from planner.catalog import normalize_schema, normalize_type
from planner.errors import SQLError

if TYPE_CHECKING:
    import datafusion

    from planner.catalog import Catalog


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
        # The unoptimized query; its scalar subqueries re-optimized one by one (by the encoding of
        # the result: the unoptimized encoding and the optimized plan); unoptimized encodings
        # standing in for optimized ones inside a patched plan. For subquery plans DataFusion
        # cannot decode (_reoptimized_subquery).
        self.unoptimized: LogicalPlan | None = None
        self.reoptimized_subqueries: dict[bytes, tuple[bytes, LogicalPlan]] | None = None
        self.subquery_stand_ins: dict[bytes, LogicalPlan] = {}
        # The recursive queries whose recursive term is being translated, innermost last: (CTE
        # name, RecursiveQuery id, column names); and how many scans of each one's work table were met.
        self.recursive_ctes: list[tuple[str, int, tuple[str, ...]]] = []
        self.work_table_scans: dict[int, int] = {}

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
# Dispatch tables
# ---------------------------------------------------------------------------------------------
# planner.translate.plans registers on _translate_plan, planner.translate.expressions in
# _EXPR_HANDLERS; the package's __init__ imports both.


@functools.singledispatch
def _translate_plan(variant: Any, plan: LogicalPlan, t: _Translator) -> _Rel:
    t.unsupported(f"unsupported plan node {type(variant).__name__}: {plan.display()}")
    for child in plan.inputs():  # keep collecting reasons below it
        t.plan(child)
    return t.stand_in(plan, variant)


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


def _sort_keys(t: _Translator, sort_exprs: Any, scope: _Scope) -> tuple[ex.SortKey, ...]:
    return tuple(ex.SortKey(t.expr(s.expr(), scope), s.ascending(), s.nulls_first()) for s in sort_exprs)
