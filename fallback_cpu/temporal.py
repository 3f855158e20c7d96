"""Dates and timestamps: interval arithmetic, date_part and date_trunc."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fallback_cpu.cast import _cast_array
from fallback_cpu.columns import (
    Operand,
    _column_of,
    _data_errors,
    _from_numpy,
    _numpy_values,
    _valid_mask,
)
from fallback_cpu.types import (
    NANOS_PER_DAY,
    UNIT_NANOS,
    interval_operands,
    interval_parts,
    operand_type,
    trunc_div,
)
from planner.errors import ExecutionError
from planner.expr import BinaryOperator, Literal


def _shift_months(days: np.ndarray, months: int) -> np.ndarray:
    """Days since the epoch moved by ``months``, the day clamped to the month's end (Jan 31 + 1
    month = Feb 29 in 2020), as arrow-rs shift_months."""
    if months == 0:
        return days
    d = days.astype("datetime64[D]")
    month = d.astype("datetime64[M]")
    day_of_month = (d - month.astype("datetime64[D]")).astype(np.int64)
    target = month + np.timedelta64(months, "M")
    first = target.astype("datetime64[D]")
    month_len = ((target + np.timedelta64(1, "M")).astype("datetime64[D]") - first).astype(np.int64)
    return (first.astype(np.int64) + np.minimum(day_of_month, month_len - 1)).astype(np.int64)


def _add_interval(points: pa.Array, parts: tuple[int, int, int], sign: int) -> pa.Array:
    """date/timestamp ± MonthDayNano, in DataFusion's order: months, then days, then nanos.

    For a DATE the nanoseconds count only as whole days, truncated toward zero (chrono's
    NaiveDate + Duration): DATE '1970-01-01' - INTERVAL '1 hour' stays 1970-01-01."""
    months, days, nanos = (sign * p for p in parts)
    t = points.type
    valid = _valid_mask(points)
    if pa.types.is_date32(t):
        values = _numpy_values(points).astype(np.int64)
        values = _shift_months(values, months) + days + trunc_div(nanos, NANOS_PER_DAY)
        return _from_numpy(values.astype(np.int32), valid, t)
    if pa.types.is_timestamp(t):
        per_ns = UNIT_NANOS[t.unit]
        per_day = NANOS_PER_DAY // per_ns
        values = _numpy_values(points).astype(np.int64)
        day = np.floor_divide(values, per_day)
        time_of_day = values - day * per_day
        values = (_shift_months(day, months) + days) * per_day + time_of_day
        # nanos at full precision, then floored back to the unit (chrono → timestamp_micros etc.)
        values = np.floor_divide(values * per_ns + nanos, per_ns) if per_ns > 1 else values + nanos
        return _from_numpy(values, valid, t)
    raise ExecutionError(f"cannot add an interval to {t}")


def _temporal_arithmetic(
    op: BinaryOperator, left: Operand, right: Operand, t: pa.DataType, num_rows: int
) -> pa.Array:
    lt, rt = operand_type(left), operand_type(right)
    if pa.types.is_interval(rt) or pa.types.is_interval(lt):
        point, interval, sign = interval_operands(op, left, right)
        if interval.value is None:
            return pa.nulls(num_rows, type=t)
        shifted = _add_interval(_column_of(point, num_rows), interval_parts(interval), sign)
        return _cast_array(shifted, t, safe=False)
    a, b = _column_of(left, num_rows), _column_of(right, num_rows)
    if pa.types.is_date32(lt) and pa.types.is_date32(rt) and op is BinaryOperator.SUBTRACT:
        # date - date → days as Int64 (DataFusion 55)
        diff = pc.subtract(a.cast(pa.int32()).cast(pa.int64()), b.cast(pa.int32()).cast(pa.int64()))
        return _cast_array(diff, t, safe=False)
    with _data_errors(f"{lt} {op.value} {rt}"):
        return pc.cast(pc.subtract(a, b) if op is BinaryOperator.SUBTRACT else pc.add(a, b), t)


_DATE_PARTS: dict[str, Callable[[pa.Array], pa.Array]] = {
    "year": pc.year,
    "quarter": pc.quarter,
    "month": pc.month,
    "week": pc.iso_week,
    "day": pc.day,
    "doy": pc.day_of_year,
    # DataFusion's dow is Sunday = 0 … Saturday = 6 (pyarrow's default is Monday = 0).
    "dow": lambda a: pc.day_of_week(a, count_from_zero=True, week_start=7),
    "hour": pc.hour,
    "minute": pc.minute,
    "second": pc.second,  # whole seconds: DataFusion 55 returns Int32 and drops the fraction
}


def _date_part(part: str, d: pa.Array, t: pa.DataType) -> pa.Array:
    part = part.lower()
    if part not in _DATE_PARTS:
        raise ExecutionError(f"date_part: unsupported part {part!r}")
    if pa.types.is_date(d.type) and part in ("hour", "minute", "second"):
        d = d.cast(pa.timestamp("s"))
    return _DATE_PARTS[part](d).cast(t)


def _date_trunc(part: str, d: pa.Array, t: pa.DataType) -> pa.Array:
    unit = part.lower()
    if unit not in ("year", "quarter", "month", "week", "day", "hour", "minute", "second"):
        raise ExecutionError(f"date_trunc: unsupported part {part!r}")
    # DataFusion truncates weeks to Monday.
    truncated = pc.floor_temporal(d, unit=unit, week_starts_monday=True)
    return truncated.cast(t)


def _fn_date_part(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    part = args[0]
    if not isinstance(part, Literal) or not isinstance(part.value, str):
        raise ExecutionError("date_part: the first argument must be a string literal")
    return _date_part(part.value, _column_of(args[1], n), out_type)


def _fn_date_trunc(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    part = args[0]
    if not isinstance(part, Literal) or not isinstance(part.value, str):
        raise ExecutionError("date_trunc: the first argument must be a string literal")
    return _date_trunc(part.value, _column_of(args[1], n), out_type)
