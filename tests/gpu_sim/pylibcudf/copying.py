"""Simulated ``pylibcudf.copying`` (pylibcudf 26.10), modelling libcudf's ``cpp/src/copying/``.

- ``gather``: the map is a non-NULL integer column (NULLs → ValueError); a negative index i means
  i + n; with ``NULLIFY`` an index outside [-n, n) gives an all-NULL row; with ``DONT_CHECK`` it is
  undefined behaviour (an illegal memory access on a device) — the simulator raises RuntimeError.
- ``scatter``: rows (or scalars) written into a copy of ``target`` at the map's rows; the map is
  non-NULL, negative indices wrap; an index outside [-n, n) or a repeated index is undefined
  behaviour in libcudf (raised here); types must match exactly (TypeError).
- ``slice``/``split``: zero-copy views (same buffers, new offset) with libcudf's bounds checks
  (IndexError / ValueError).
- ``copy_if_else``: lhs where the mask is valid and true, else rhs — a NULL condition takes rhs;
  the mask must be BOOL8 and lhs/rhs types identical, decimal scale included (TypeError).
- ``get_element`` (IndexError out of bounds), ``shift`` (fill type must match: TypeError),
  ``reverse``, ``empty_like``.
"""

from __future__ import annotations

import builtins
from enum import IntEnum
from typing import Any, Sequence, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pylibcudf import _sim
from pylibcudf.column import Column
from pylibcudf.scalar import Scalar
from pylibcudf.table import Table
from pylibcudf.types import TypeId

__all__ = ["MaskAllocationPolicy", "OutOfBoundsPolicy", "gather", "scatter", "empty_like", "shift",
           "reverse", "slice", "split", "copy_if_else", "get_element"]

ColumnOrTable = TypeVar("ColumnOrTable", Column, Table)


class MaskAllocationPolicy(IntEnum):
    NEVER = 0
    RETAIN = 1
    ALWAYS = 2


class OutOfBoundsPolicy(IntEnum):
    NULLIFY = 0
    DONT_CHECK = 1


def _index_values(col: Column, what: str) -> np.ndarray:
    if not isinstance(col, Column):
        raise TypeError(f"{what} must be a Column, not {type(col).__name__}")
    if not _sim.is_integer(col.type()):
        raise TypeError(f"{what} must be an integral type, not {col.type()}")
    from pylibcudf import _fixed_width as fw

    return fw.values(col).astype(np.int64)


def _take(col: Column, indices: pa.Array) -> Column:
    """Rows of ``col`` at ``indices`` (an int64 Arrow array; NULL → NULL row), as a new column."""
    return _sim.column_from_arrow(pc.take(_sim.column_to_arrow(col), indices), col.type())


def gather(source_table: Table, gather_map: Column, bounds_policy: OutOfBoundsPolicy, stream: Any = None,
           mr: Any = None) -> Table:
    if not isinstance(source_table, Table):
        raise TypeError(f"source_table must be a Table, not {type(source_table).__name__}")
    policy = OutOfBoundsPolicy(bounds_policy)
    if gather_map.null_count():
        raise ValueError("gather_map contains nulls")
    idx = _index_values(gather_map, "gather_map")
    n = source_table.num_rows()
    wrapped = np.where(idx < 0, idx + n, idx)
    outside = (wrapped < 0) | (wrapped >= n)
    if outside.any() and policy is OutOfBoundsPolicy.DONT_CHECK:
        bad = int(idx[outside][0])
        raise RuntimeError(f"gather index {bad} is outside [-{n}, {n}) with DONT_CHECK (simulated: libcudf "
                           f"would read out of bounds: undefined behaviour, often an illegal memory access)")
    indices = pa.array(np.where(outside, 0, wrapped), pa.int64(), mask=outside)
    return Table([_take(c, indices) for c in source_table.columns()])


