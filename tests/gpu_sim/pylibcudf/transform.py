"""Simulated ``pylibcudf.transform`` (pylibcudf 26.10), modelling libcudf's
``cpp/src/transform/``: ``bools_to_mask`` (BOOL8 only; true → valid bit, false and NULL → null
bit; returns ``(gpumemoryview, null count)``), ``nans_to_nulls`` and ``column_nans_to_nulls``
(floats only, ValueError otherwise; NaN rows become NULL)."""

from __future__ import annotations

from typing import Any

import numpy as np

from pylibcudf import _fixed_width as fw
from pylibcudf import _sim
from pylibcudf.column import Column
from pylibcudf.gpumemoryview import gpumemoryview
from pylibcudf.types import TypeId
from rmm._allocation import DeviceAllocation

__all__ = ["bools_to_mask", "nans_to_nulls", "column_nans_to_nulls"]


def _empty_mask() -> gpumemoryview:
    return gpumemoryview(DeviceAllocation(np.zeros(0, np.uint8)))


def _mask(flags: np.ndarray) -> tuple[gpumemoryview, int]:
    packed = np.packbits(flags.astype(bool), bitorder="little")
    padded = np.concatenate([packed, np.zeros((-len(packed)) % 64, np.uint8)])
    return fw.device(padded), int(len(flags) - np.count_nonzero(flags))


def bools_to_mask(input: Column, stream: Any = None, mr: Any = None) -> tuple[gpumemoryview, int]:
    if input.type().id() != TypeId.BOOL8:
        raise RuntimeError("Input is not of type bool")
    if input.size() == 0:
        return _empty_mask(), 0
    return _mask(fw.values(input) & fw.valid_flags(input))


def nans_to_nulls(input: Column, stream: Any = None, mr: Any = None) -> tuple[gpumemoryview, int]:
    if not _sim.is_floating(input.type()):
        raise ValueError("Input must be a floating point type")
    if input.size() == 0:
        return _empty_mask(), 0
    return _mask(fw.valid_flags(input) & ~np.isnan(fw.values(input)))


def column_nans_to_nulls(input: Column, stream: Any = None, mr: Any = None) -> Column:
    if not _sim.is_floating(input.type()):
        raise ValueError("Input must be a floating point type")
    valid = fw.valid_flags(input) & ~np.isnan(fw.values(input))
    return fw.make_column(input.type(), fw.values(input), None if valid.all() else valid)
