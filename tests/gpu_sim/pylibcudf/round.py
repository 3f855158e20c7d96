"""Simulated ``pylibcudf.round`` (pylibcudf 26.10), modelling libcudf's ``cpp/src/round/round.cu``.

- HALF_UP rounds half away from zero; HALF_EVEN half to even.
- Floats: ``decimal_places`` ≥ 0 rounds the fractional part (``modf``, then ``round(frac·10^d) /
  10^d`` in the column's own float type, so binary representation error shows as on the device:
  2.675 → 2.67); < 0 rounds ``x / 10^-d`` and multiplies back.
- Integers: ``decimal_places`` ≥ 0 is a copy; < 0 rounds to a multiple of 10^-d.
- Decimals: the result has scale ``-decimal_places`` (the type changes); more places than the
  column has is an exact rescale; fewer rounds the unscaled values.
- BOOL8, strings, timestamps: RuntimeError ("Type not support for cudf::round").
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

import numpy as np

from pylibcudf import _fixed_width as fw
from pylibcudf.column import Column
from pylibcudf.types import DataType

__all__ = ["RoundingMethod", "round", "round_decimal"]


class RoundingMethod(IntEnum):
    HALF_UP = 0
    HALF_EVEN = 1


def _half_away(y: np.ndarray) -> np.ndarray:
    """C's ``round``: nearest, ties away from zero (exact: ``y - trunc(y)`` has no rounding error)."""
    t = np.trunc(y)
    return np.where(np.abs(y - t) >= 0.5, t + np.sign(y), t).astype(y.dtype)


def _round_float(x: np.ndarray, places: int, method: RoundingMethod) -> np.ndarray:
    rnd = _half_away if method is RoundingMethod.HALF_UP else np.rint
    n = x.dtype.type(10.0 ** abs(places))
    with np.errstate(all="ignore"):
        if places == 0:
            return rnd(x)
        if places > 0:
            frac, whole = np.modf(x)
            return (whole + rnd(frac * n) / n).astype(x.dtype)
        return (rnd(x / n) * n).astype(x.dtype)


def _round_ints(x: np.ndarray, n: int, method: RoundingMethod) -> np.ndarray:
    """Integers rounded to a multiple of ``n`` (libcudf's
    ``half_up_negative`` / ``half_even_negative`` on integers)."""
    x = x.astype(object)
    down_over_n = fw.tdiv(x, np.full(len(x), n, dtype=object))
    down = down_over_n * n
    diff = np.abs(x - down)
    sign = np.where(x < 0, -1, 1)
    if method is RoundingMethod.HALF_UP:
        adjust = np.where(diff >= n // 2, n, 0)
    else:
        odd = np.array([abs(int(v)) % 2 == 1 for v in down_over_n], dtype=bool)
        adjust = np.where((diff > n // 2) | ((diff == n // 2) & odd), n, 0)
    return down + sign * adjust


def round(source: Column, decimal_places: int = 0, round_method: RoundingMethod = RoundingMethod.HALF_UP,
          stream: Any = None, mr: Any = None) -> Column:
    if not isinstance(source, Column):
        raise TypeError(f"round takes a Column, not {type(source).__name__}")
    method = RoundingMethod(round_method)
    dtype = source.type()
    k = fw.kind(dtype)
    if k not in ("int", "float", "decimal"):
        raise RuntimeError("Type not support for cudf::round")
    valid = fw.valid_flags(source)
    keep = valid if source.null_count() else None
    vals = fw.values(source)
    places = int(decimal_places)
    if k == "float":
        return fw.make_column(dtype, _round_float(vals, places, method), keep)
    if k == "int":
        if places >= 0:
            return fw.make_column(dtype, vals, keep)
        rounded = _round_ints(np.where(valid, vals, 0), 10 ** -places, method)
        info = np.iinfo(vals.dtype)
        wrapped = [(int(v) - info.min) % (info.max - info.min + 1) + info.min for v in rounded]
        return fw.make_column(dtype, np.array(wrapped, dtype=vals.dtype), keep)
    target = DataType(dtype.id(), -places)
    ints = np.where(valid, vals, 0)
    if dtype.scale() == -places:
        return fw.make_column(dtype, ints, keep)
    if dtype.scale() > -places:  # more places than the column has: an exact rescale
        return fw.make_column(target, fw.rescale(ints, dtype.scale(), -places), keep)
    n = 10 ** (-places - dtype.scale())
    rounded = _round_ints(ints, n, method)
    return fw.make_column(target, fw.tdiv(rounded, np.full(len(rounded), n, dtype=object)), keep)


def round_decimal(source: Column, decimal_places: int = 0,
                  round_method: RoundingMethod = RoundingMethod.HALF_UP, stream: Any = None,
                  mr: Any = None) -> Column:
    raise NotImplementedError("round_decimal is not modelled by the simulator (gpu-exec does not call it)")
