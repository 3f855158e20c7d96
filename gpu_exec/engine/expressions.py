"""Expression evaluation over the Kernels protocol, written once for every backend."""

from __future__ import annotations

from functools import singledispatch
from typing import TYPE_CHECKING, Any, Sequence

from planner.errors import ExecutionError
from planner.expr import (
    BinaryOp,
    Case,
    Cast,
    ColumnRef,
    Expr,
    InList,
    Like,
    Literal,
    ScalarFunction,
    ScalarSubquery,
    UnaryOp,
    UnaryOperator,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from gpu_exec.engine.context import ExecutionContext
    from gpu_exec.engine.kernels import Column, Operand, Table

__all__ = ["evaluate", "evaluate_column", "evaluate_columns", "append_columns"]


def evaluate_column(expr: Expr, table: Table, ctx: ExecutionContext) -> Column:
    """``expr`` over every row of ``table`` as a backend column (constants broadcast)."""
    value = evaluate(expr, table, ctx)
    if isinstance(value, Literal):
        return ctx.kernels.literal_column(value, ctx.kernels.num_rows(table))
    return value


def evaluate_columns(exprs: Sequence[Expr], table: Table, ctx: ExecutionContext) -> list[Column]:
    return [evaluate_column(e, table, ctx) for e in exprs]


def append_columns(
    table: Table, columns: Sequence[Column], schema: pa.Schema, extra: Sequence[pa.Field], ctx: ExecutionContext
) -> Table:
    """``table`` (of ``schema``) with ``columns`` added after its own, as fields ``extra``."""
    import pyarrow as pa

    k = ctx.kernels
    own = [k.column(table, i) for i in range(len(schema))]
    return k.make_table(own + list(columns), pa.schema(list(schema) + list(extra)), k.num_rows(table))


@singledispatch
def evaluate(expr: Expr, table: Table, ctx: ExecutionContext) -> Operand:
    """``expr`` over ``table``: a backend column, or a Literal when the value is constant."""
    # translate/ refuses every expression kind not handled below; reaching here is a bug.
    raise ExecutionError(f"internal error: no evaluator for expression {type(expr).__name__}")


@evaluate.register(ColumnRef)
def _(expr: ColumnRef, table: Table, ctx: ExecutionContext) -> Operand:
    return ctx.kernels.column(table, expr.index)


@evaluate.register(Literal)
def _(expr: Literal, table: Table, ctx: ExecutionContext) -> Operand:
    return expr


@evaluate.register(ScalarSubquery)
def _(expr: ScalarSubquery, table: Table, ctx: ExecutionContext) -> Operand:
    try:
        return ctx.subquery_values[expr]
    except KeyError:
        raise ExecutionError("internal error: scalar subquery was not computed before its use") from None


@evaluate.register(BinaryOp)
def _(expr: BinaryOp, table: Table, ctx: ExecutionContext) -> Operand:
    left: Any = evaluate(expr.left, table, ctx)
    right: Any = evaluate(expr.right, table, ctx)
    if isinstance(left, Literal) and isinstance(right, Literal):
        left = ctx.kernels.literal_column(left, ctx.kernels.num_rows(table))
    return ctx.kernels.binary(expr.op, left, right, expr.dtype, ctx.kernels.num_rows(table))


@evaluate.register(UnaryOp)
def _(expr: UnaryOp, table: Table, ctx: ExecutionContext) -> Operand:
    return ctx.kernels.unary(expr.op, evaluate_column(expr.operand, table, ctx), expr.dtype)


@evaluate.register(Cast)
def _(expr: Cast, table: Table, ctx: ExecutionContext) -> Operand:
    return ctx.kernels.cast(evaluate_column(expr.operand, table, ctx), expr.dtype, expr.safe)


@evaluate.register(Case)
def _(expr: Case, table: Table, ctx: ExecutionContext) -> Operand:
    # Fold from the last WHEN backwards: each condition picks its value over everything after it.
    k = ctx.kernels
    n = k.num_rows(table)
    result: Any = evaluate(expr.otherwise, table, ctx) if expr.otherwise is not None else Literal(None, expr.dtype)
    for cond, value in reversed(expr.whens):
        result = k.if_else(evaluate_column(cond, table, ctx), evaluate(value, table, ctx), result, expr.dtype, n)
    return result


def _negate_if(column: Column, negated: bool, ctx: ExecutionContext, dtype: pa.DataType) -> Column:
    return ctx.kernels.unary(UnaryOperator.NOT, column, dtype) if negated else column


@evaluate.register(InList)
def _(expr: InList, table: Table, ctx: ExecutionContext) -> Operand:
    values = [evaluate(v, table, ctx) for v in expr.values]
    if not all(isinstance(v, Literal) for v in values):
        raise ExecutionError("internal error: IN list values must be constants")
    found = ctx.kernels.is_in(evaluate_column(expr.operand, table, ctx), values)
    return _negate_if(found, expr.negated, ctx, expr.dtype)


@evaluate.register(Like)
def _(expr: Like, table: Table, ctx: ExecutionContext) -> Operand:
    matched = ctx.kernels.like(
        evaluate_column(expr.operand, table, ctx), expr.pattern, expr.escape, expr.case_insensitive
    )
    return _negate_if(matched, expr.negated, ctx, expr.dtype)


@evaluate.register(ScalarFunction)
def _(expr: ScalarFunction, table: Table, ctx: ExecutionContext) -> Operand:
    args = [evaluate(a, table, ctx) for a in expr.args]
    return ctx.kernels.scalar_function(expr.name, args, expr.dtype, ctx.kernels.num_rows(table))
