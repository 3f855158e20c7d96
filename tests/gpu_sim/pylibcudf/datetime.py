"""Simulated ``pylibcudf.datetime`` (models pylibcudf 26.10, ``datetime.pyx``; libcudf
``cpp/src/datetime/datetime_ops.cu``, ``cpp/include/cudf/detail/datetime_ops.cuh``).

Behaviour modelled:

- Every function takes a TIMESTAMP_* column only (RuntimeError otherwise: "Column type should be
  timestamp"); NULL rows stay NULL.
- ``extract_datetime_component`` returns INT16: YEAR, MONTH (1-12), DAY (1-31), WEEKDAY in ISO
  encoding (Monday = 1 … Sunday = 7), HOUR, MINUTE, SECOND and the sub-second parts of the time
  since midnight (times before 1970 counted from their own midnight, as libcudf floors to days).
  ``extract_quarter``, ``day_of_year`` and ``days_in_month`` are INT16, ``is_leap_year`` BOOL8,
  ``last_day_of_month`` TIMESTAMP_DAYS.
- ``add_calendrical_months(ts, months)``: months is an INT16/INT32 column or scalar; the day is
  clamped to the end of the target month (Jan 31 + 1 month = Feb 28/29), the time of day is kept;
  an invalid months scalar gives an all-NULL column, a NULL months row a NULL row.
- ``floor/ceil/round_datetimes(col, RoundingFrequency)``: to a multiple of the frequency since the
  epoch, in the column's own type; ``round`` breaks ties to the even multiple, as
  ``cuda::std::chrono::round`` does. A frequency finer than the column's unit changes nothing.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

import numpy as np
import pyarrow as pa

from pylibcudf import _sim
from pylibcudf.column import Column
from pylibcudf.scalar import Scalar
from pylibcudf.types import DataType, TypeId

__all__ = [
    "DatetimeComponent",
    "RoundingFrequency",
    "add_calendrical_months",
    "ceil_datetimes",
    "day_of_year",
    "days_in_month",
    "extract_datetime_component",
    "extract_quarter",
    "floor_datetimes",
    "is_leap_year",
    "last_day_of_month",
    "round_datetimes",
]


class DatetimeComponent(IntEnum):
    YEAR = 0
    MONTH = 1
    DAY = 2
    WEEKDAY = 3
    HOUR = 4
    MINUTE = 5
    SECOND = 6
    MILLISECOND = 7
    MICROSECOND = 8
    NANOSECOND = 9


class RoundingFrequency(IntEnum):
    DAY = 0
    HOUR = 1
    MINUTE = 2
    SECOND = 3
    MILLISECOND = 4
    MICROSECOND = 5
    NANOSECOND = 6


_PER_SECOND = {TypeId.TIMESTAMP_SECONDS: 1, TypeId.TIMESTAMP_MILLISECONDS: 10**3,
               TypeId.TIMESTAMP_MICROSECONDS: 10**6, TypeId.TIMESTAMP_NANOSECONDS: 10**9}
_FREQ_NANOS = {RoundingFrequency.DAY: 86_400 * 10**9, RoundingFrequency.HOUR: 3_600 * 10**9,
               RoundingFrequency.MINUTE: 60 * 10**9, RoundingFrequency.SECOND: 10**9,
               RoundingFrequency.MILLISECOND: 10**6, RoundingFrequency.MICROSECOND: 10**3,
               RoundingFrequency.NANOSECOND: 1}


def _counts(col: Column) -> tuple[np.ndarray, np.ndarray | None, int]:
    """(int64 counts in the column's unit, null flags or None, units per day)."""
    if not isinstance(col, Column):
        raise TypeError(f"input must be a Column, not {type(col).__name__}")
    tid = col.type().id()
    if tid not in _sim.TIMESTAMP_IDS:
        raise RuntimeError(f"Column type should be timestamp, not {col.type()}")
    arr = _sim.column_to_arrow(col)
    storage = pa.int32() if tid == TypeId.TIMESTAMP_DAYS else pa.int64()
    ints = arr.view(storage)
    nulls = None if arr.null_count == 0 else ~np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), bool)
    values = np.asarray(ints.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)
    per_day = 1 if tid == TypeId.TIMESTAMP_DAYS else 86_400 * _PER_SECOND[tid]
    return values, nulls, per_day


