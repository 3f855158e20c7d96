"""Simulated ``pylibcudf.strings.convert.convert_integers`` (models pylibcudf 26.10; libcudf
``cpp/src/strings/convert/convert_integers.cu``).

- ``to_integers(input, output_type)``: libcudf parses an optional sign and decimal digits and
  returns *garbage* (no error, no NULL) for anything else or for a value that does not fit the
  type. The simulator raises ValueError for such a row ("(simulated: ...)") so a caller that does
  not validate first (``is_integer``) fails here. The output type must be an integer type
  (not BOOL8), RuntimeError otherwise.
- ``is_integer(input, int_type=None)``: BOOL8 — an optional leading '+'/'-' and at least one
  digit, nothing else; with ``int_type`` the value must also fit it (a '-' is refused for
  unsigned types). NULL rows stay NULL.
- ``from_integers(integers)``: decimal text of an integer column (not BOOL8).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from pylibcudf import _sim
from pylibcudf.column import Column
from pylibcudf.strings._common import STRING, map_strings, strings, typed_column
from pylibcudf.types import DataType, TypeId

__all__ = ["from_integers", "is_integer", "to_integers"]

_SHAPE = re.compile(r"[+-]?[0-9]+")
_BOOL8 = DataType(TypeId.BOOL8)


def _bounds(dtype: DataType) -> tuple[int, int]:
    info = np.iinfo(_sim.storage_dtype(dtype))
    return int(info.min), int(info.max)


def _integer_type(dtype: Any, what: str) -> DataType:
    if not isinstance(dtype, DataType):
        raise TypeError(f"{what} must be a DataType, not {type(dtype).__name__}")
    if dtype.id() not in _sim.INTEGER_IDS:
        raise RuntimeError(f"{what} must be an integer type, not {dtype}")
    return dtype


def _fits(s: str, dtype: DataType | None) -> bool:
    if not s.isascii() or _SHAPE.fullmatch(s) is None:
        return False
    if dtype is None:
        return True
    lo, hi = _bounds(dtype)
    if s.startswith("-") and lo == 0:
        return False
    return lo <= int(s) <= hi


def to_integers(input: Column, output_type: DataType, stream: Any = None, mr: Any = None) -> Column:
    dtype = _integer_type(output_type, "Output for to_integers")
    rows = strings(input)
    for s in rows:
        if s is not None and not _fits(s, dtype):
            raise ValueError(f"to_integers({s!r}) as {dtype} (simulated: libcudf would return garbage for a "
                             "string that is not an integer of that type — validate with is_integer first)")
    return typed_column([None if s is None else int(s) for s in rows], dtype)


def is_integer(input: Column, int_type: DataType | None = None, stream: Any = None, mr: Any = None) -> Column:
    dtype = None if int_type is None else _integer_type(int_type, "is_integer's int_type")
    return map_strings(input, lambda s: _fits(s, dtype), _BOOL8)


def from_integers(integers: Column, stream: Any = None, mr: Any = None) -> Column:
    if not isinstance(integers, Column):
        raise TypeError(f"integers must be a Column, not {type(integers).__name__}")
    if integers.type().id() not in _sim.INTEGER_IDS:
        raise RuntimeError(f"Values for from_integers function must be an integer type, not {integers.type()}")
    values = _sim.column_to_arrow(integers).to_pylist()
    return typed_column([None if v is None else str(int(v)) for v in values], STRING)
