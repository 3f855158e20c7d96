"""Variance, standard deviation, covariance, correlation and the regr_* aggregates, from moment
states that merge exactly across batches and partitions.

The states of one call (planner.physical.partial_state_fields): for var/stddev, the count of the
argument's non-NULL values, their sum and M2, the sum of squared deviations from their mean; for
corr, covar and regr_*, over the rows where both arguments are non-NULL, the count, the sum of
each argument, the M2 of each and C, the sum of the products of both deviations. Counts and sums
merge by adding; M2 and C by Chan et al.'s pairwise rule, M2 = Σ M2_i + Σ n_i (mean_i - mean)²
(C alike with both deviations), where ``mean`` is the merged group's. A first phase is the same
rule over rows (each row a state of count 1 whose mean is its value): the group's mean first, then
the squared deviations from it. Neither subtracts two large sums of squares (Σx² - (Σx)²/n), so
values far from zero with a small spread keep their digits.

The second pass needs each row's group mean: the rows are joined to the grouped keys (one join a
batch or a merge, shared by every moment aggregate of the node; none without keys), and the
deviations are summed back onto the groups. Everything is Kernels calls, so both backends compute
the same thing; the backends' own variance aggregations are not used (libcudf's variance reduction
accumulates sums of squares, the subtraction this avoids).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import pyarrow as pa

from gpu_exec.engine.expressions import evaluate, evaluate_column
from planner.expr import AggregateCall, AggregateFunction, BinaryOperator, Literal, UnaryOperator
from planner.physical import BIVARIATE_MOMENTS, UNIVARIATE_MOMENTS

if TYPE_CHECKING:
    from gpu_exec.engine.context import ExecutionContext
    from gpu_exec.engine.kernels import AggSpec, Column, Kernels, Table

__all__ = ["is_moment", "arguments", "first_phase_specs", "first_phase_states", "merge_specs",
           "merged_states", "finish"]

F = AggregateFunction
Op = BinaryOperator
_F64 = pa.float64()
_I64 = pa.int64()
_BOOL = pa.bool_()
_NULL = Literal(None, _F64)


def is_moment(call: AggregateCall) -> bool:
    return call.func in UNIVARIATE_MOMENTS or call.func in BIVARIATE_MOMENTS


def arguments(call: AggregateCall, table: Table, ctx: ExecutionContext) -> list[Column]:
    """``call``'s argument columns as float64, NULL at the rows that take no part: filtered out
    by FILTER, or (two arguments) where either argument is NULL — both then NULL together."""
    k = ctx.kernels
    n = k.num_rows(table)
    values = []
    for arg in call.args:
        value = evaluate(arg, table, ctx)
        value = k.literal_column(value, n) if isinstance(value, Literal) else value
        # DataFusion casts every argument to Float64; a cast here only guards a NULL literal.
        values.append(value if arg.dtype == _F64 else k.cast(value, _F64, False))
    keep = None
    if len(values) == 2:
        valid = [k.unary(UnaryOperator.IS_NOT_NULL, v, _BOOL) for v in values]
        keep = k.binary(Op.AND, valid[0], valid[1], _BOOL, n)
    if call.filter is not None:
        condition = evaluate_column(call.filter, table, ctx)
        keep = condition if keep is None else k.binary(Op.AND, keep, condition, _BOOL, n)
    if keep is not None:
        values = [k.if_else(keep, v, _NULL, _F64, n) for v in values]
    return values


def first_phase_specs(indices: Sequence[int]) -> list[AggSpec]:
    """The group-by part of a first phase over the argument columns at ``indices``: the count
    and each argument's sum (M2 and C come from ``first_phase_states``)."""
    return [(indices[0], "count", _I64)] + [(i, "sum", _F64) for i in indices]


def first_phase_states(call: AggregateCall, grouped: list[Column], values: list[Column],
                       row_keys: list[Column], group_keys: list[Column], key_fields: list[pa.Field],
                       ctx: ExecutionContext) -> list[Column]:
    """``call``'s states from its ``first_phase_specs`` results (``grouped``: count, sums, aligned
    with ``group_keys``) and its argument columns (``values``, aligned with ``row_keys``)."""
    k = ctx.kernels
    count, sums = grouped[0], grouped[1:]
    means = [k.average(s, count, _F64) for s in sums]
    pairs = _pairs(len(values))
    moments = _deviation_sums(k, row_keys, group_keys, key_fields,
                              [_Term(None, values[a], means[a], values[b], means[b]) for a, b in pairs])
    return [count, *sums, *moments]


def merge_specs(indices: Sequence[int]) -> list[AggSpec]:
    """The group-by part of merging a moment call's state columns at ``indices``: every state adds up
    (``merged_states`` adds the between-state terms to M2 and C)."""
    return [(i, "sum", _I64 if j == 0 else _F64) for j, i in enumerate(indices)]


