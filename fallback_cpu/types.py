"""Type rules both backends share, written once: the cuDF kernels import them from here."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from planner.errors import ExecutionError
from planner.expr import BinaryOperator, Literal

__all__ = [
    "NANOS_PER_DAY",
    "UNIT_NANOS",
    "int_bounds",
    "interval_operands",
    "interval_parts",
    "is_string",
    "is_temporal_arithmetic",
    "is_temporal_point",
    "operand_type",
    "sum_type_of",
    "trunc_div",
]

NANOS_PER_DAY = 86_400 * 10**9
UNIT_NANOS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}  # nanoseconds per timestamp unit


def is_string(t: pa.DataType) -> bool:
    """Any of Arrow's string types (utf8, large_utf8, utf8_view)."""
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t))


def is_temporal_point(t: pa.DataType) -> bool:
    """A date or a timestamp: what an interval can be added to."""
    return bool(pa.types.is_date(t) or pa.types.is_timestamp(t))


def is_temporal_arithmetic(lt: pa.DataType, rt: pa.DataType) -> bool:
    """Is ``lt op rt`` date/time arithmetic (a date, timestamp or interval on either side)?"""
    return bool(
        is_temporal_point(lt) or is_temporal_point(rt) or pa.types.is_interval(lt) or pa.types.is_interval(rt)
    )


def operand_type(x: Any) -> pa.DataType:
    """The Arrow type of an Operand (a backend column, or a ``planner.expr.Literal``)."""
    return x.dtype if isinstance(x, Literal) else x.type


def int_bounds(t: pa.DataType) -> tuple[int, int]:
    """The smallest and largest value of integer type ``t``."""
    info = np.iinfo(t.to_pandas_dtype())
    return int(info.min), int(info.max)


def interval_parts(lit: Literal) -> tuple[int, int, int]:
    """(months, days, nanoseconds) of a MonthDayNano interval literal."""
    months, days, nanos = lit.value
    return int(months), int(days), int(nanos)


def interval_operands(op: BinaryOperator, left: Any, right: Any) -> tuple[Any, Literal, int]:
    """date/timestamp ± interval as (the date/timestamp operand, the interval literal, +1 or -1).
    An interval may come first only in an addition, and intervals are literals only."""
    if pa.types.is_interval(operand_type(left)):
        if op is not BinaryOperator.ADD:
            raise ExecutionError("only interval + date/timestamp is defined")
        left, right = right, left
    if not isinstance(right, Literal):
        raise ExecutionError("interval operands must be literals")
    return left, right, 1 if op is BinaryOperator.ADD else -1


def trunc_div(value: int, by: int) -> int:
    """``value / by`` truncated toward zero (``by`` > 0)."""
    q = abs(value) // by
    return -q if value < 0 else q


def sum_type_of(t: pa.DataType) -> pa.DataType:
    """What SUM accumulates in, as DataFusion: int64, uint64, float64 (SUM(float32) too), and
    decimal128(38, s) for any decimal (DataFusion's SUM(decimal(p, s)) is decimal(p + 10, s):
    never accumulate at the input's width)."""
    if pa.types.is_decimal(t):
        return pa.decimal128(38, t.scale)
    if pa.types.is_unsigned_integer(t):
        return pa.uint64()
    if pa.types.is_integer(t) or pa.types.is_boolean(t):
        return pa.int64()
    if pa.types.is_floating(t):
        return pa.float64()
    return t


# The whitespace arrow-rs's integer and float parsers skip around a number (Rust's ASCII
# whitespace: space, tab, LF, form feed, CR; not VT, not Unicode spaces such as U+00A0).
NUMBER_WHITESPACE = " \t\n\x0c\r"
