"""Constants: DataFusion's literal scalars as IR literals of their exact Arrow type."""

from __future__ import annotations

import decimal
from typing import TYPE_CHECKING

import pyarrow as pa

from planner import expr as ex
from planner.catalog import normalize_type

if TYPE_CHECKING:
    from planner.translate.translator import _Translator


def _literal(t: _Translator, scalar: pa.Scalar) -> ex.Literal:
    """A Literal of the exact Arrow type DataFusion gave the constant."""
    dtype = normalize_type(scalar.type)
    if not scalar.is_valid:
        return ex.Literal(None, dtype)
    value = scalar.as_py()
    if pa.types.is_decimal(dtype):
        value = _with_scale(value, dtype.scale)
    elif pa.types.is_interval(dtype) and dtype == pa.month_day_nano_interval():
        value = (value.months, value.days, value.nanoseconds)
    elif pa.types.is_timestamp(dtype) and hasattr(value, "to_pydatetime"):
        # pyarrow gives a pandas.Timestamp for nanosecond timestamps when pandas is installed.
        # A datetime holds microseconds only; one with nanoseconds (now(): DataFusion's clock
        # has them) stays a pandas.Timestamp, a datetime subclass that pyarrow converts back
        # exactly.
        if not value.nanosecond:
            value = value.to_pydatetime()
    elif not _plain_literal_type(dtype):
        t.unsupported(f"unsupported constant of type {scalar.type}: {value!r}")
    return ex.Literal(value, dtype)


def _plain_literal_type(dtype: pa.DataType) -> bool:
    return (
        pa.types.is_boolean(dtype)
        or pa.types.is_integer(dtype)
        or pa.types.is_floating(dtype)
        or pa.types.is_string(dtype)
        or pa.types.is_date(dtype)
        or pa.types.is_timestamp(dtype)
        or pa.types.is_null(dtype)
    )


def _with_scale(value: decimal.Decimal, scale: int) -> decimal.Decimal:
    # Decimal('1') of Decimal128(20, 0) and Decimal('0.10') of Decimal128(15, 2): the value
    # carries the type's scale, so str() and arithmetic in kernels see the planned digits.
    if scale < 0:
        return value
    return value.quantize(decimal.Decimal(1).scaleb(-scale), context=_DECIMAL_CONTEXT)


_DECIMAL_CONTEXT = decimal.Context(prec=80)  # wider than Decimal256; the default 28 digits is not
