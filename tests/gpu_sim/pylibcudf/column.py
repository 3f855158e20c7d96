"""Simulated ``pylibcudf.Column`` (models pylibcudf 26.10 ``column.pyx``): a libcudf column view —
type, size, data buffer, null mask, null count, offset, children — over simulated device memory."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa

from pylibcudf import _sim
from pylibcudf.gpumemoryview import gpumemoryview
from pylibcudf.types import DataType, TypeId

if TYPE_CHECKING:
    from pylibcudf.scalar import Scalar

__all__ = ["Column"]


class Column:
    """``Column(data_type, size, data, mask, null_count, offset, children)``: as libcudf, the
    buffers are not copied and nothing checks that they make sense beyond their sizes."""

    __slots__ = ("_dtype", "_size", "_data", "_mask", "_null_count", "_offset", "_children")

    def __init__(self, data_type: DataType, size: int, data: gpumemoryview | None, mask: gpumemoryview | None,
                 null_count: int, offset: int, children: list[Column]) -> None:
        if not isinstance(data_type, DataType):
            raise TypeError(f"Column takes a DataType, not {type(data_type).__name__}")
        if data is not None and not isinstance(data, gpumemoryview):
            raise TypeError(f"Column data must be a gpumemoryview, not {type(data).__name__}")
        if mask is not None and not isinstance(mask, gpumemoryview):
            raise TypeError(f"Column mask must be a gpumemoryview, not {type(mask).__name__}")
        if size < 0 or offset < 0 or null_count < 0 or null_count > size:
            raise ValueError(f"invalid column: size {size}, offset {offset}, null_count {null_count}")
        if null_count and mask is None:
            raise ValueError("a column with nulls needs a null mask")
        tid = data_type.id()
        if tid not in (TypeId.STRING, TypeId.EMPTY, TypeId.LIST, TypeId.STRUCT) and size:
            width = _sim.storage_dtype(data_type)().itemsize if tid != TypeId.DECIMAL128 else 16
            if data is None or data.nbytes < (offset + size) * width:
                raise ValueError(f"the data buffer is too small for {size} rows of {data_type} at offset {offset}")
        if mask is not None and mask.nbytes * 8 < offset + size:
            raise ValueError("the null mask is too small for the column")
        self._dtype, self._size, self._data, self._mask = data_type, int(size), data, mask
        self._null_count, self._offset, self._children = int(null_count), int(offset), list(children)

    # ---- the view ------------------------------------------------------------------------------
    def type(self) -> DataType:
        return self._dtype

    def size(self) -> int:
        return self._size

    def null_count(self) -> int:
        return self._null_count

    def offset(self) -> int:
        return self._offset

    def data(self) -> gpumemoryview | None:
        return self._data

    def null_mask(self) -> gpumemoryview | None:
        return self._mask

    def children(self) -> list[Column]:
        return list(self._children)

    def num_children(self) -> int:
        return len(self._children)

    def child(self, index: int) -> Column:
        return self._children[index]

    def with_mask(self, mask: gpumemoryview | None, null_count: int) -> Column:
        """The same data with another null mask (``column.pyx`` with_mask)."""
        return Column(self._dtype, self._size, self._data, mask, null_count, self._offset, self._children)

    def list_view(self) -> Any:
        raise NotImplementedError("LIST columns are not modelled by the simulator")

    # ---- construction and interop --------------------------------------------------------------
    @staticmethod
    def from_arrow(obj: pa.Array | pa.ChunkedArray, dtype: DataType | None = None) -> Column:
        if dtype is not None:
            raise NotImplementedError("Converting to a specific type is not yet implemented.")
        if not isinstance(obj, (pa.Array, pa.ChunkedArray)):
            raise TypeError(f"Column.from_arrow takes a pyarrow Array, not {type(obj).__name__}")
        target = _sim.datatype_from_arrow(obj.type)
        if target.id() == TypeId.DICTIONARY32:
            raise TypeError("dictionary columns are not modelled by the simulator: decode them first")
        if pa.types.is_timestamp(obj.type) and obj.type.tz is not None:
            obj = obj.cast(pa.timestamp(obj.type.unit))  # libcudf drops the time zone
        return _sim.column_from_arrow(obj, target)

    def to_arrow(self, metadata: Any = None) -> pa.Array:
        from pylibcudf.interop import ColumnMetadata

        meta = metadata if isinstance(metadata, ColumnMetadata) else ColumnMetadata(name=metadata or "")
        values = _sim.column_to_arrow(self)
        return values.cast(_sim.arrow_type_of(self._dtype, meta.precision, meta.timezone))

    @staticmethod
    def from_scalar(scalar: Scalar, size: int) -> Column:
        """``size`` copies of ``scalar`` (all null when it is invalid)."""
        value = scalar._value if scalar.is_valid() else None
        arr = pa.array([value] * size, type=_sim.value_type(scalar.type())) if size else \
            pa.array([], type=_sim.value_type(scalar.type()))
        return _sim.column_from_arrow(arr, scalar.type())

    @staticmethod
    def all_null_like(like: Column, size: int) -> Column:
        return _sim.column_from_arrow(pa.nulls(size, _sim.value_type(like.type())), like.type())

    @staticmethod
    def from_cuda_array_interface(obj: Any) -> Column:
        raise NotImplementedError("__cuda_array_interface__ objects are not modelled: build columns from Arrow")

    def to_scalar(self) -> Scalar:
        """The first row as a Scalar (``column.pyx``: for a 1-row column)."""
        from pylibcudf.scalar import Scalar

        if self._size < 1:
            raise IndexError("to_scalar of an empty column")
        value = _sim.column_to_arrow(self)[0]
        return Scalar._of(value.as_py() if value.is_valid else None, self._dtype)

    def __repr__(self) -> str:
        return f"<simulated Column {self._dtype} size={self._size} nulls={self._null_count} offset={self._offset}>"
