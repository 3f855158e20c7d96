"""Simulated ``pylibcudf.search`` (pylibcudf 26.10): ``contains(haystack, needles)``, modelling
libcudf's ``cpp/src/search/contains_column.cu`` — BOOL8, true where the needle occurs in the
haystack, NULL where the needle is NULL (the needles' null mask); NaN equals NaN, -0.0 equals 0.0.
The types must be identical, decimal scale included (RuntimeError: "Column types mismatch")."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pylibcudf import _sim
from pylibcudf.column import Column
from pylibcudf.types import DataType, TypeId

__all__ = ["contains"]


def contains(haystack: Column, needles: Column, stream: Any = None, mr: Any = None) -> Column:
    if not (isinstance(haystack, Column) and isinstance(needles, Column)):
        raise TypeError("contains takes two Columns")
    if haystack.type() != needles.type():
        raise RuntimeError(f"Column types mismatch: {haystack.type()} vs {needles.type()}")
    hay, need = _sim.column_to_arrow(haystack), _sim.column_to_arrow(needles)
    if _sim.is_floating(haystack.type()):  # one NaN, one zero, as the row comparator sees them
        hay = pc.if_else(pc.equal(hay, 0.0), pa.scalar(0.0, hay.type), hay)
        need = pc.if_else(pc.equal(need, 0.0), pa.scalar(0.0, need.type), need)
    found = pc.is_in(need, value_set=hay.drop_null(), skip_nulls=True)
    found = pc.if_else(pc.is_null(need), pa.scalar(None, pa.bool_()), found)
    return _sim.column_from_arrow(found, DataType(TypeId.BOOL8))
