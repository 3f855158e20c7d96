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

    def __init__(self, data_type: DataType, size: int, data: Any, mask: Any,
                 null_count: int, offset: int, children: list[Column], validate: bool = True) -> None:
        if not isinstance(data_type, DataType):
            raise TypeError(f"Column takes a DataType, not {type(data_type).__name__}")
        # pylibcudf 26.10 takes any Span (``ptr`` + ``size``: gpumemoryview, rmm.DeviceBuffer, ...)
        # of device memory for data and mask; the simulator keeps them as gpumemoryviews.
        data, mask = _span(data, "data"), _span(mask, "mask")
        if mask is not None and mask.nbytes == 0 and null_count == 0:
            mask = None  # an empty mask buffer is a null pointer: no mask (libcudf's column_view)
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

    def device_buffer_size(self) -> int:
        """Bytes of the buffers the column uses (data, mask, children's), shared ones included
        (``column.pyx``)."""
        total = (self._data.nbytes if self._data is not None else 0) + (self._mask.nbytes if self._mask is not None else 0)
        return total + sum(c.device_buffer_size() for c in self._children)

    def with_mask(self, mask: Any, null_count: int, validate: bool = True) -> Column:
        """The same data with another null mask (``column.pyx`` with_mask: any Span)."""
        if mask is None and null_count > 0:
            raise ValueError("Empty mask must have null count of zero")
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
        if scalar.type().id() in _sim.DECIMAL_IDS:
            # From the unscaled integer, not through Arrow: a DECIMAL128 holds 39-digit values
            # (up to 2**127) that Arrow's decimal128(38, s) cannot.
            import numpy as np

            from pylibcudf import _fixed_width

            unscaled = 0 if value is None else _fixed_width.unscaled(value, scalar.type().scale())
            valid = None if value is not None else np.zeros(size, dtype=bool)
            return _fixed_width.make_column(scalar.type(), np.full(size, unscaled, dtype=object), valid)
        arr = pa.array([value] * size, type=_sim.value_type(scalar.type())) if size else \
            pa.array([], type=_sim.value_type(scalar.type()))
        return _sim.column_from_arrow(arr, scalar.type())

    @staticmethod
    def all_null_like(like: Column, size: int) -> Column:
        return _sim.column_from_arrow(pa.nulls(size, _sim.value_type(like.type())), like.type())

    @staticmethod
    def from_cuda_array_interface(obj: Any, stream: Any = None) -> Column:
        """A column viewing a 1-D device array (no copy; it keeps the array's memory alive)."""
        import numpy as np

        try:
            iface = obj.__cuda_array_interface__
        except AttributeError:
            raise TypeError("Object does not implement __cuda_array_interface__") from None
        if iface.get("mask") is not None:
            raise NotImplementedError("arrays with a mask are not supported")
        shape = tuple(iface["shape"])
        if len(shape) != 1:
            raise NotImplementedError("only 1-D device arrays are modelled (2-D would be a LIST column)")
        if iface.get("strides") is not None:
            raise ValueError("Data must be C-contiguous")
        dtype = _sim.datatype_from_arrow(pa.from_numpy_dtype(np.dtype(iface["typestr"])))
        if shape[0] > 2**31 - 1:
            raise ValueError("Number of rows exceeds size_type limit")
        return Column(dtype, shape[0], gpumemoryview(obj) if shape[0] else None, None, 0, 0, [])

    def to_pylist(self) -> list[Any]:
        """The values as Python objects (``column.pyx`` to_pylist, through Arrow)."""
        return self.to_arrow().to_pylist()

    def to_scalar(self) -> Scalar:
        """The first row as a Scalar (``column.pyx``: for a 1-row column)."""
        from pylibcudf.scalar import Scalar

        if self._size < 1:
            raise IndexError("to_scalar of an empty column")
        value = _sim.column_to_arrow(self)[0]
        return Scalar._of(value.as_py() if value.is_valid else None, self._dtype)

    def __repr__(self) -> str:
        return f"<simulated Column {self._dtype} size={self._size} nulls={self._null_count} offset={self._offset}>"


def _span(obj: Any, what: str) -> gpumemoryview | None:
    """A data/mask argument as a gpumemoryview: None, a gpumemoryview, or any other Span of
    simulated device memory (``rmm.DeviceBuffer``); host objects are refused, as pylibcudf
    refuses objects that are not Spans."""
    if obj is None or isinstance(obj, gpumemoryview):
        return obj
    if hasattr(obj, "_sim_allocation") and hasattr(obj, "ptr") and hasattr(obj, "size"):
        return gpumemoryview(obj)
    raise TypeError(f"{what} must satisfy Span protocol or None, got {type(obj).__name__}")