def _int16(values: np.ndarray, nulls: np.ndarray | None) -> Column:
    return _sim.column_from_arrow(pa.array(values.astype(np.int16), pa.int16(), mask=nulls), DataType(TypeId.INT16))


def _civil(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(year, month 1-12, day 1-31) of days since 1970-01-01 (proleptic Gregorian)."""
    dates = days.astype("datetime64[D]")
    years = dates.astype("datetime64[Y]")
    months = dates.astype("datetime64[M]")
    year = years.astype(np.int64) + 1970
    month = (months - years.astype("datetime64[M]")).astype(np.int64) + 1
    day = (dates - months.astype("datetime64[D]")).astype(np.int64) + 1
    return year, month, day


def _days_from_civil(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    first = ((year - 1970) * 12 + (month - 1)).astype("datetime64[M]").astype("datetime64[D]")
    return first.astype(np.int64) + (day - 1)


def _is_leap(year: np.ndarray) -> np.ndarray:
    return ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)


def _month_length(year: np.ndarray, month: np.ndarray) -> np.ndarray:
    lengths = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
    return lengths[month - 1] + ((month == 2) & _is_leap(year))


def _component(col: Column, component: Any) -> Column:
    component = DatetimeComponent(int(component))
    values, nulls, per_day = _counts(col)
    days = np.floor_divide(values, per_day)
    since_midnight = values - days * per_day
    if component in (DatetimeComponent.YEAR, DatetimeComponent.MONTH, DatetimeComponent.DAY):
        year, month, day = _civil(days)
        out = {DatetimeComponent.YEAR: year, DatetimeComponent.MONTH: month, DatetimeComponent.DAY: day}[component]
        return _int16(out, nulls)
    if component == DatetimeComponent.WEEKDAY:
        return _int16((days + 3) % 7 + 1, nulls)  # 1970-01-01 was a Thursday (ISO 4)
    unit_nanos = 86_400 * 10**9 // per_day
    nanos = since_midnight * unit_nanos
    part = {DatetimeComponent.HOUR: nanos // (3600 * 10**9), DatetimeComponent.MINUTE: nanos // (60 * 10**9) % 60,
            DatetimeComponent.SECOND: nanos // 10**9 % 60, DatetimeComponent.MILLISECOND: nanos // 10**6 % 1000,
            DatetimeComponent.MICROSECOND: nanos // 10**3 % 1000, DatetimeComponent.NANOSECOND: nanos % 1000}
    return _int16(part[component], nulls)


def extract_datetime_component(input: Column, component: DatetimeComponent, stream: Any = None,
                               mr: Any = None) -> Column:
    return _component(input, component)


def extract_quarter(input: Column, stream: Any = None, mr: Any = None) -> Column:
    values, nulls, per_day = _counts(input)
    _, month, _ = _civil(np.floor_divide(values, per_day))
    return _int16((month + 2) // 3, nulls)


def day_of_year(input: Column, stream: Any = None, mr: Any = None) -> Column:
    values, nulls, per_day = _counts(input)
    days = np.floor_divide(values, per_day)
    year, _, _ = _civil(days)
    return _int16(days - _days_from_civil(year, np.ones_like(year), np.ones_like(year)) + 1, nulls)


def days_in_month(input: Column, stream: Any = None, mr: Any = None) -> Column:
    values, nulls, per_day = _counts(input)
    year, month, _ = _civil(np.floor_divide(values, per_day))
    return _int16(_month_length(year, month), nulls)


def is_leap_year(input: Column, stream: Any = None, mr: Any = None) -> Column:
    values, nulls, per_day = _counts(input)
    year, _, _ = _civil(np.floor_divide(values, per_day))
    return _sim.column_from_arrow(pa.array(_is_leap(year), pa.bool_(), mask=nulls), DataType(TypeId.BOOL8))


def last_day_of_month(input: Column, stream: Any = None, mr: Any = None) -> Column:
    values, nulls, per_day = _counts(input)
    year, month, _ = _civil(np.floor_divide(values, per_day))
    days = _days_from_civil(year, month, _month_length(year, month))
    arr = pa.array(days.astype(np.int32), pa.int32(), mask=nulls).view(pa.date32())
    return _sim.column_from_arrow(arr, DataType(TypeId.TIMESTAMP_DAYS))


def _rebuild(values: np.ndarray, nulls: np.ndarray | None, like: Column) -> Column:
    tid = like.type().id()
    storage = pa.int32() if tid == TypeId.TIMESTAMP_DAYS else pa.int64()
    kind = np.int32 if tid == TypeId.TIMESTAMP_DAYS else np.int64
    arr = pa.array(values.astype(kind), storage, mask=nulls).view(_sim.value_type(like.type()))
    return _sim.column_from_arrow(arr, like.type())


def add_calendrical_months(input: Column, months: Column | Scalar, stream: Any = None,
                           mr: Any = None) -> Column:
    if not isinstance(months, (Column, Scalar)):
        raise TypeError("Must pass a Column or Scalar")
    values, nulls, per_day = _counts(input)
    if months.type().id() not in (TypeId.INT16, TypeId.INT32):
        raise RuntimeError(f"Months type should be INT16 or INT32, not {months.type()}")
    n = len(values)
    if isinstance(months, Scalar):
        if not months.is_valid():
            return _rebuild(np.zeros(n, np.int64), np.ones(n, bool), input)
        shift = np.full(n, int(months._value), dtype=np.int64)
    else:
        if months.size() != n:
            raise RuntimeError("Timestamp and months column should be of the same size")
        marr = _sim.column_to_arrow(months)
        shift = np.asarray(marr.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)
        if marr.null_count:
            month_nulls = ~np.asarray(marr.is_valid().to_numpy(zero_copy_only=False), bool)
            nulls = month_nulls if nulls is None else (nulls | month_nulls)
    days = np.floor_divide(values, per_day)
    time_of_day = values - days * per_day
    year, month, day = _civil(days)
    total = year * 12 + (month - 1) + shift
    new_year, new_month = np.floor_divide(total, 12), total % 12 + 1
    new_day = np.minimum(day, _month_length(new_year, new_month))
    return _rebuild(_days_from_civil(new_year, new_month, new_day) * per_day + time_of_day, nulls, input)


def _round(input: Column, freq: Any, how: str) -> Column:
    freq = RoundingFrequency(int(freq))
    values, nulls, per_day = _counts(input)
    unit_nanos = 86_400 * 10**9 // per_day
    step_nanos = _FREQ_NANOS[freq]
    if step_nanos <= unit_nanos:  # the frequency is finer than (or equal to) the unit: unchanged
        return _rebuild(values, nulls, input)
    step = step_nanos // unit_nanos
    low = np.floor_divide(values, step) * step
    if how == "floor":
        out = low
    elif how == "ceil":
        out = np.where(low == values, values, low + step)
    else:
        out = _round_half_even(values, step)
    return _rebuild(out, nulls, input)


def _round_half_even(values: np.ndarray, step: int) -> np.ndarray:
    """``cuda::std::chrono::round``: to the nearest multiple, ties to the even multiple."""
    low = np.floor_divide(values, step)
    remainder = values - low * step
    up = (2 * remainder > step) | ((2 * remainder == step) & (low % 2 == 1))
    return (low + up) * step


def floor_datetimes(input: Column, freq: RoundingFrequency, stream: Any = None, mr: Any = None) -> Column:
    return _round(input, freq, "floor")


def ceil_datetimes(input: Column, freq: RoundingFrequency, stream: Any = None, mr: Any = None) -> Column:
    return _round(input, freq, "ceil")


def round_datetimes(input: Column, freq: RoundingFrequency, stream: Any = None, mr: Any = None) -> Column:
    return _round(input, freq, "round")
