"""Dates and timestamps: interval arithmetic, date_part and date_trunc."""

from __future__ import annotations

from collections.abc import Callable

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
    "isodow": lambda a: pc.day_of_week(a, count_from_zero=False, week_start=1),  # Monday = 1
    # DataFusion counts the seconds too: 13:14:15.750 has millisecond 15750 (a date has 0).
    "millisecond": lambda a: pc.add(pc.multiply(pc.cast(pc.second(a), pa.int32()), 1000),
                                    pc.cast(pc.millisecond(a), pa.int32())),
    "microsecond": lambda a: pc.add(
        pc.multiply(pc.add(pc.multiply(pc.cast(pc.second(a), pa.int32()), 1000),
                           pc.cast(pc.millisecond(a), pa.int32())), 1000),
        pc.cast(pc.microsecond(a), pa.int32())),
}


def _date_part(part: str, d: pa.Array, t: pa.DataType) -> pa.Array:
    part = part.lower()
    if part not in _DATE_PARTS:
        raise ExecutionError(f"date_part: unsupported part {part!r}")
    if pa.types.is_date(d.type) and part in ("hour", "minute", "second", "millisecond", "microsecond"):
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


# ---- conversions between numbers, dates and timestamps (DataFusion's to_timestamp family) ------

# The unit an integer argument counts in, per function.
TIMESTAMP_FUNCTION_UNITS = {
    "to_timestamp": "s", "to_timestamp_seconds": "s", "to_timestamp_millis": "ms",
    "to_timestamp_micros": "us", "to_timestamp_nanos": "ns",
}


def _to_timestamp(name: str) -> Callable[[list[Operand], pa.DataType, int], pa.Array]:
    unit = TIMESTAMP_FUNCTION_UNITS[name]

    def kernel(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
        x = _column_of(args[0], n)
        if pa.types.is_timestamp(x.type):
            return x.cast(out_type, safe=False)  # a coarser unit truncates toward zero (arrow-rs)
        if pa.types.is_integer(x.type):
            counted = _cast_array(x, pa.int64(), safe=False).cast(pa.timestamp(unit))
            with _data_errors(name):  # a count beyond the result unit's range overflows
                return counted.cast(out_type)
        if pa.types.is_floating(x.type):
            # Seconds (of the function's unit) with a fraction: to nanoseconds, truncated.
            values = _numpy_values(x, 0.0).astype(np.float64) * UNIT_NANOS[unit]
            nanos = _from_numpy(np.trunc(values).astype(np.int64), _valid_mask(x), pa.int64())
            return _cast_array(nanos.cast(pa.timestamp("ns")), out_type, safe=False)
        raise ExecutionError(f"Unsupported data type {x.type} for function {name}")

    return kernel


def _fn_to_unixtime(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    x = _column_of(args[0], n)
    if pa.types.is_date32(x.type):
        days = _numpy_values(_cast_array(x, pa.int32(), safe=False)).astype(np.int64)
        return _from_numpy(days * 86_400, _valid_mask(x), pa.int64())
    if pa.types.is_timestamp(x.type):
        # Whole seconds since the epoch, truncated toward zero (-0.5 s is 0).
        return x.cast(pa.timestamp("s"), safe=False).cast(pa.int64())
    if pa.types.is_integer(x.type):
        return _cast_array(x, pa.int64(), safe=False)
    raise ExecutionError(f"to_unixtime of {x.type} is not supported")


def _fn_from_unixtime(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    seconds = _cast_array(_column_of(args[0], n), pa.int64(), safe=False)
    return _cast_array(seconds.cast(pa.timestamp("s")), out_type, safe=False)


def _fn_to_date(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    x = _column_of(args[0], n)
    if pa.types.is_date32(x.type):
        return x
    if pa.types.is_timestamp(x.type):
        return _cast_array(x, pa.date32(), safe=False)
    if pa.types.is_integer(x.type):  # days since the epoch
        with _data_errors("to_date"):
            return _cast_array(x, pa.int32(), safe=True).cast(pa.date32())
    raise ExecutionError(f"to_date of {x.type} is not supported")


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date, any year (datetime.date stops at
    year 1 and 9999; DataFusion's chrono does not)."""
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _make_date(year: int, month: int, day: int) -> int:
    if not 1 <= month <= 12:
        raise ExecutionError(f"make_date: Month value '{month}' is out of range")
    if not 1 <= day <= 31:
        raise ExecutionError(f"make_date: Day value '{day}' is out of range")
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    month_days = [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
    if day > month_days:
        raise ExecutionError(f"make_date: Unable to parse date from {year}, {month}, {day}")
    return _days_from_civil(year, month, day)


def _fn_make_date(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    parts = [_cast_array(_column_of(a, n), pa.int64(), safe=False).to_pylist() for a in args]
    days = [None if None in row else _make_date(*row) for row in zip(*parts)]
    return pa.array(days, pa.int32()).cast(pa.date32())


def _fn_date_bin(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    """date_bin(stride, ts[, origin]): the start of ts's bin of width stride counted from origin
    (default the epoch); bins before the origin floor, as DataFusion."""
    stride_arg = args[0]
    if not isinstance(stride_arg, Literal) or stride_arg.value is None:
        raise ExecutionError("date_bin takes a constant stride")
    months, days, nanos = interval_parts(stride_arg)
    if months:
        raise ExecutionError("date_bin: a stride in months is not supported")
    stride = days * NANOS_PER_DAY + nanos
    if stride <= 0:
        raise ExecutionError("date_bin: stride must be non-zero and positive")
    ts = _cast_array(_column_of(args[1], n), pa.timestamp("ns"), safe=False)
    origin = 0
    if len(args) > 2:
        o = args[2]
        if not isinstance(o, Literal):
            raise ExecutionError("date_bin takes a constant origin")
        if o.value is None:
            return pa.nulls(n, out_type)
        origin = _cast_array(_column_of(o, 1), pa.timestamp("ns"), safe=False).cast(pa.int64())[0].as_py()
    values = _numpy_values(ts.cast(pa.int64()), 0).astype(object)  # exact beyond int64 midpoints
    binned = [origin + ((v - origin) // stride) * stride for v in values]
    out = _from_numpy(np.array(binned, dtype=np.int64), _valid_mask(ts), pa.int64())
    return _cast_array(out.cast(pa.timestamp("ns")), out_type, safe=False)


TEMPORAL_FUNCTION_KERNELS: dict[str, Callable[[list[Operand], pa.DataType, int], pa.Array]] = {
    **{name: _to_timestamp(name) for name in TIMESTAMP_FUNCTION_UNITS},
    "to_unixtime": _fn_to_unixtime,
    "from_unixtime": _fn_from_unixtime,
    "to_date": _fn_to_date,
    "make_date": _fn_make_date,
    "date_bin": _fn_date_bin,
}
