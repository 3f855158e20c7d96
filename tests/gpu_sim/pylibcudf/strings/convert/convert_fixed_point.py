"""Simulated ``pylibcudf.strings.convert.convert_fixed_point`` (models pylibcudf 26.10; libcudf
``cpp/include/cudf/strings/detail/convert/fixed_point_to_string.cuh``):
``from_fixed_point(input)`` writes a decimal column with exactly its scale's digits: scale < 0 →
``[-]integer.fraction`` with -scale fraction digits (``-0.05``, ``0.00``); scale >= 0 → the
unscaled integer followed by ``scale`` zeros. Non-decimal input raises RuntimeError."""

from __future__ import annotations

from typing import Any

from pylibcudf import _fixed_width, _sim
from pylibcudf.column import Column
from pylibcudf.strings._common import STRING, typed_column

__all__ = ["from_fixed_point"]


def _text(unscaled: int, scale: int) -> str:
    if scale >= 0:
        return str(unscaled) + "0" * scale
    digits = -scale
    sign = "-" if unscaled < 0 else ""
    whole, fraction = divmod(abs(unscaled), 10**digits)
    return f"{sign}{whole}.{fraction:0{digits}d}"


def from_fixed_point(input: Column, stream: Any = None, mr: Any = None) -> Column:
    if not isinstance(input, Column):
        raise TypeError(f"input must be a Column, not {type(input).__name__}")
    dtype = input.type()
    if dtype.id() not in _sim.DECIMAL_IDS:
        raise RuntimeError(f"Values for from_fixed_point function must be a decimal type, not {dtype}")
    scale = dtype.scale()
    ints, valid = _fixed_width.values(input), _fixed_width.valid_flags(input)  # exact 128-bit values
    return typed_column([_text(int(v), scale) if ok else None for v, ok in zip(ints, valid)], STRING)
