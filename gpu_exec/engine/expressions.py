"""Expression evaluation over the Kernels protocol, written once for every backend."""

from __future__ import annotations

from functools import singledispatch
from typing import TYPE_CHECKING, Any, Sequence

import pyarrow as pa

from planner.errors import ExecutionError
from planner.expr import (
    BinaryOp,
    BinaryOperator,
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
from planner.functions import SCALAR_FUNCTIONS
from planner.udf import UdfCall

if TYPE_CHECKING:
    from gpu_exec.engine.context import ExecutionContext
    from gpu_exec.engine.kernels import Column, Operand, Table

__all__ = ["evaluate", "evaluate_column", "evaluate_columns", "append_columns", "evaluate_where", "can_fail"]


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
    if expr.op in (BinaryOperator.AND, BinaryOperator.OR) and can_fail(expr.right):
        # The right side only matters where the left does not decide: not FALSE for AND, not TRUE
        # for OR. Elsewhere it is left NULL, which FALSE AND / TRUE OR ignore.
        k = ctx.kernels
        n = k.num_rows(table)
        decided = UnaryOperator.IS_FALSE if expr.op is BinaryOperator.AND else UnaryOperator.IS_TRUE
        left_column = left if not isinstance(left, Literal) else k.literal_column(left, n)
        undecided = k.unary(UnaryOperator.NOT, k.unary(decided, left_column, _BOOL), _BOOL)
        open_right = evaluate_where(expr.right, table, undecided, ctx)
        return k.binary(expr.op, left_column, open_right, expr.dtype, n)
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
    k = ctx.kernels
    n = k.num_rows(table)
    if not any(can_fail(child) for child in expr.children()):
        # Nothing can raise: evaluate every branch over every row, then fold from the last WHEN
        # backwards (each condition picks its value over everything after it).
        result: Any = evaluate(expr.otherwise, table, ctx) if expr.otherwise is not None else Literal(None, expr.dtype)
        for cond, value in reversed(expr.whens):
            result = k.if_else(evaluate_column(cond, table, ctx), evaluate(value, table, ctx), result, expr.dtype, n)
        return result
    # As DataFusion: each WHEN is tested only on the rows no earlier WHEN took, each THEN (and
    # the ELSE) computed only on the rows it answers for, so a division by zero or a failing cast
    # in a branch no row reaches raises nothing.
    remaining: Column | None = None  # None: every row
    picks: list[tuple[Column, Operand]] = []
    for cond, value in expr.whens:
        if remaining is None:
            taken = _is_true(evaluate(cond, table, ctx), n, ctx)
            left = k.unary(UnaryOperator.NOT, taken, _BOOL)
        else:
            condition = _is_true(evaluate_where(cond, table, remaining, ctx), n, ctx)
            taken = k.binary(BinaryOperator.AND, remaining, condition, _BOOL, n)
            left = k.binary(BinaryOperator.AND, remaining, k.unary(UnaryOperator.NOT, condition, _BOOL), _BOOL, n)
        picks.append((taken, evaluate_where(value, table, taken, ctx)))
        remaining = left
    out: Any = Literal(None, expr.dtype)
    if expr.otherwise is not None:
        out = (evaluate(expr.otherwise, table, ctx) if remaining is None
               else evaluate_where(expr.otherwise, table, remaining, ctx))
    for taken, value in reversed(picks):
        out = k.if_else(taken, value, out, expr.dtype, n)
    return out


def _is_true(value: Operand, n: int, ctx: ExecutionContext) -> Column:
    k = ctx.kernels
    column = value if not isinstance(value, Literal) else k.literal_column(value, n)
    return k.unary(UnaryOperator.IS_TRUE, column, _BOOL)


_BOOL = pa.bool_()
_INT64 = pa.int64()
_DIVISIONS = (BinaryOperator.DIVIDE, BinaryOperator.MODULO)


def can_fail(expr: Expr) -> bool:
    """Can evaluating ``expr`` raise for some row values (as DataFusion would)? Integer and
    decimal division or modulo by zero, a cast that may not convert, a function of the table
    marked ``can_fail``; anything else is total. Over-answering only costs speed."""
    if isinstance(expr, BinaryOp):
        if expr.op in _DIVISIONS and not pa.types.is_floating(expr.dtype):
            return True
    elif isinstance(expr, Cast):
        if not expr.safe and not _cast_is_total(expr.operand.dtype, expr.dtype):
            return True
    elif isinstance(expr, ScalarFunction):
        spec = SCALAR_FUNCTIONS.get(expr.name)
        if spec is None or spec.can_fail:
            return True
    elif isinstance(expr, UdfCall):
        return True  # user code may raise on any row
    return any(can_fail(child) for child in expr.children())


def _cast_is_total(source: pa.DataType, target: pa.DataType) -> bool:
    """Casts that convert every value (to text, widening integers or decimals, to floats)."""
    t = pa.types
    if source == target or t.is_string(target) or t.is_large_string(target) or t.is_null(source):
        return True
    if t.is_integer(source) and t.is_integer(target):
        if t.is_signed_integer(source) == t.is_signed_integer(target):
            return bool(target.bit_width >= source.bit_width)
        return bool(t.is_unsigned_integer(source) and target.bit_width > source.bit_width)
    if (t.is_integer(source) or t.is_boolean(source)) and t.is_floating(target):
        return True
    if t.is_decimal(target) and (t.is_decimal(source) or t.is_integer(source)):
        # Widening: no fewer fractional digits and no fewer integer digits.
        precision, scale = (source.precision, source.scale) if t.is_decimal(source) else (
            len(str(2 ** source.bit_width)), 0)
        return bool(target.scale >= scale and target.precision - target.scale >= precision - scale)
    return bool(t.is_floating(source) and t.is_floating(target) and target.bit_width >= source.bit_width)


def evaluate_where(expr: Expr, table: Table, mask: Column, ctx: ExecutionContext) -> Operand:
    """``expr`` where ``mask`` is TRUE; the other rows are unspecified (NULL when ``expr`` may
    fail). An ``expr`` that cannot fail is evaluated over every row (cheaper than selecting);
    one that can is evaluated only over the selected rows, so values on the other rows cannot
    make it raise, and its results are scattered back into place."""
    if not can_fail(expr):
        return evaluate(expr, table, ctx)
    k = ctx.kernels
    n = k.num_rows(table)
    selected = _is_true(mask, n, ctx)
    rows = k.filter(table, selected)
    m = k.num_rows(rows)
    if m == n:
        return evaluate(expr, table, ctx)
    if m == 0:
        return Literal(None, expr.dtype)
    values = evaluate_column(expr, rows, ctx)
    # Scatter with a gather: ``order`` lists the selected row numbers, then the others; its
    # inverse permutation (a stable sort of it) sends row i to its place in ``order``, which for
    # a selected row is its value's position and for any other row one of the NULLs padded after
    # the values.
    ids_schema = pa.schema([pa.field("i", _INT64)])
    ids = k.make_table([k.sort_indices(k.make_table([], pa.schema([]), n), [])], ids_schema, n)
    order = k.concat([k.filter(ids, selected), k.filter(ids, k.unary(UnaryOperator.NOT, selected, _BOOL))], ids_schema)
    inverse = k.sort_indices(order, [(0, True, False)])
    value_schema = pa.schema([pa.field("v", expr.dtype)])
    padded = k.concat(
        [k.make_table([values], value_schema, m),
         k.make_table([k.literal_column(Literal(None, expr.dtype), n - m)], value_schema, n - m)],
        value_schema,
    )
    return k.column(k.gather(padded, inverse), 0)


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


@evaluate.register(UdfCall)
def _(expr: UdfCall, table: Table, ctx: ExecutionContext) -> Operand:
    from gpu_exec.engine.udf import call_udf

    k = ctx.kernels
    num_rows = k.num_rows(table)
    schema = pa.schema([pa.field(f"arg{i}", a.dtype) for i, a in enumerate(expr.args)])
    args = k.to_arrow(k.make_table([evaluate_column(a, table, ctx) for a in expr.args], schema, num_rows), schema)
    result = call_udf(expr.udf, args, num_rows, expr.dtype)
    return k.column(k.from_arrow(pa.Table.from_arrays([result], names=["result"])), 0)


@evaluate.register(ScalarFunction)
def _(expr: ScalarFunction, table: Table, ctx: ExecutionContext) -> Operand:
    if expr.name == "coalesce" and any(can_fail(a) for a in expr.args[1:]):
        return _lazy_coalesce(expr, table, ctx)
    args = [evaluate(a, table, ctx) for a in expr.args]
    return ctx.kernels.scalar_function(expr.name, args, expr.dtype, ctx.kernels.num_rows(table))


def _lazy_coalesce(expr: ScalarFunction, table: Table, ctx: ExecutionContext) -> Operand:
    """COALESCE with each argument computed only where every earlier one is NULL (DataFusion
    plans COALESCE as such a CASE; this covers a coalesce built any other way)."""
    k = ctx.kernels
    n = k.num_rows(table)
    result = evaluate_column(expr.args[0], table, ctx)
    for arg in expr.args[1:]:
        missing = k.unary(UnaryOperator.IS_NULL, result, _BOOL)
        value = evaluate_where(arg, table, missing, ctx)
        result = k.scalar_function("coalesce", [result, value], expr.dtype, n)
    return result
