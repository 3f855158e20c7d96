"""Simulated ``pylibcudf.Scalar`` (models pylibcudf 26.10 ``scalar.pyx``): a typed value on the
simulated device, with ``from_py``'s type rules."""

from __future__ import annotations

import datetime
import decimal
from typing import Any

import pyarrow as pa

from pylibcudf import _sim
from pylibcudf.types import DataType, TypeId

__all__ = ["Scalar"]

_INT_BOUNDS = {TypeId.INT8: (-2**7, 2**7 - 1), TypeId.INT16: (-2**15, 2**15 - 1), TypeId.INT32: (-2**31, 2**31 - 1),
               TypeId.INT64: (-2**63, 2**63 - 1), TypeId.UINT8: (0, 2**8 - 1), TypeId.UINT16: (0, 2**16 - 1),
               TypeId.UINT32: (0, 2**32 - 1), TypeId.UINT64: (0, 2**64 - 1)}


class Scalar:
    """A value (None when invalid) and its libcudf type."""

    __slots__ = ("_value", "_dtype")

    def __init__(self) -> None:
        raise TypeError("build a Scalar with Scalar.from_py or Scalar.from_arrow")

    @classmethod
    def _of(cls, value: Any, dtype: DataType) -> Scalar:
        s = object.__new__(cls)
        s._value, s._dtype = value, dtype
        return s

    def type(self) -> DataType:
        return self._dtype

    def is_valid(self) -> bool:
        return self._value is not None

    def to_py(self) -> Any:
        return self._value

    def to_arrow(self) -> pa.Scalar:
        return pa.scalar(self._value, type=_sim.arrow_type_of(self._dtype))

    @staticmethod
    def from_arrow(scalar: pa.Scalar, dtype: DataType | None = None) -> Scalar:
        if dtype is not None:
            raise NotImplementedError("Converting to a specific type is not yet implemented.")
        target = _sim.datatype_from_arrow(scalar.type)
        return Scalar._of(scalar.as_py() if scalar.is_valid else None, target)

    @staticmethod
    def from_py(value: Any, dtype: DataType | None = None) -> Scalar:
        """pylibcudf's rules: None needs a dtype; an int defaults to INT64, a float to FLOAT64, a
        date/datetime to TIMESTAMP_MICROSECONDS; a Decimal is always DECIMAL128 at its own
        exponent, whatever dtype says; values out of the type's range raise OverflowError."""
        if value is None:
            if dtype is None:
                raise ValueError("Must provide a dtype for a null Scalar")
            return Scalar._of(None, dtype)
        if isinstance(value, decimal.Decimal):
            exponent = value.as_tuple().exponent
            if not isinstance(exponent, int):
                raise ValueError(f"cannot make a decimal scalar of {value}")
            return Scalar._of(value, DataType(TypeId.DECIMAL128, exponent))
        if isinstance(value, bool):
            dtype = dtype or DataType(TypeId.BOOL8)
            if dtype.id() != TypeId.BOOL8 and dtype.id() not in _sim.INTEGER_IDS:
                raise TypeError(f"cannot make a {dtype} scalar of a bool")
            return Scalar._of(value if dtype.id() == TypeId.BOOL8 else int(value), dtype)
        if isinstance(value, int):
            dtype = dtype or DataType(TypeId.INT64)
            tid = dtype.id()
            if tid in _INT_BOUNDS:
                lo, hi = _INT_BOUNDS[tid]
                if not lo <= value <= hi:
                    raise OverflowError(f"{value} is out of range for {dtype}")
                return Scalar._of(value, dtype)
            if tid in _sim.FLOAT_IDS:
                return Scalar._of(float(value), dtype)
            if tid in _sim.DURATION_IDS:
                return Scalar._of(value if tid == TypeId.DURATION_DAYS else
                                  pa.scalar(value, pa.duration(_sim.value_type(dtype).unit)).as_py(), dtype)
            if tid == TypeId.BOOL8:
                return Scalar._of(bool(value), dtype)
            if tid in _sim.DECIMAL_IDS:
                return Scalar._of(decimal.Decimal(value).scaleb(0), dtype)
            raise TypeError(f"cannot make a {dtype} scalar of an int")
        if isinstance(value, float):
            dtype = dtype or DataType(TypeId.FLOAT64)
            if dtype.id() not in _sim.FLOAT_IDS:
                raise TypeError(f"cannot make a {dtype} scalar of a float")
            return Scalar._of(value, dtype)
        if isinstance(value, str):
            dtype = dtype or DataType(TypeId.STRING)
            if dtype.id() != TypeId.STRING:
                raise TypeError(f"cannot make a {dtype} scalar of a str")
            return Scalar._of(value, dtype)
        if isinstance(value, (datetime.date, datetime.datetime)):
            dtype = dtype or DataType(TypeId.TIMESTAMP_MICROSECONDS)
            if dtype.id() not in _sim.TIMESTAMP_IDS:
                raise TypeError(f"cannot make a {dtype} scalar of a {type(value).__name__}")
            arr = pa.array([value]).cast(_sim.value_type(dtype))
            return Scalar._of(arr[0].as_py(), dtype)
        if isinstance(value, datetime.timedelta):
            dtype = dtype or DataType(TypeId.DURATION_MICROSECONDS)
            if dtype.id() not in _sim.DURATION_IDS:
                raise TypeError(f"cannot make a {dtype} scalar of a timedelta")
            if dtype.id() == TypeId.DURATION_DAYS:
                return Scalar._of(value.days, dtype)
            return Scalar._of(value, dtype)
        raise TypeError(f"Unsupported type for Scalar.from_py: {type(value).__name__}")

    def __repr__(self) -> str:
        return f"<simulated Scalar {self._dtype} {self._value!r}>"
