"""Dates and timestamps on the device: interval arithmetic, date_part and date_trunc."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pyarrow as pa

from fallback_cpu.types import (
    NANOS_PER_DAY,
    UNIT_NANOS,
    interval_operands,
    interval_parts,
    operand_type,
    trunc_div,
)
from gpu_exec.cudf.cast import _cast
from gpu_exec.cudf.columns import (
    CudfColumn,
    Operand,
    _all_null,
    _any_true,
    _binop,
    _column_of,
    _compare,
    _int_op,
    _libcudf_op,
    _or,
    _reinterpret,
    _scalar,
)
from gpu_exec.cudf.host import _cpu_kernels, _host_array, _upload_array
from gpu_exec.cudf.types import _device_type, _dtype, _int32, _int64
from planner.errors import ExecutionError
from planner.expr import BinaryOperator, Literal

if TYPE_CHECKING:
    import pylibcudf as plc
else:
    from gpu_exec.cudf.lazy import plc


def _add_interval(points: CudfColumn, parts: tuple[int, int, int], sign: int) -> plc.Column:
    """date/timestamp ± MonthDayNano in DataFusion's order: months (day clamped to the month's
    end, time of day kept: add_calendrical_months), then days, then nanoseconds (for a DATE
    only whole days, truncated toward zero; for a timestamp floored to its unit)."""
    months, days, nanos = (sign * p for p in parts)
    t = points.type
    data = points.data
    if months:
        data = plc.datetime.add_calendrical_months(data, _scalar(months, _int32()))
    Op = plc.binaryop.BinaryOperator
    if pa.types.is_date32(t):
        shift = days + trunc_div(nanos, NANOS_PER_DAY)
        if shift:
            data = _binop(data, _scalar(shift, _dtype(plc.TypeId.DURATION_DAYS)), Op.ADD, data.type())
        return data
    if pa.types.is_timestamp(t):
        per_ns = UNIT_NANOS[t.unit]
        # t is a whole number of units, so floor((t·per + days·day + nanos) / per) = t + that.
        shift = (days * NANOS_PER_DAY + nanos) // per_ns
        if shift:
            duration = plc.DataType.from_arrow(pa.duration(t.unit))
            data = _binop(data, _scalar(shift, duration), Op.ADD, data.type())
        return data
    raise ExecutionError(f"cannot add an interval to {t}")


def _temporal_arithmetic(
    op: BinaryOperator, left: Operand, right: Operand, t: pa.DataType, n: int
) -> CudfColumn:
    lt, rt = operand_type(left), operand_type(right)
    if pa.types.is_interval(rt) or pa.types.is_interval(lt):
        point, interval, sign = interval_operands(op, left, right)
        if interval.value is None:
            return _all_null(t, n)
        shifted = _add_interval(_column_of(point, n), interval_parts(interval), sign)
        return _cast(CudfColumn(shifted, operand_type(point)), t, safe=False)
    a, b = _column_of(left, n), _column_of(right, n)
    if pa.types.is_date32(lt) and pa.types.is_date32(rt) and op is BinaryOperator.SUBTRACT:
        # date - date → days as Int64 (DataFusion 55): the int32 day counts, subtracted in int64.
        days_a, days_b = plc.unary.bit_cast(a.data, _int32()), plc.unary.bit_cast(b.data, _int32())
        diff = _binop(days_a, days_b, plc.binaryop.BinaryOperator.SUB, _int64())
        return _cast(CudfColumn(diff, pa.int64()), t, safe=False)
    if pa.types.is_duration(t) or pa.types.is_timestamp(t):
        name = "SUB" if op is BinaryOperator.SUBTRACT else "ADD"
        return CudfColumn(_binop(a.data, b.data, _libcudf_op(name), _device_type(t)), t)
    # host round-trip: other date/time arithmetic shapes follow pyarrow's kernels on the CPU.
    host = _cpu_kernels().binary(op, _host_array(a), _host_array(b), t, n)
    return _upload_array(host)


_DATETIME_COMPONENTS = {
    "year": "YEAR",
    "month": "MONTH",
    "day": "DAY",
    "hour": "HOUR",
    "minute": "MINUTE",
    "second": "SECOND",  # whole seconds: DataFusion 55 returns Int32 and drops the fraction
}


def _component(d: plc.Column, name: str) -> plc.Column:
    """A datetime component as INT32 (libcudf extracts INT16: NOTES.md, 'Datetimes')."""
    part = plc.datetime.extract_datetime_component(d, plc.datetime.DatetimeComponent[name])
    return plc.unary.cast(part, _int32())


def _iso_weekday(d: plc.Column) -> plc.Column:
    """ISO day of week, Monday = 1 … Sunday = 7 (libcudf's WEEKDAY is ISO)."""
    return _component(d, "WEEKDAY")


def _weeks_in_year(year: plc.Column) -> plc.Column:
    """52 or 53: a year has 53 ISO weeks when it starts on a Thursday, or is a leap year
    starting on a Wednesday — i.e. p(y) = 4 or p(y - 1) = 3 with
    p(y) = (y + y/4 - y/100 + y/400) mod 7."""

    def p(y: plc.Column) -> plc.Column:
        total = _int_op(y, _int_op(y, _scalar(4, _int32()), "DIV"), "ADD")
        total = _int_op(total, _int_op(y, _scalar(100, _int32()), "DIV"), "SUB")
        total = _int_op(total, _int_op(y, _scalar(400, _int32()), "DIV"), "ADD")
        return _int_op(total, _scalar(7, _int32()), "PYMOD")

    Op = plc.binaryop.BinaryOperator
    previous = _int_op(year, _scalar(1, _int32()), "SUB")
    long_year = _or(
        _compare(p(year), _scalar(4, _int32()), Op.EQUAL),
        _compare(p(previous), _scalar(3, _int32()), Op.EQUAL),
    )
    return plc.copying.copy_if_else(_scalar(53, _int32()), _scalar(52, _int32()), long_year)


def _iso_week(d: plc.Column) -> plc.Column:
    """ISO 8601 week number; libcudf has no kernel for it, so the textbook arithmetic:
    w = (doy - weekday + 10) / 7; w = 0 is the previous year's last week, w beyond the year's
    weeks is week 1."""
    Op = plc.binaryop.BinaryOperator
    doy = plc.unary.cast(plc.datetime.day_of_year(d), _int32())
    year = _component(d, "YEAR")
    w = _int_op(
        _int_op(_int_op(doy, _iso_weekday(d), "SUB"), _scalar(10, _int32()), "ADD"),
        _scalar(7, _int32()),
        "DIV",
    )
    # Both tests look at the raw w (a replaced 53 must not count as beyond this year's weeks).
    before = _compare(w, _scalar(1, _int32()), Op.LESS)
    beyond = _compare(w, _weeks_in_year(year), Op.GREATER)
    previous_weeks = _weeks_in_year(_int_op(year, _scalar(1, _int32()), "SUB"))
    w = plc.copying.copy_if_else(_scalar(1, _int32()), w, beyond)
    return plc.copying.copy_if_else(previous_weeks, w, before)


def _date_part(part: str, d: CudfColumn) -> plc.Column:
    part = part.lower()
    data = d.data
    if pa.types.is_date(d.type) and part in ("hour", "minute", "second"):
        data = plc.unary.cast(data, _dtype(plc.TypeId.TIMESTAMP_SECONDS))
    if part in _DATETIME_COMPONENTS:
        return _component(data, _DATETIME_COMPONENTS[part])
    if part == "quarter":
        return plc.unary.cast(plc.datetime.extract_quarter(data), _int32())
    if part == "doy":
        return plc.unary.cast(plc.datetime.day_of_year(data), _int32())
    if part == "dow":
        # DataFusion: Sunday = 0 … Saturday = 6; ISO Sunday is 7 → iso % 7.
        return _int_op(_iso_weekday(data), _scalar(7, _int32()), "MOD")
    if part == "week":
        return _iso_week(data)
    if part == "isodow":
        return _iso_weekday(data)
    if part in ("millisecond", "microsecond"):
        # DataFusion counts the seconds too: 13:14:15.750 has millisecond 15750. A date has 0.
        if pa.types.is_date(d.type):
            return _int_op(_component(data, "YEAR"), _scalar(0, _int32()), "MUL")
        total = _int_op(_component(data, "SECOND"), _scalar(1000, _int32()), "MUL")
        total = _int_op(total, _component(data, "MILLISECOND"), "ADD")
        if part == "microsecond":
            total = _int_op(total, _scalar(1000, _int32()), "MUL")
            total = _int_op(total, _component(data, "MICROSECOND"), "ADD")
        return total
    raise ExecutionError(f"date_part: unsupported part {part!r}")


def _minus_days(days: plc.Column, count: plc.Column) -> plc.Column:
    """TIMESTAMP_DAYS minus an INT32 day count."""
    duration = plc.unary.bit_cast(count, _dtype(plc.TypeId.DURATION_DAYS))
    return _binop(days, duration, plc.binaryop.BinaryOperator.SUB, days.type())


def _date_trunc(part: str, d: CudfColumn, t: pa.DataType) -> CudfColumn:
    unit = part.lower()
    frequencies = {"day": "DAY", "hour": "HOUR", "minute": "MINUTE", "second": "SECOND"}
    if unit in frequencies:
        if pa.types.is_date(d.type):
            truncated = d.data  # a date is already whole days
        else:
            truncated = plc.datetime.floor_datetimes(
                d.data, plc.datetime.RoundingFrequency[frequencies[unit]]
            )
        return _cast(CudfColumn(truncated, d.type), t, safe=False)
    if unit not in ("week", "month", "quarter", "year"):
        raise ExecutionError(f"date_trunc: unsupported part {part!r}")
    days = plc.unary.cast(d.data, _dtype(plc.TypeId.TIMESTAMP_DAYS))  # floors timestamps to the day
    one = _scalar(1, _int32())
    if unit == "week":  # DataFusion truncates weeks to Monday
        start = _minus_days(days, _int_op(_iso_weekday(days), one, "SUB"))
    else:
        # the first of the month: d - (day - 1) days, then whole months back.
        start = _minus_days(days, _int_op(_component(days, "DAY"), one, "SUB"))
        if unit != "month":
            month0 = _int_op(_component(days, "MONTH"), one, "SUB")
            back = month0 if unit == "year" else _int_op(month0, _scalar(3, _int32()), "MOD")
            start = plc.datetime.add_calendrical_months(start, _int_op(_scalar(0, _int32()), back, "SUB"))
    return _cast(CudfColumn(start, pa.date32()), t, safe=False)


def _part_name(x: Operand, fn: str) -> str:
    if not isinstance(x, Literal) or not isinstance(x.value, str):
        raise ExecutionError(f"{fn}: the first argument must be a string literal")
    return x.value


def _fn_date_part(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    part = _part_name(args[0], "date_part")
    return CudfColumn(_date_part(part, _column_of(args[1], n)), pa.int32())


def _fn_date_trunc(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    part = _part_name(args[0], "date_trunc")
    return _date_trunc(part, _column_of(args[1], n), t)


# ---- conversions between numbers, dates and timestamps (DataFusion's to_timestamp family) ------

_TIMESTAMP_FUNCTION_UNITS = {
    "to_timestamp": "s", "to_timestamp_seconds": "s", "to_timestamp_millis": "ms",
    "to_timestamp_micros": "us", "to_timestamp_nanos": "ns",
}


def _counted(ints: plc.Column, unit: str, what: str) -> plc.Column:
    """An INT64 count of ``unit`` as nanoseconds, or an ExecutionError when one overflows."""
    per = UNIT_NANOS[unit]
    if per == 1:
        return ints
    limit = (2**63 - 1) // per
    Op = plc.binaryop.BinaryOperator
    outside = _or(_compare(ints, _scalar(limit, _int64()), Op.GREATER),
                  _compare(ints, _scalar(-limit, _int64()), Op.LESS))
    if _any_true(outside):
        raise ExecutionError(f"{what}: the value does not fit a nanosecond timestamp")
    return _binop(ints, _scalar(per, _int64()), Op.MUL, _int64())


def _coarser(x: CudfColumn, unit: str) -> plc.Column:
    """A timestamp in ``unit``, truncated toward zero as arrow-rs casts (libcudf's casts floor:
    1969-12-31 23:59:59.5 would become -1 s, not 0): INT64 division of the ticks, which
    truncates."""
    source = UNIT_NANOS[x.type.unit]
    target = UNIT_NANOS[unit]
    if target <= source:
        return plc.unary.cast(x.data, _device_type(pa.timestamp(unit)))
    ticks = _binop(_reinterpret(x.data, _int64()), _scalar(target // source, _int64()),
                   plc.binaryop.BinaryOperator.DIV, _int64())
    return _reinterpret(ticks, _device_type(pa.timestamp(unit)))


def _to_timestamp(name: str) -> Callable[[list[Operand], pa.DataType, int], CudfColumn]:
    unit = _TIMESTAMP_FUNCTION_UNITS[name]

    def kernel(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
        x = _column_of(args[0], n)
        if pa.types.is_timestamp(x.type):
            return CudfColumn(_coarser(x, t.unit), t)
        if pa.types.is_integer(x.type):
            ints = _cast(x, pa.int64(), safe=False).data
            if t.unit != unit:  # to_timestamp: seconds in, nanoseconds out
                nanos = _reinterpret(_counted(ints, unit, name), _device_type(pa.timestamp("ns")))
                return _cast(CudfColumn(nanos, pa.timestamp("ns")), t, safe=False)
            return CudfColumn(_reinterpret(ints, _device_type(t)), t)
        if pa.types.is_floating(x.type):
            # Seconds with a fraction: to nanoseconds in Float64, truncated by the cast to INT64.
            floats = _cast(x, pa.float64(), safe=False).data
            scaled = _binop(floats, _scalar(float(UNIT_NANOS[unit]), floats.type()),
                            plc.binaryop.BinaryOperator.MUL, floats.type())
            nanos = _reinterpret(plc.unary.cast(scaled, _int64()), _device_type(pa.timestamp("ns")))
            return _cast(CudfColumn(nanos, pa.timestamp("ns")), t, safe=False)
        raise ExecutionError(f"Unsupported data type {x.type} for function {name}")

    return kernel


def _fn_to_unixtime(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    x = _column_of(args[0], n)
    if pa.types.is_date32(x.type):
        seconds = plc.unary.cast(x.data, _device_type(pa.timestamp("s")))  # exact: days → seconds
        return CudfColumn(_reinterpret(seconds, _int64()), pa.int64())
    if pa.types.is_timestamp(x.type):
        return CudfColumn(_reinterpret(_coarser(x, "s"), _int64()), pa.int64())  # toward zero
    if pa.types.is_integer(x.type):
        return _cast(x, pa.int64(), safe=False)
    raise ExecutionError(f"to_unixtime of {x.type} is not supported")


def _fn_from_unixtime(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    seconds = _cast(_column_of(args[0], n), pa.int64(), safe=False).data
    stamped = CudfColumn(_reinterpret(seconds, _device_type(pa.timestamp("s"))), pa.timestamp("s"))
    return _cast(stamped, t, safe=False)


def _fn_to_date(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    x = _column_of(args[0], n)
    if pa.types.is_date32(x.type) or pa.types.is_timestamp(x.type):
        return _cast(x, pa.date32(), safe=False)
    if pa.types.is_integer(x.type):  # days since the epoch, which must fit Date32's int32
        days = _cast(x, pa.int32(), safe=True).data
        return CudfColumn(_reinterpret(days, _device_type(pa.date32())), pa.date32())
    raise ExecutionError(f"to_date of {x.type} is not supported")


TEMPORAL_FUNCTION_KERNELS: dict[str, Callable[[list[Operand], pa.DataType, int], CudfColumn]] = {
    **{name: _to_timestamp(name) for name in _TIMESTAMP_FUNCTION_UNITS},
    "to_unixtime": _fn_to_unixtime,
    "from_unixtime": _fn_from_unixtime,
    "to_date": _fn_to_date,
}
