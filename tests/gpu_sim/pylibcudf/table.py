"""Simulated ``pylibcudf.Table`` (models pylibcudf 26.10 ``table.pyx``): a list of columns of one
length; names are not part of a table."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from pylibcudf.column import Column

__all__ = ["Table"]


class Table:
    __slots__ = ("_columns", "_num_rows")

    def __init__(self, columns: list[Column], num_rows: int | None = None) -> None:
        if not all(isinstance(c, Column) for c in columns):
            raise TypeError("Table takes a list of Columns")
        sizes = {c.size() for c in columns}
        if len(sizes) > 1:
            raise ValueError(f"the columns of a table must have one size, not {sorted(sizes)}")
        if columns and num_rows is not None and num_rows != columns[0].size():
            raise ValueError("num_rows disagrees with the columns' size")
        self._columns = list(columns)
        self._num_rows = columns[0].size() if columns else int(num_rows or 0)

    def columns(self) -> list[Column]:
        return list(self._columns)

    def num_columns(self) -> int:
        return len(self._columns)

    def num_rows(self) -> int:
        return self._num_rows

    @staticmethod
    def from_arrow(obj: pa.Table | pa.RecordBatch, dtype: Any = None) -> Table:
        if dtype is not None:
            raise NotImplementedError("Converting to a specific type is not yet implemented.")
        if isinstance(obj, pa.RecordBatch):
            obj = pa.Table.from_batches([obj])
        if not isinstance(obj, pa.Table):
            raise TypeError(f"Table.from_arrow takes a pyarrow Table, not {type(obj).__name__}")
        return Table([Column.from_arrow(c) for c in obj.columns], num_rows=obj.num_rows)

    def to_arrow(self, metadata: list[Any] | None = None) -> pa.Table:
        """Fields named by ``metadata`` (a name or a ColumnMetadata per column), else ``""``."""
        from pylibcudf.interop import ColumnMetadata

        metas = [m if isinstance(m, ColumnMetadata) else ColumnMetadata(name=m or "")
                 for m in (metadata or [""] * len(self._columns))]
        if len(metas) != len(self._columns):
            raise ValueError("one metadata entry per column")
        arrays = [c.to_arrow(m) for c, m in zip(self._columns, metas)]
        return pa.Table.from_arrays(arrays, names=[m.name for m in metas])
