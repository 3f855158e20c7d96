"""Simulated ``pylibcudf.types`` (models pylibcudf 26.10): libcudf's type ids, ``DataType`` with
libcudf's decimal scale (the negative of Arrow's), and the enums of the calls gpu-exec makes."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["TypeId", "DataType", "NullPolicy", "NullOrder", "Order", "NullEquality", "NanEquality",
           "NanPolicy", "Sorted", "Interpolation", "SIZE_TYPE", "SIZE_TYPE_ID", "size_of"]


class TypeId(IntEnum):
    """``cudf::type_id``, in libcudf's order (cpp/include/cudf/types.hpp)."""

    EMPTY = 0
    INT8 = 1
    INT16 = 2
    INT32 = 3
    INT64 = 4
    UINT8 = 5
    UINT16 = 6
    UINT32 = 7
    UINT64 = 8
    FLOAT32 = 9
    FLOAT64 = 10
    BOOL8 = 11
    TIMESTAMP_DAYS = 12
    TIMESTAMP_SECONDS = 13
    TIMESTAMP_MILLISECONDS = 14
    TIMESTAMP_MICROSECONDS = 15
    TIMESTAMP_NANOSECONDS = 16
    DURATION_DAYS = 17
    DURATION_SECONDS = 18
    DURATION_MILLISECONDS = 19
    DURATION_MICROSECONDS = 20
    DURATION_NANOSECONDS = 21
    DICTIONARY32 = 22
    STRING = 23
    LIST = 24
    DECIMAL32 = 25
    DECIMAL64 = 26
    DECIMAL128 = 27
    STRUCT = 28
    NUM_TYPE_IDS = 29


_DECIMALS = (TypeId.DECIMAL32, TypeId.DECIMAL64, TypeId.DECIMAL128)


class DataType:
    """``cudf::data_type``: a type id and, for decimals, libcudf's scale (value = unscaled ×
    10^scale, so Arrow's decimal128(p, 2) is ``DataType(DECIMAL128, -2)``). Like libcudf, the scale
    of a non-decimal type is ignored (kept 0)."""

    __slots__ = ("_id", "_scale")

    def __init__(self, type_id: TypeId, scale: int = 0) -> None:
        if not isinstance(type_id, TypeId):
            raise TypeError(f"DataType takes a TypeId, not {type(type_id).__name__}")
        self._id = type_id
        self._scale = int(scale) if type_id in _DECIMALS else 0

    def id(self) -> TypeId:
        return self._id

    def scale(self) -> int:
        return self._scale

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DataType) and (self._id, self._scale) == (other._id, other._scale)

    def __hash__(self) -> int:
        return hash((self._id, self._scale))

    def __repr__(self) -> str:
        return f"DataType({self._id.name}, {self._scale})" if self._id in _DECIMALS else f"DataType({self._id.name})"

    @staticmethod
    def from_arrow(arrow_type: object) -> DataType:
        from pylibcudf._sim import datatype_from_arrow

        return datatype_from_arrow(arrow_type)

    def to_arrow(self, precision: int | None = None) -> object:
        from pylibcudf._sim import arrow_type_of

        return arrow_type_of(self, precision=precision)


class NullPolicy(IntEnum):
    EXCLUDE = 0
    INCLUDE = 1


class NullOrder(IntEnum):
    """Relative to the ascending order of values: BEFORE = a null is smaller than every value."""

    AFTER = 0
    BEFORE = 1


class Order(IntEnum):
    ASCENDING = 0
    DESCENDING = 1


class NullEquality(IntEnum):
    EQUAL = 0
    UNEQUAL = 1


class NanEquality(IntEnum):
    ALL_EQUAL = 0
    UNEQUAL = 1


class NanPolicy(IntEnum):
    NAN_IS_NULL = 0
    NAN_IS_VALID = 1


class Sorted(IntEnum):
    NO = 0
    YES = 1


class Interpolation(IntEnum):
    LINEAR = 0
    LOWER = 1
    HIGHER = 2
    MIDPOINT = 3
    NEAREST = 4


SIZE_TYPE_ID = TypeId.INT32
SIZE_TYPE = DataType(TypeId.INT32)

_WIDTHS = {
    TypeId.INT8: 1, TypeId.INT16: 2, TypeId.INT32: 4, TypeId.INT64: 8,
    TypeId.UINT8: 1, TypeId.UINT16: 2, TypeId.UINT32: 4, TypeId.UINT64: 8,
    TypeId.FLOAT32: 4, TypeId.FLOAT64: 8, TypeId.BOOL8: 1,
    TypeId.TIMESTAMP_DAYS: 4, TypeId.TIMESTAMP_SECONDS: 8, TypeId.TIMESTAMP_MILLISECONDS: 8,
    TypeId.TIMESTAMP_MICROSECONDS: 8, TypeId.TIMESTAMP_NANOSECONDS: 8,
    TypeId.DURATION_DAYS: 4, TypeId.DURATION_SECONDS: 8, TypeId.DURATION_MILLISECONDS: 8,
    TypeId.DURATION_MICROSECONDS: 8, TypeId.DURATION_NANOSECONDS: 8,
    TypeId.DECIMAL32: 4, TypeId.DECIMAL64: 8, TypeId.DECIMAL128: 16,
}


def size_of(dtype: DataType) -> int:
    """Bytes per element of a fixed-width type; libcudf refuses others (``cudf::size_of``)."""
    try:
        return _WIDTHS[dtype.id()]
    except KeyError:
        raise RuntimeError(f"size_of: {dtype} is not a fixed-width type") from None
