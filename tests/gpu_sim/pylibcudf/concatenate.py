"""Simulated ``pylibcudf.concatenate`` (pylibcudf 26.10), modelling libcudf's
``cpp/src/copying/concatenate.cu``: Columns (or Tables, column by column) appended in order.
Types must be identical, decimal scale included (TypeError, libcudf's ``data_type_error``); tables
need the same number of columns (ValueError); more than 2^31 - 1 rows is an OverflowError; an
empty list is a ValueError (pylibcudf's own check)."""

from __future__ import annotations

from typing import Any, Sequence, TypeVar

import pyarrow as pa

from pylibcudf import _sim
from pylibcudf.column import Column
from pylibcudf.table import Table

__all__ = ["concatenate"]

ColumnOrTable = TypeVar("ColumnOrTable", Column, Table)
_SIZE_MAX = 2**31 - 1


def _columns(columns: Sequence[Column]) -> Column:
    first = columns[0].type()
    if any(c.type() != first for c in columns):
        kinds = sorted({repr(c.type()) for c in columns})
        raise TypeError(f"Type mismatch in columns to concatenate: {', '.join(kinds)}")
    if sum(c.size() for c in columns) > _SIZE_MAX:
        raise OverflowError("Total number of concatenated rows exceeds the column size limit")
    arrays = [_sim.column_to_arrow(c) for c in columns]
    return _sim.column_from_arrow(pa.concat_arrays(arrays), first)


def concatenate(objects: Sequence[ColumnOrTable], stream: Any = None, mr: Any = None) -> ColumnOrTable:
    if len(objects) == 0:
        raise ValueError("input list may not be empty")
    if isinstance(objects[0], Table):
        if not all(isinstance(t, Table) for t in objects):
            raise ValueError("input must be a list of Columns or Tables")
        width = objects[0].num_columns()
        if any(t.num_columns() != width for t in objects):
            raise ValueError("Mismatch in table columns to concatenate.")
        if sum(t.num_rows() for t in objects) > _SIZE_MAX:
            raise OverflowError("Total number of rows exceeds the column size limit")
        if width == 0:
            return Table([])
        return Table([_columns([t.columns()[i] for t in objects]) for i in range(width)])
    if isinstance(objects[0], Column):
        if not all(isinstance(c, Column) for c in objects):
            raise ValueError("input must be a list of Columns or Tables")
        return _columns(list(objects))
    raise ValueError("input must be a list of Columns or Tables")
