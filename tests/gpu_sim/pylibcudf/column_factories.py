"""Simulated ``pylibcudf.column_factories`` (pylibcudf 26.10): ``make_empty_column`` — a 0-row
column of a DataType or TypeId (TypeError for anything else, as ``column_factories.pyx``)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from pylibcudf import _sim
from pylibcudf.column import Column
from pylibcudf.types import DataType, TypeId

__all__ = ["make_empty_column"]


def make_empty_column(type_or_id: DataType | TypeId, stream: Any = None) -> Column:
    if isinstance(type_or_id, TypeId):
        dtype = DataType(type_or_id)
    elif isinstance(type_or_id, DataType):
        dtype = type_or_id
    else:
        raise TypeError("Must pass a TypeId or DataType")
    if dtype.id() == TypeId.EMPTY:
        return Column(dtype, 0, None, None, 0, 0, [])
    return _sim.column_from_arrow(pa.array([], _sim.value_type(dtype)), dtype)
