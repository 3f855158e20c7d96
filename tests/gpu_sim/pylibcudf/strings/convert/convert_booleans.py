"""Simulated ``pylibcudf.strings.convert.convert_booleans`` (models pylibcudf 26.10; libcudf
``cpp/src/strings/convert/convert_booleans.cu``): ``from_booleans(booleans, true_string,
false_string)`` needs a BOOL8 column and two valid non-empty strings (RuntimeError otherwise);
``to_booleans(input, true_string)`` is true exactly where a row equals ``true_string``. NULL rows
stay NULL."""

from __future__ import annotations

from typing import Any

from pylibcudf import _sim
from pylibcudf.column import Column
from pylibcudf.scalar import Scalar
from pylibcudf.strings._common import STRING, map_strings, string_scalar, typed_column
from pylibcudf.types import DataType, TypeId

__all__ = ["from_booleans", "to_booleans"]


def _non_empty(s: Scalar, what: str) -> str:
    value = string_scalar(s, what)
    if not value:
        raise RuntimeError(f"{what} parameter must be a valid, non-empty string")
    return value


def from_booleans(booleans: Column, true_string: Scalar, false_string: Scalar, stream: Any = None,
                  mr: Any = None) -> Column:
    if not isinstance(booleans, Column):
        raise TypeError(f"booleans must be a Column, not {type(booleans).__name__}")
    if booleans.type().id() != TypeId.BOOL8:
        raise RuntimeError(f"Input column must be boolean type, not {booleans.type()}")
    yes, no = _non_empty(true_string, "true_string"), _non_empty(false_string, "false_string")
    values = _sim.column_to_arrow(booleans).to_pylist()
    return typed_column([None if v is None else (yes if v else no) for v in values], STRING)


def to_booleans(input: Column, true_string: Scalar, stream: Any = None, mr: Any = None) -> Column:
    yes = _non_empty(true_string, "true_string")
    return map_strings(input, lambda s: s == yes, DataType(TypeId.BOOL8))
