"""The handlers of DataFusion's expressions, registered in ``_EXPR_HANDLERS`` by variant name."""

from __future__ import annotations

import pyarrow as pa
from datafusion import Expr as DFExpr

from planner import expr as ex
from planner.catalog import normalize_type
from planner.errors import SQLError
from planner.functions import canonical_function, refusal_reason
from planner.regex import call_reason as regex_call_reason
from planner.translate.calls import _with_unit_argument
from planner.translate.literals import _literal
from planner.translate.protobuf import _PB_EXPR_ILIKE, _proto_tag
from planner.translate.subqueries import _scalar_subquery_plan
from planner.udf import UdfCall
from planner.translate.translator import (
    _handles,
    _Scope,
    _stand_in_expr,
    _Translator,
    _wrap,
)


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


_BOOLEAN_OPS = {op.value for op in ex.BinaryOperator if op.is_comparison} | {"AND", "OR"}


@_handles("BinaryExpr")
def _(t: _Translator, e: DFExpr, scope: _Scope) -> ex.Expr:
    b = e.to_variant()
    left, right = t.expr(b.left(), scope), t.expr(b.right(), scope)
    symbol = b.op()
    if symbol in _REGEX_OPS:
        return _regex_match(t, symbol, left, right, e)
    try:
        op = ex.BinaryOperator(symbol)
    except ValueError:
        t.unsupported(f"unsupported operator {symbol} in {e.canonical_name()}")
        return _stand_in_expr()
    dtype = pa.bool_() if symbol in _BOOLEAN_OPS else scope.dtype(e)
    return ex.BinaryOp(op, left, right, dtype)


# DataFusion's RegexMatch / RegexIMatch / RegexNotMatch / RegexNotIMatch: regexp_like(s, p[, 'i']),
# negated for !~ and !~* (both NULL for a NULL operand, as DataFusion's).
_REGEX_OPS = {"~": ("", False), "~*": ("i", False), "!~": ("", True), "!~*": ("i", True)}


def _regex_match(t: _Translator, symbol: str, left: ex.Expr, right: ex.Expr, e: DFExpr) -> ex.Expr:
    flags, negated = _REGEX_OPS[symbol]
    args = (left, right, ex.Literal(flags, pa.string()))
    reason = regex_call_reason("regexp_like", args, e.canonical_name())
    if reason:
        t.unsupported(reason.replace("regexp_like()", f"the operator {symbol}"))
        return _stand_in_expr(pa.bool_())
    call = ex.ScalarFunction("regexp_like", args, pa.bool_())
    return ex.UnaryOp(ex.UnaryOperator.NOT, call, pa.bool_()) if negated else call


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


@_handles("ScalarFunction")
def _(t: _Translator, e: DFExpr, scope: _Scope) -> ex.Expr:
    name = e.rex_call_operator()
    args = t.exprs(e.rex_call_operands(), scope)
    udf = t.catalog.udf(name)
    if udf is not None:
        return UdfCall(udf, tuple(args), scope.dtype(e))
    spec = canonical_function(name)
    if spec is None:
        t.unsupported(f"unsupported function {name}() in {e.canonical_name()}: {refusal_reason(name)}")
        return _stand_in_expr()
    if not spec.min_args <= len(args) <= (spec.max_args if spec.max_args is not None else len(args)):
        t.unsupported(f"{name}() with {len(args)} arguments: gpu-exec runs {spec.name} with "
                      f"{spec.min_args}..{spec.max_args if spec.max_args is not None else 'any'}, in {e.canonical_name()}")
        return _stand_in_expr()
    if not spec.string_args and any(pa.types.is_string(a.dtype) for a in args):
        t.unsupported(f"{name}() of a string is not supported (DataFusion's chrono formats are not "
                      f"implemented): {e.canonical_name()}")
        return _stand_in_expr()
    if spec.units is not None:
        args = _with_unit_argument(t, spec.name, args, e)
    if spec.name.startswith("regexp_") and (reason := regex_call_reason(spec.name, tuple(args), e.canonical_name())):
        t.unsupported(reason)
        return _stand_in_expr()
    return ex.ScalarFunction(spec.name, args, scope.dtype(e))


@_handles("ScalarSubquery")
def _(t: _Translator, e: DFExpr, scope: _Scope) -> ex.Expr:
    plan = _scalar_subquery_plan(t, e)
    if plan is None:
        return _stand_in_expr()
    rel = t.plan(plan)
    if len(rel.node.schema) != 1:
        raise SQLError(f"internal planning error: a scalar subquery returns {len(rel.node.schema)} columns")
    return ex.ScalarSubquery(rel.node, rel.node.schema.field(0).type)


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
