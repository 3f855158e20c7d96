"""Simulated ``pylibcudf.replace`` (pylibcudf 26.10), modelling libcudf's ``cpp/src/replace/``:

- ``replace_nulls(col, Column | Scalar | ReplacePolicy)``: replacement types must equal the
  column's exactly (TypeError); a Column replacement must have the same size; PRECEDING fills a
  NULL with the last valid value before it (leading NULLs stay NULL), FOLLOWING with the next.
- ``normalize_nans_and_zeros``: -0.0 → 0.0 and every NaN one canonical NaN (floats only).
- ``clamp(col, lo, hi, lo_replace=None, hi_replace=None)``: values below lo become lo_replace
  (default lo), above hi hi_replace; an invalid lo/hi bound does not clamp that side; NULLs stay.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pylibcudf import _fixed_width as fw
from pylibcudf import _sim
from pylibcudf.column import Column
from pylibcudf.scalar import Scalar

__all__ = ["ReplacePolicy", "replace_nulls", "normalize_nans_and_zeros", "clamp"]


class ReplacePolicy(IntEnum):
    PRECEDING = 0
    FOLLOWING = 1


def replace_nulls(source_column: Column, replacement: Column | Scalar | ReplacePolicy, stream: Any = None,
                  mr: Any = None) -> Column:
    col = source_column
    if isinstance(replacement, ReplacePolicy):
        values = _sim.column_to_arrow(col)
        filled = pc.fill_null_forward(values) if replacement is ReplacePolicy.PRECEDING \
            else pc.fill_null_backward(values)
        return _sim.column_from_arrow(filled, col.type())
    if not isinstance(replacement, (Column, Scalar)):
        raise TypeError("replacement must be a Column, Scalar, or replace_policy")
    if replacement.type() != col.type():
        raise TypeError(f"Data type mismatch: {col.type()} vs {replacement.type()}")
    if isinstance(replacement, Column) and replacement.size() != col.size():
        raise RuntimeError("Column size mismatch")
    values = _sim.column_to_arrow(col)
    if isinstance(replacement, Column):
        filler: Any = _sim.column_to_arrow(replacement)
    else:
        filler = pa.scalar(replacement._value if replacement.is_valid() else None, values.type)
    return _sim.column_from_arrow(pc.coalesce(values, filler), col.type())


def normalize_nans_and_zeros(source_column: Column, inplace: bool = False, stream: Any = None,
                             mr: Any = None) -> Column:
    col = source_column
    if not _sim.is_floating(col.type()):
        raise RuntimeError("Expects float or double input")
    vals = fw.values(col)
    vals = np.where(vals == 0, np.zeros(1, vals.dtype), vals)
    vals = np.where(np.isnan(vals), np.array([np.nan], vals.dtype), vals)
    return fw.make_column(col.type(), vals, fw.valid_flags(col) if col.null_count() else None)


def clamp(source_column: Column, lo: Scalar, hi: Scalar, lo_replace: Scalar | None = None,
          hi_replace: Scalar | None = None, stream: Any = None, mr: Any = None) -> Column:
    col = source_column
    if (lo_replace is None) != (hi_replace is None):
        raise ValueError("lo_replace and hi_replace must be specified together")
    if lo_replace is None:
        lo_replace, hi_replace = lo, hi
    assert hi_replace is not None
    if lo.type() != col.type():
        raise TypeError("mismatching types of scalar and input")
    if lo.type() != hi.type():
        raise TypeError("mismatching types of limit scalars")
    if lo_replace.type() != hi_replace.type():
        raise TypeError("mismatching types of replace scalars")
    if lo.type() != lo_replace.type():
        raise TypeError("mismatching types of limit and replace scalars")
    if lo.is_valid() and not lo_replace.is_valid():
        raise RuntimeError("lo_replace can't be null if lo is not null")
    if hi.is_valid() and not hi_replace.is_valid():
        raise RuntimeError("hi_replace can't be null if hi is not null")
    values = _sim.column_to_arrow(col)
    t = values.type
    if lo.is_valid():
        below = pc.less(values, pa.scalar(lo._value, t))
        values = pc.if_else(below, pa.scalar(lo_replace._value, t), values)
    if hi.is_valid():
        above = pc.greater(values, pa.scalar(hi._value, t))
        values = pc.if_else(above, pa.scalar(hi_replace._value, t), values)
    return _sim.column_from_arrow(values, col.type())
