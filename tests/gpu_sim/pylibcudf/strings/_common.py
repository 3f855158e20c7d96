"""Helpers of the simulated ``pylibcudf.strings`` modules: reading a STRING column as Python
values, writing one back, and libcudf's argument checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa

from pylibcudf import _sim
from pylibcudf.column import Column
from pylibcudf.scalar import Scalar
from pylibcudf.types import DataType, TypeId

STRING = DataType(TypeId.STRING)


def strings(col: Any, what: str = "input") -> list[str | None]:
    """The rows of a STRING column (None for NULL); RuntimeError for another type, as
    ``strings_column_view`` (a logic_error)."""
    if not isinstance(col, Column):
        raise TypeError(f"{what} must be a Column, not {type(col).__name__}")
    if col.type().id() != TypeId.STRING:
        raise RuntimeError(f"strings_column_view only supports strings ({what} is {col.type()})")
    return _sim.column_to_arrow(col).to_pylist()


def string_scalar(s: Any, what: str, must_be_valid: bool = True) -> str | None:
    if not isinstance(s, Scalar):
        raise TypeError(f"{what} must be a Scalar, not {type(s).__name__}")
    if s.type().id() != TypeId.STRING:
        raise TypeError(f"{what} must be a STRING scalar, not {s.type()} (simulated: pylibcudf would "
                        "reinterpret it as a string_scalar)")
    if must_be_valid and not s.is_valid():
        raise RuntimeError(f"Parameter {what} must be valid.")
    return s._value


def string_column(values: list[str | None]) -> Column:
    return _sim.column_from_arrow(pa.array(values, pa.string()), STRING)


def typed_column(values: list[Any], dtype: DataType) -> Column:
    return _sim.column_from_arrow(pa.array(values, _sim.value_type(dtype)), dtype)


def map_strings(col: Any, fn: Callable[[str], Any], dtype: DataType) -> Column:
    """``fn`` of every valid row; NULL rows stay NULL."""
    return typed_column([None if s is None else fn(s) for s in strings(col)], dtype)


def row_targets(target: Any, n: int, what: str = "target") -> list[str | None]:
    """A Scalar target (must be valid) broadcast to ``n`` rows, or a Column target's rows."""
    if isinstance(target, Scalar):
        value = string_scalar(target, what)
        return [value] * n
    if isinstance(target, Column):
        rows = strings(target, what)
        if len(rows) != n:
            raise RuntimeError(f"{what} and input columns must be the same size")
        return rows
    raise TypeError(f"{what} must be a Column or a Scalar, not {type(target).__name__}")
