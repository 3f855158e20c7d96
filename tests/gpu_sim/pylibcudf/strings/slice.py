"""Simulated ``pylibcudf.strings.slice`` (models pylibcudf 26.10, ``slice.pyx``; libcudf
``cpp/src/strings/slice.cu``).

``slice_strings(input, start=None, stop=None, step=None)`` takes positions in *characters*:

- Scalars: read by pylibcudf as ``numeric_scalar<size_type>`` — INT32. Any other type would be
  reinterpreted as INT32 bytes on the device; the simulator raises TypeError instead. pylibcudf
  replaces a missing start/stop by a *valid* 0 (so ``stop=None`` gives empty strings) and a
  missing step by 1; an invalid scalar means "the default for the step's direction". Negative
  positions count from the end, Python style; step 0 raises RuntimeError.
- Columns: integer columns (libcudf's indexalator), same length as the input, no NULLs; no step.
  Per row a negative start is 0 and a negative or too large stop is the length — not Python
  style.

NULL rows stay NULL.
"""

from __future__ import annotations

from typing import Any

from pylibcudf import _sim
from pylibcudf.column import Column
from pylibcudf.scalar import Scalar
from pylibcudf.strings._common import string_column, strings
from pylibcudf.types import TypeId

__all__ = ["slice_strings"]

_INT32_MAX = 2**31 - 1


def _int32(s: Scalar, what: str) -> int | None:
    if s.type().id() != TypeId.INT32:
        raise TypeError(f"slice_strings {what} must be an INT32 scalar, not {s.type()} (simulated: pylibcudf "
                        "reads it as numeric_scalar<size_type> and would reinterpret its bytes)")
    return None if not s.is_valid() else int(s._value)


def _python_slice(s: str, start: int | None, stop: int | None, step: int) -> str:
    length = len(s)
    if length == 0:
        return ""
    if start is None:
        begin = 0 if step > 0 else length - 1
    elif start >= 0:
        begin = start if start < length else length + (-1 if step < 0 else 0)
    else:
        begin = length + start if length + start >= 0 else (-1 if step < 0 else 0)
    if stop is None:
        end = length if step > 0 else -1
    elif stop >= 0:
        end = min(length, stop)
    else:
        end = length + stop if length + stop >= 0 else -1
    out = []
    i = begin
    while (i < end) if step > 0 else (end < i):
        if 0 <= i < length:
            out.append(s[i])
        i += step
    return "".join(out)


def _from_positions(s: str, start: int, stop: int) -> str:
    length = len(s)
    begin = max(start, 0)
    if begin >= length:
        return ""
    end = length if stop < 0 or stop > length else stop
    return s[begin:end] if begin < end else ""


def slice_strings(input: Column, start: Column | Scalar | None = None, stop: Column | Scalar | None = None,
                  step: Scalar | None = None, stream: Any = None, mr: Any = None) -> Column:
    if input is None:
        raise ValueError("input cannot be None")
    rows = strings(input)
    if isinstance(start, Column) or isinstance(stop, Column):
        if step is not None:
            raise ValueError("Column-wise slice does not support step")
        if start is None or stop is None:
            raise ValueError("start and stop must be provided for Column-wise slice")
        if not (isinstance(start, Column) and isinstance(stop, Column)):
            raise TypeError("start and stop must both be Columns or both be Scalars")
        if input.size() == input.null_count():
            return string_column(rows)
        bounds = []
        for col, what in ((start, "starts"), (stop, "stops")):
            if col.size() != len(rows):
                raise RuntimeError(f"Parameter {what} must have the same number of rows as strings.")
            if col.null_count():
                raise RuntimeError(f"Parameter {what} must not contain nulls.")
            if col.type().id() not in _sim.INTEGER_IDS:
                raise RuntimeError(f"Parameter {what} must be an integer type (index type), not {col.type()}")
            bounds.append([int(v) for v in _sim.column_to_arrow(col).to_pylist()])
        return string_column([None if s is None else _from_positions(s, b, e)
                              for s, b, e in zip(rows, bounds[0], bounds[1])])
    for value, what in ((start, "start"), (stop, "stop"), (step, "step")):
        if value is not None and not isinstance(value, Scalar):
            raise ValueError("start, stop, and step must be either Column or Scalar")
    # pylibcudf's defaults: valid 0 for a missing start or stop, valid 1 for a missing step.
    begin = 0 if start is None else _int32(start, "start")
    end = 0 if stop is None else _int32(stop, "stop")
    stride = 1 if step is None else _int32(step, "step")
    if input.size() == input.null_count():
        return string_column(rows)
    if stride is None:
        stride = 1
    elif stride == 0:
        raise RuntimeError("Step parameter must not be 0")
    return string_column([None if s is None else _python_slice(s, begin, end, stride) for s in rows])
