"""Simulated ``pylibcudf.strings.repeat`` (models pylibcudf 26.10): ``repeat_strings`` with one count
for every row or a column of integer counts. A count <= 0 gives ''; a NULL string or a NULL count
gives NULL; an output beyond size_type bytes raises, as libcudf's overflow check."""

from __future__ import annotations

from typing import Any

from pylibcudf import _sim
from pylibcudf.column import Column
from pylibcudf.strings._common import string_column, strings
from pylibcudf.types import TypeId

__all__ = ["repeat_strings"]

_SIZE_TYPE_MAX = 2**31 - 1
_INTEGER_IDS = (TypeId.INT8, TypeId.INT16, TypeId.INT32, TypeId.INT64,
                TypeId.UINT8, TypeId.UINT16, TypeId.UINT32, TypeId.UINT64)


def repeat_strings(input: Column, repeat_times: Column | int, stream: Any = None, mr: Any = None) -> Column:
    rows = strings(input)
    if isinstance(repeat_times, Column):
        if repeat_times.type().id() not in _INTEGER_IDS:
            raise RuntimeError("repeat_strings: repeat_times must be an integer type column")
        if repeat_times.size() != len(rows):
            raise RuntimeError("The input and repeat_times columns must have the same size.")
        counts = _sim.column_to_arrow(repeat_times).to_pylist()
    elif isinstance(repeat_times, int) and not isinstance(repeat_times, bool):
        if not -(2**31) <= repeat_times <= _SIZE_TYPE_MAX:
            raise OverflowError("repeat_times does not fit size_type")
        counts = [repeat_times] * len(rows)
    else:
        raise TypeError(f"repeat_times must be a Column or an int, not {type(repeat_times).__name__}")
    out: list[str | None] = []
    total = 0
    for s, k in zip(rows, counts):
        if s is None or k is None:
            out.append(None)
            continue
        piece = s * k if k > 0 else ""
        total += len(piece.encode("utf-8"))
        out.append(piece)
    if total > _SIZE_TYPE_MAX:
        raise OverflowError("Resulting strings column exceeds the column size limit")
    return string_column(out)