def scatter(source: Table | list[Scalar], scatter_map: Column, target_table: Table, stream: Any = None,
            mr: Any = None) -> Table:
    if not isinstance(target_table, Table):
        raise TypeError(f"target_table must be a Table, not {type(target_table).__name__}")
    targets = target_table.columns()
    if isinstance(source, Table):
        sources: list[Any] = source.columns()
        if len(sources) != len(targets):
            raise ValueError("Number of columns in source and target not equal")
        if scatter_map.size() > source.num_rows():
            raise ValueError("Size of scatter map must be equal to or less than source rows")
    elif isinstance(source, list) and all(isinstance(s, Scalar) for s in source):
        sources = list(source)
        if len(sources) != len(targets):
            raise ValueError("Number of scalars in source and number of columns in target not equal")
    else:
        raise TypeError("source must be a Table or a list of Scalars")
    for s, t in zip(sources, targets):
        if s.type() != t.type():
            raise TypeError(f"Column types do not match between source and target: {s.type()} vs {t.type()}")
    if scatter_map.null_count():
        raise ValueError("Scatter map contains nulls")
    idx = _index_values(scatter_map, "scatter_map")
    n = target_table.num_rows()
    wrapped = np.where(idx < 0, idx + n, idx)
    if ((wrapped < 0) | (wrapped >= n)).any():
        raise RuntimeError(f"scatter index outside [-{n}, {n}) (simulated: libcudf's behaviour is undefined)")
    if len(np.unique(wrapped)) != len(wrapped):
        raise RuntimeError("scatter map repeats an index (simulated: libcudf's result is undefined)")
    out = []
    rows = pa.array(np.arange(len(idx)), pa.int64())
    for s, t in zip(sources, targets):
        values = _sim.column_to_arrow(t).to_pylist()
        if isinstance(s, Scalar):
            new = [s._value if s.is_valid() else None] * len(idx)
        else:
            new = pc.take(_sim.column_to_arrow(s), rows).to_pylist()
        for position, value in zip(wrapped.tolist(), new):
            values[position] = value
        out.append(_sim.column_from_arrow(pa.array(values, _sim.value_type(t.type())), t.type()))
    return Table(out)


def empty_like(input: ColumnOrTable, stream: Any = None, mr: Any = None) -> ColumnOrTable:
    if isinstance(input, Table):
        return Table([empty_like(c) for c in input.columns()])
    if not isinstance(input, Column):
        raise TypeError(f"empty_like takes a Column or Table, not {type(input).__name__}")
    return _sim.column_from_arrow(pa.array([], _sim.value_type(input.type())), input.type())


def shift(input: Column, offset: int, fill_value: Scalar, stream: Any = None, mr: Any = None) -> Column:
    if fill_value.type() != input.type():
        raise TypeError("shift requires each fill value type to match the corresponding column type.")
    tid = input.type().id()
    if tid in (TypeId.LIST, TypeId.STRUCT, TypeId.DICTIONARY32, TypeId.EMPTY):
        raise TypeError("shift only supports fixed-width or string types.")
    n = input.size()
    values = _sim.column_to_arrow(input)
    fill = fill_value._value if fill_value.is_valid() else None
    k = builtins.max(-n, builtins.min(n, int(offset)))
    fills = pa.array([fill] * abs(k), values.type)
    if k >= 0:
        shifted = pa.concat_arrays([fills, values.slice(0, n - k)])
    else:
        shifted = pa.concat_arrays([values.slice(-k), fills])
    return _sim.column_from_arrow(shifted, input.type())


def reverse(input: ColumnOrTable, stream: Any = None, mr: Any = None) -> ColumnOrTable:
    if isinstance(input, Table):
        return Table([reverse(c) for c in input.columns()])
    if not isinstance(input, Column):
        raise TypeError(f"reverse takes a Column or Table, not {type(input).__name__}")
    n = input.size()
    return _take(input, pa.array(np.arange(n - 1, -1, -1), pa.int64()))


