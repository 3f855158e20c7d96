"""Function calls: aggregate and window calls, and the scalar functions' names, aliases and units."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import datafusion.expr as dfx
import pyarrow as pa
from datafusion import Expr as DFExpr

from planner import expr as ex
from planner.catalog import normalize_type
from planner.errors import SQLError
from planner.functions import DATE_PART_ALIASES, SCALAR_FUNCTIONS
from planner.translate.protobuf import (
    _PB_AGGREGATE_FILTER,
    _PB_AGGREGATE_NULL_TREATMENT,
    _PB_AGGREGATE_ORDER_BY,
    _PB_SORT_ASC,
    _PB_SORT_EXPR,
    _PB_SORT_NULLS_FIRST,
    _PB_EXPR_AGGREGATE_UDF,
    _PB_EXPR_WINDOW,
    _PB_WINDOW_DISTINCT,
    _PB_WINDOW_FILTER,
    _PB_WINDOW_NULL_TREATMENT,
    _PB_IGNORE_NULLS,
    _proto_field,
    _proto_fields,
    _proto_unalias,
)
from planner.translate.translator import _raw, _sort_keys, _unalias

if TYPE_CHECKING:
    from planner.translate.translator import _Scope, _Translator


# ---------------------------------------------------------------------------------------------
# Aggregate calls
# ---------------------------------------------------------------------------------------------

_AGG = ex.AggregateFunction
# DataFusion's names and aliases (information_schema.routines lists both) → gpu-exec's function.
_AGGREGATE_FUNCTIONS = {f.value: f for f in _AGG} | {
    "mean": _AGG.AVG, "var": _AGG.VAR_SAMP, "var_sample": _AGG.VAR_SAMP, "var_population": _AGG.VAR_POP,
    "stddev": _AGG.STDDEV_SAMP, "covar": _AGG.COVAR_SAMP, "quantile_cont": _AGG.PERCENTILE_CONT,
}


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
        why = _AGGREGATES_REFUSED.get(name.lower(), "not implemented in gpu-exec yet")
        t.unsupported(f"unsupported aggregate function {name}(): {why} (gpu-exec runs {_AGGREGATES_RUN})")
    elif call.is_distinct() and len(call.args()) > 1 and func is not _AGG.STRING_AGG:
        # DISTINCT aggregates run over the distinct values of one argument column (string_agg's
        # second argument is its constant delimiter).
        t.unsupported(f"DISTINCT in the two-argument aggregate {name}() is not supported")
    args = t.exprs(call.args(), scope)
    condition = _aggregate_filter(t, a)
    filt = t.expr(condition, scope) if condition is not None else None
    order_by: tuple[ex.SortKey, ...] = ()
    if func is _AGG.PERCENTILE_CONT:
        # WITHIN GROUP (ORDER BY x [DESC]): the direction is the one thing the order adds.
        order_by = _aggregate_order(t, a, scope)
        if len(args) != 2 or not isinstance(args[1], ex.Literal) or args[1].value is None:
            t.unsupported(f"{name}() needs a constant fraction: {a.canonical_name()}")
        if call.is_distinct():
            t.unsupported(f"DISTINCT in {name}() is not supported")
    if func is _AGG.STRING_AGG:
        order_by = _aggregate_order(t, a, scope)
        if len(args) != 2 or not isinstance(args[1], ex.Literal) or not isinstance(args[1].value, str):
            t.unsupported(f"{name}() needs a constant, non-NULL delimiter: {a.canonical_name()}")
        if call.is_distinct() and order_by:
            t.unsupported(f"DISTINCT with ORDER BY in {name}() is not supported")
    if func is _AGG.NTH_VALUE:
        n = args[1] if len(args) == 2 else None
        if not isinstance(n, ex.Literal) or not isinstance(n.value, int) or not n.value:
            t.unsupported(f"{name}() needs a constant, non-zero position: {a.canonical_name()}")
    if func in _ORDERED:
        order_by = _aggregate_order(t, a, scope)
        if not order_by:
            # Without ORDER BY the "first" row is the first to arrive, which partitioned execution
            # does not keep (nor does DataFusion's across its partitions).
            t.unsupported(f"{name}() without ORDER BY is not supported: its row order is undefined")
        if call.is_distinct():
            t.unsupported(f"DISTINCT in {name}() is not supported")
    return ex.AggregateCall(func or ex.AggregateFunction.COUNT, args, call.is_distinct(), filt, dtype, out.name,
                            order_by)


_SKETCH = "its value is DataFusion's own {} estimate, which gpu-exec does not reproduce"
# Why the aggregates DataFusion lists but gpu-exec does not run are refused (the rest: not yet).
_AGGREGATES_REFUSED = {
    "approx_distinct": _SKETCH.format("HyperLogLog"),
    "approx_median": _SKETCH.format("t-digest"),
    "approx_percentile_cont": _SKETCH.format("t-digest"),
    "approx_percentile_cont_with_weight": _SKETCH.format("t-digest"),
    "array_agg": "gpu-exec has no list type",
}

_ORDERED = {_AGG.FIRST_VALUE, _AGG.LAST_VALUE, _AGG.NTH_VALUE}


def _check_aggregate_orders(t: _Translator, calls: tuple[ex.AggregateCall, ...]) -> None:
    """One Aggregate's string_agg calls concatenate in one row order: several different ORDER BYs
    are refused (as DataFusion refuses them when it runs the plan)."""
    orders = {c.order_by for c in calls if c.func is _AGG.STRING_AGG and c.order_by}
    if len(orders) > 1:
        t.unsupported("string_agg calls with different ORDER BYs in one aggregate are not supported")


def _aggregate_order(t: _Translator, a: DFExpr, scope: _Scope) -> tuple[ex.SortKey, ...]:
    """The ``ORDER BY`` inside an aggregate call (and IGNORE NULLS refused): Python exposes them
    only in the encoding."""
    text = a.canonical_name()
    if "ORDER BY" not in text and "NULLS" not in text:  # DataFusion prints both when present
        return ()
    call = _proto_field(_proto_unalias(t.proto(a)), _PB_EXPR_AGGREGATE_UDF)
    if not isinstance(call, bytes):
        return ()
    if _proto_field(call, _PB_AGGREGATE_NULL_TREATMENT):
        t.unsupported(f"IGNORE NULLS in an aggregate is not supported: {text}")
    keys = []
    for number, node in _proto_fields(call):
        if number != _PB_AGGREGATE_ORDER_BY or not isinstance(node, bytes):
            continue
        expr = _proto_field(node, _PB_SORT_EXPR)
        if not isinstance(expr, bytes):
            continue
        key = t.expr(DFExpr.from_bytes(expr, t.ctx), scope)
        # proto3 leaves false out: a missing flag is DESC / NULLS LAST.
        ascending, nulls_first = _proto_field(node, _PB_SORT_ASC), _proto_field(node, _PB_SORT_NULLS_FIRST)
        keys.append(ex.SortKey(key, bool(ascending), bool(nulls_first)))
    return tuple(keys)


_AGGREGATES_RUN = ("sum, avg, min, max, count, any_value, var/stddev, bool_and/bool_or, bit_and/bit_or/bit_xor, "
                   "median, percentile_cont, string_agg, corr, covar, regr_*, first_value/last_value/nth_value with "
                   "ORDER BY")


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


# ---------------------------------------------------------------------------------------------
# Window calls
# ---------------------------------------------------------------------------------------------

_WINDOW_FUNCTIONS = {f.value: f for f in ex.WindowFunction}
# The functions IGNORE NULLS changes (DataFusion accepts it, without effect, on the others).
_NULL_TREATMENT = {ex.WindowFunction.LAG, ex.WindowFunction.LEAD, ex.WindowFunction.FIRST_VALUE,
                   ex.WindowFunction.LAST_VALUE, ex.WindowFunction.NTH_VALUE}


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
            f"unsupported window function {name}() (gpu-exec runs {', '.join(_WINDOW_FUNCTIONS)})"
        )
    ignore_nulls = _check_window_modifiers(t, inner)
    args = t.exprs(v.get_args(raw), scope)
    partition_by = t.exprs(v.get_partition_exprs(raw), scope)
    order_by = _sort_keys(t, v.get_sort_exprs(raw), scope)
    func = func or ex.WindowFunction.ROW_NUMBER
    if func in ex.FRAMED_WINDOW_FUNCTIONS:
        frame = _window_frame(v.get_frame(raw), bool(order_by))
    else:  # SQL ignores the frame of the ranking functions, lag/lead and ntile
        frame = ex.WindowFrame.RANGE_TO_CURRENT if order_by else ex.WindowFrame.WHOLE_PARTITION
    if frame is None:
        t.unsupported(
            f"unsupported window frame in {inner.canonical_name()}: gpu-exec runs ROWS and GROUPS frames "
            "and RANGE frames bounded by UNBOUNDED PRECEDING/FOLLOWING or CURRENT ROW (not RANGE offsets)"
        )
        frame = ex.WindowFrame.WHOLE_PARTITION
    args = _window_parameters(t, func, args, inner, ignore_nulls and func in _NULL_TREATMENT)
    return ex.WindowCall(
        func, args, partition_by, order_by, frame, dtype, out.name, ignore_nulls and func in _NULL_TREATMENT
    )


def _window_parameters(
    t: _Translator, func: ex.WindowFunction, args: tuple[ex.Expr, ...], w: DFExpr, ignore_nulls: bool
) -> tuple[ex.Expr, ...]:
    """lag/lead as ``(value, offset, default)`` (see ``ex.WindowCall``); nth_value's and ntile's n
    checked. DataFusion takes these parameters only as literals."""
    text = w.canonical_name()
    positions = {ex.WindowFunction.LAG: (1, 2), ex.WindowFunction.LEAD: (1, 2),
                 ex.WindowFunction.NTH_VALUE: (1,), ex.WindowFunction.NTILE: (0,)}.get(func, ())
    for position in positions:
        if position < len(args) and not isinstance(args[position], ex.Literal):
            t.unsupported(f"argument {position + 1} of {func.value}() must be a constant (as DataFusion requires): {text}")
            return args
    if func is ex.WindowFunction.NTILE:
        n = args[0].value if args and isinstance(args[0], ex.Literal) else None
        if not isinstance(n, int) or n <= 0:
            raise SQLError(f"NTILE requires a positive integer, but finds {n if n is not None else 'NULL'}: {text}")
        return (ex.Literal(n, pa.int64()),)
    if func is ex.WindowFunction.NTH_VALUE:
        n = args[1].value if len(args) > 1 and isinstance(args[1], ex.Literal) else None
        if n is not None and not isinstance(n, int):
            raise SQLError(f"Expected a signed integer literal for the second argument of nth_value: {text}")
        return (args[0], ex.Literal(n, pa.int64()))
    if func not in (ex.WindowFunction.LAG, ex.WindowFunction.LEAD):
        return args
    offset = args[1].value if len(args) > 1 and isinstance(args[1], ex.Literal) else 1
    if offset is not None and (not isinstance(offset, int) or isinstance(offset, bool)):
        raise SQLError(f"Expected an integer value for the offset of {func.value}(): {text}")
    forward = (offset or 0) * (1 if func is ex.WindowFunction.LEAD else -1)
    if ignore_nulls and forward > 1:
        # DataFusion 55's lead IGNORE NULLS past one row loses count of the NULL rows it skips
        # (NULL where SQL finds a value); lag IGNORE NULLS, and lead by one row, are SQL's.
        t.unsupported(
            f"{func.value}() IGNORE NULLS reading {forward} rows ahead is not supported (DataFusion 55 "
            f"answers differently from SQL's definition there; one row ahead or any lag runs): {text}")
    value = args[0]
    out: tuple[ex.Expr, ...] = (value, ex.Literal(offset or 0, pa.int64()))
    default = args[2] if len(args) > 2 else None
    if isinstance(default, ex.Literal) and default.value is not None:
        # DataFusion casts the default to the value's type when it runs (an error if it does not convert).
        out += (default if default.dtype == value.dtype else ex.Cast(default, value.dtype),)
    return out


def _check_window_modifiers(t: _Translator, w: DFExpr) -> bool:
    """Refuses DISTINCT and FILTER; whether the call says IGNORE NULLS."""
    text = w.canonical_name()
    if "DISTINCT" not in text and "FILTER" not in text and "IGNORE NULLS" not in text:
        return False  # DataFusion prints each of them when present
    node = _proto_field(t.proto(w), _PB_EXPR_WINDOW)
    if not isinstance(node, bytes):
        return False
    if _proto_field(node, _PB_WINDOW_DISTINCT):
        t.unsupported(f"DISTINCT in a window aggregate is not supported: {text}")
    if _proto_field(node, _PB_WINDOW_FILTER) is not None:
        t.unsupported(f"FILTER in a window aggregate is not supported: {text}")
    return _proto_field(node, _PB_WINDOW_NULL_TREATMENT) == _PB_IGNORE_NULLS


def _window_frame(frame: Any, ordered: bool) -> ex.WindowFrame | None:
    """gpu-exec's frame for DataFusion's, or None when it is not one gpu-exec runs: ROWS and GROUPS
    frames with any offsets; RANGE frames bounded by UNBOUNDED and CURRENT ROW (peers). RANGE
    offsets are not run (they need arithmetic on the ORDER BY key's type)."""
    if frame is None:
        return ex.WindowFrame.RANGE_TO_CURRENT if ordered else ex.WindowFrame.WHOLE_PARTITION
    units = str(frame.get_frame_units()).upper()
    if units not in ("ROWS", "RANGE", "GROUPS"):
        return None
    lower, upper = _frame_bound(frame.get_lower_bound(), units), _frame_bound(frame.get_upper_bound(), units)
    if lower is None or upper is None:
        return None
    start, end = lower[0], upper[0]
    if units == "RANGE" and not ordered:
        # Without ORDER BY every row is a peer of every other: CURRENT ROW is the partition's edge.
        start, end = None, None
    found = ex.WindowFrame(units, start, end)
    if start is None and end is None:
        found = ex.WindowFrame.WHOLE_PARTITION  # RANGE or ROWS: the whole partition alike
    for known in (ex.WindowFrame.WHOLE_PARTITION, ex.WindowFrame.RANGE_TO_CURRENT, ex.WindowFrame.ROWS_TO_CURRENT):
        if found == known:
            return known
    return found


def _frame_bound(bound: Any, units: str) -> tuple[int | None] | None:
    """A bound as ``ex.WindowFrame`` holds it (a row or group offset, or None for UNBOUNDED), or
    None for a RANGE offset."""
    if bound.is_unbounded():
        return (None,)
    if bound.is_current_row():
        return (0,)
    if units == "RANGE":
        return None
    offset = int(bound.get_offset())
    return (-offset if bound.is_preceding() else offset,)


# ---------------------------------------------------------------------------------------------
# Scalar functions
# ---------------------------------------------------------------------------------------------

def _with_unit_argument(t: _Translator, name: str, args: tuple[ex.Expr, ...], e: DFExpr) -> tuple[ex.Expr, ...]:
    """date_part/date_trunc: the unit must be a known string constant; EXTRACT(YEAR ...) spells it
    'YEAR', so it is lower-cased here once for every backend."""
    units = SCALAR_FUNCTIONS[name].units or frozenset()
    unit = args[0] if args else None
    text = unit.value.lower() if isinstance(unit, ex.Literal) and isinstance(unit.value, str) else None
    text = DATE_PART_ALIASES.get(text, text) if text is not None else None
    if text not in units:
        t.unsupported(f"{name} needs one of the units {', '.join(sorted(units))} as a constant: {e.canonical_name()}")
        return args
    return (ex.Literal(text, pa.string()), *args[1:])