def merged_states(calls: Sequence[tuple[AggregateCall, list[Column], list[Column]]],
                  row_keys: list[Column], group_keys: list[Column], key_fields: list[pa.Field],
                  ctx: ExecutionContext) -> list[list[Column]]:
    """The merged states of each (call, its state columns before the merge — rows aligned with
    ``row_keys`` —, the sums of those by group — aligned with ``group_keys``)."""
    k = ctx.kernels
    terms: list[_Term] = []
    layouts = []
    for call, rows, summed in calls:
        width = 1 + len(call.args)
        n_groups = k.length(summed[0])
        count = k.scalar_function("coalesce", [summed[0], Literal(0, _I64)], _I64, n_groups)
        row_means = [k.average(s, rows[0], _F64) for s in rows[1:width]]
        group_means = [k.average(s, count, _F64) for s in summed[1:width]]
        pairs = _pairs(len(call.args))
        terms.extend(_Term(rows[0], row_means[a], group_means[a], row_means[b], group_means[b]) for a, b in pairs)
        layouts.append((count, summed[1:width], summed[width:], n_groups))
    between = iter(_deviation_sums(k, row_keys, group_keys, key_fields, terms))
    out = []
    for count, sums, within, n_groups in layouts:
        moments = []
        for m in within:
            m = k.scalar_function("coalesce", [m, Literal(0.0, _F64)], _F64, n_groups)
            moments.append(k.binary(Op.ADD, m, next(between), _F64, n_groups))
        out.append([count, *sums, *moments])
    return out


def _pairs(arity: int) -> list[tuple[int, int]]:
    """Which deviations multiply, in state order: M2 of the one argument; M2 of a, M2 of b, C."""
    return [(0, 0)] if arity == 1 else [(0, 0), (1, 1), (0, 1)]


@dataclass(frozen=True, slots=True)
class _Term:
    """Σ weight · (row_a - group_a) · (row_b - group_b) over each group's rows; ``weight`` None
    is 1 (rows of the input, not states)."""

    weight: Column | None
    row_a: Column
    group_a: Column
    row_b: Column
    group_b: Column


def _table(k: Kernels, columns: list[Column], fields: list[pa.Field] | None = None) -> Table:
    fields = fields or [pa.field(f"_{i}", _F64) for i in range(len(columns))]
    return k.make_table(columns, pa.schema(fields), k.length(columns[0]) if columns else 0)


def _deviation_sums(k: Kernels, row_keys: list[Column], group_keys: list[Column], key_fields: list[pa.Field],
                    terms: list[_Term]) -> list[Column]:
    """Each term's sums, aligned with ``group_keys`` (one row without keys), 0 for a group whose
    terms are all NULL. Every row's keys are among ``group_keys`` (they were grouped from them)."""
    row_cols = [c for t in terms for c in (t.row_a, t.row_b)]
    weights = [k.cast(t.weight, _F64, False) for t in terms if t.weight is not None]
    group_cols = [c for t in terms for c in (t.group_a, t.group_b)]
    row_fields = [pa.field(f"_{i}", _F64) for i in range(len(row_cols) + len(weights))]
    rows = _table(k, row_cols + weights, row_fields)
    if row_keys:
        left_map, group_of_row = k.join(_table(k, row_keys, key_fields), _table(k, group_keys, key_fields),
                                        "inner", True)
        rows = k.gather(rows, left_map)
        n = k.length(left_map)
    else:
        n = k.num_rows(rows)
        group_of_row = k.literal_column(Literal(0, _I64), n)
    groups = k.gather(_table(k, group_cols), group_of_row)
    products: list[Column] = []
    weight_index = len(row_cols)
    for i, term in enumerate(terms):
        da = k.binary(Op.SUBTRACT, k.column(rows, 2 * i), k.column(groups, 2 * i), _F64, n)
        same = term.row_a is term.row_b and term.group_a is term.group_b
        db = da if same else k.binary(Op.SUBTRACT, k.column(rows, 2 * i + 1), k.column(groups, 2 * i + 1), _F64, n)
        product = k.binary(Op.MULTIPLY, da, db, _F64, n)
        if term.weight is not None:
            product = k.binary(Op.MULTIPLY, product, k.column(rows, weight_index), _F64, n)
            weight_index += 1
        products.append(product)
    if row_keys:
        fields = [pa.field("g", _I64)] + [pa.field(f"_{i}", _F64) for i in range(len(products))]
        summed = k.group_by(_table(k, [group_of_row, *products], fields), [0],
                            [(1 + i, "sum", _F64) for i in range(len(products))])
        # The group-by's row order is its own: back to the order of ``group_keys`` (every group
        # index is there once, so sorting by it is that order).
        order = k.sort_indices(_table(k, [k.column(summed, 0)], [pa.field("g", _I64)]), [(0, True, False)])
        summed = k.gather(summed, order)
        offset, n_groups = 1, k.length(group_keys[0])
    else:
        specs: list[AggSpec] = [(i, "sum", _F64) for i in range(len(products))]
        summed = k.group_by(_table(k, products), [], specs)
        offset, n_groups = 0, 1
    return [k.scalar_function("coalesce", [k.column(summed, offset + i), Literal(0.0, _F64)], _F64, n_groups)
            for i in range(len(products))]