def _view(col: Column, begin: int, end: int) -> Column:
    """Rows [begin, end) of ``col`` sharing its buffers (libcudf's sliced column_view)."""
    size = end - begin
    if col.null_count() and col.null_mask() is not None:
        flags = _sim._valid_flags(col)
        null_count = int(size - np.count_nonzero(flags[begin:end]))
    else:
        null_count = 0
    mask = col.null_mask() if null_count or col.null_mask() is not None else None
    return Column(col.type(), size, col.data(), mask, null_count, col.offset() + begin, col.children())


def _check_bounds(indices: Sequence[int], size: int) -> list[tuple[int, int]]:
    if len(indices) % 2:
        raise ValueError("indices size must be even")
    pairs = []
    for begin, end in zip(indices[0::2], indices[1::2]):
        begin, end = int(begin), int(end)
        if begin < 0:
            raise IndexError("Starting index cannot be negative.")
        if end < begin:
            raise ValueError("End index cannot be smaller than the starting index.")
        if end > size:
            raise IndexError("Slice range out of bounds.")
        pairs.append((begin, end))
    return pairs


def slice(input: ColumnOrTable, indices: list[int], stream: Any = None) -> list[ColumnOrTable]:
    if isinstance(input, Table):
        pairs = _check_bounds(indices, input.num_rows())
        if not input.num_columns():
            return [Table([]) for _ in pairs]
        return [Table([_view(c, b, e) for c in input.columns()]) for b, e in pairs]
    if not isinstance(input, Column):
        raise TypeError(f"slice takes a Column or Table, not {type(input).__name__}")
    return [_view(input, b, e) for b, e in _check_bounds(indices, input.size())]


def split(input: ColumnOrTable, splits: list[int], stream: Any = None) -> list[ColumnOrTable]:
    size = input.num_rows() if isinstance(input, Table) else input.size()
    if splits and int(splits[-1]) > size:
        raise IndexError("splits can't exceed size of input columns")
    bounds = [0, *(int(s) for s in splits), size]
    indices = [b for pair in zip(bounds[:-1], bounds[1:]) for b in pair]
    return slice(input, indices)


def copy_if_else(lhs: Column | Scalar, rhs: Column | Scalar, boolean_mask: Column, stream: Any = None,
                 mr: Any = None) -> Column:
    if not isinstance(boolean_mask, Column) or boolean_mask.type().id() != TypeId.BOOL8:
        raise TypeError("Boolean mask column must be of type type_id::BOOL8")
    n = boolean_mask.size()
    for side in (lhs, rhs):
        if not isinstance(side, (Column, Scalar)):
            raise TypeError(f"copy_if_else takes Columns or Scalars, not {type(side).__name__}")
        if isinstance(side, Column) and side.size() != n:
            raise ValueError("Boolean mask column must be the same size as lhs and rhs columns")
    if lhs.type() != rhs.type():
        raise TypeError(f"Both inputs must be of the same type: {lhs.type()} vs {rhs.type()}")
    dtype = lhs.type()
    value_type = _sim.value_type(dtype)

    def side_values(x: Column | Scalar) -> pa.Array:
        if isinstance(x, Column):
            return _sim.column_to_arrow(x)
        return pa.array([x._value if x.is_valid() else None] * n, value_type)

    condition = _sim.column_to_arrow(boolean_mask).fill_null(False)  # a NULL condition takes rhs
    chosen = pc.if_else(condition, side_values(lhs), side_values(rhs))
    return _sim.column_from_arrow(chosen, dtype)


def get_element(input_column: Column, index: int, stream: Any = None) -> Scalar:
    if not 0 <= index < input_column.size():
        raise IndexError("Index out of bounds")
    value = _sim.column_to_arrow(input_column)[int(index)]
    return Scalar._of(value.as_py() if value.is_valid else None, input_column.type())