def finish(call: AggregateCall, states: list[Column], ctx: ExecutionContext) -> Column:
    """``call``'s value from its merged states, with DataFusion's NULLs: no rows → NULL; one row →
    NULL for the sample statistics, corr, regr_slope/intercept/r2; a zero variance → NULL for
    corr, regr_slope/intercept (of x) and regr_r2 (of x or y)."""
    k = ctx.kernels
    n = k.length(states[0])
    count = k.cast(states[0], _F64, False)
    f = call.func

    def compare(op: BinaryOperator, a: Column, value: float) -> Column:
        return k.binary(op, a, Literal(value, _F64), _BOOL, n)

    def both(a: Column, b: Column) -> Column:
        return k.binary(Op.AND, a, b, _BOOL, n)

    def div(a: Column, b: Column | Literal) -> Column:
        return k.binary(Op.DIVIDE, a, b, _F64, n)

    def where(ok: Column, value: Column) -> Column:
        return k.if_else(ok, value, _NULL, _F64, n)

    def sqrt(a: Column) -> Column:
        return k.scalar_function("sqrt", [a], _F64, n)

    some, several = compare(Op.GT, count, 0.0), compare(Op.GT, count, 1.0)
    # Divisors are never 0 where the result is kept; elsewhere they are made 1, as float division
    # by 0 would only make values that are thrown away.
    safe_count = k.if_else(some, count, Literal(1.0, _F64), _F64, n)
    less_one = k.if_else(several, k.binary(Op.SUBTRACT, count, Literal(1.0, _F64), _F64, n),
                         Literal(1.0, _F64), _F64, n)
    if f in UNIVARIATE_MOMENTS:
        m2 = states[2]
        if f in (F.VAR_POP, F.STDDEV_POP):
            value = where(some, div(m2, safe_count))
        else:
            value = where(several, div(m2, less_one))
        return sqrt(value) if f in (F.STDDEV_POP, F.STDDEV_SAMP) else value
    if f is F.REGR_COUNT:
        return k.cast(states[0], call.dtype, False)
    # Bivariate: a is the first argument (regr_*'s y), b the second (x).
    sum_a, sum_b, m2_a, m2_b, c = states[1:6]
    if f is F.COVAR_POP:
        return where(some, div(c, safe_count))
    if f is F.COVAR_SAMP:
        return where(several, div(c, less_one))
    if f in (F.REGR_AVGY, F.REGR_AVGX):
        return where(some, div(sum_a if f is F.REGR_AVGY else sum_b, safe_count))
    if f in (F.REGR_SYY, F.REGR_SXX, F.REGR_SXY):
        return where(some, {F.REGR_SYY: m2_a, F.REGR_SXX: m2_b, F.REGR_SXY: c}[f])
    # The population (co)variances, divided as DataFusion divides them.
    cov, var_a, var_b = div(c, safe_count), div(m2_a, safe_count), div(m2_b, safe_count)
    b_varies = compare(Op.NOT_EQ, var_b, 0.0)
    a_varies = compare(Op.NOT_EQ, var_a, 0.0)
    ones = Literal(1.0, _F64)
    if f is F.CORR:
        ok = both(several, both(a_varies, b_varies))
        spread = k.binary(Op.MULTIPLY, sqrt(var_a), sqrt(var_b), _F64, n)
        return where(ok, div(cov, k.if_else(ok, spread, ones, _F64, n)))
    slope_ok = both(several, b_varies)
    slope = div(cov, k.if_else(slope_ok, var_b, ones, _F64, n))
    if f is F.REGR_SLOPE:
        return where(slope_ok, slope)
    if f is F.REGR_INTERCEPT:
        mean_a, mean_b = div(sum_a, safe_count), div(sum_b, safe_count)
        return where(slope_ok, k.binary(Op.SUBTRACT, mean_a, k.binary(Op.MULTIPLY, slope, mean_b, _F64, n), _F64, n))
    if f is F.REGR_R2:
        ok = both(slope_ok, a_varies)
        spread = k.binary(Op.MULTIPLY, var_b, var_a, _F64, n)
        return where(ok, div(k.binary(Op.MULTIPLY, cov, cov, _F64, n), k.if_else(ok, spread, ones, _F64, n)))
    raise ValueError(f"not a moment aggregate: {f}")
