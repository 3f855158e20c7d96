"""Columns, literals and numpy views: the small helpers every CPU kernel uses."""

from __future__ import annotations

import contextlib
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from planner.errors import ExecutionError
from planner.expr import Literal

Operand = Any  # pa.Array | pa.ChunkedArray | Literal


def _array(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous array (zero-copy for a single chunk: combine_chunks always copies)."""
    if isinstance(col, pa.ChunkedArray):
        if col.num_chunks == 1:
            return col.chunk(0)
        if col.num_chunks == 0:
            return pa.array([], type=col.type)
        return col.combine_chunks()
    return col


def _literal_scalar(lit: Literal, to_type: pa.DataType | None = None) -> pa.Scalar:
    """A Literal as a pyarrow scalar of its own type (or ``to_type``)."""
    t = lit.dtype if to_type is None else to_type
    value = lit.value
    if value is None:
        return pa.scalar(None, type=t)
    if pa.types.is_interval(lit.dtype):
        return pa.scalar(tuple(value), type=pa.month_day_nano_interval())
    if pa.types.is_decimal(lit.dtype):
        value = Decimal(value).quantize(Decimal(1).scaleb(-lit.dtype.scale), rounding=ROUND_HALF_UP)
    scalar = pa.scalar(value, type=lit.dtype)
    if t == lit.dtype:
        return scalar
    from fallback_cpu.cast import (
        _cast_array,  # here, not at the top: cast imports this module
    )

    return _cast_array(pa.repeat(scalar, 1), t, safe=False)[0]


def _column_of(x: Operand, num_rows: int) -> pa.Array:
    """An Operand as an array of ``num_rows`` (Literals broadcast)."""
    if isinstance(x, Literal):
        scalar = _literal_scalar(x)
        if not scalar.is_valid:
            return pa.nulls(num_rows, type=x.dtype)
        return pa.repeat(scalar, num_rows)
    return _array(x)


def _arg(x: Operand) -> pa.Array | pa.Scalar:
    """An Operand for a pyarrow.compute call: arrays stay arrays, Literals become scalars."""
    return _literal_scalar(x) if isinstance(x, Literal) else _array(x)


def _as_column(value: pa.Array | pa.ChunkedArray | pa.Scalar, num_rows: int) -> pa.Array:
    if isinstance(value, pa.Scalar):
        return pa.repeat(value, num_rows) if value.is_valid else pa.nulls(num_rows, type=value.type)
    return _array(value)


def _valid_mask(arr: pa.Array) -> np.ndarray:
    if arr.null_count == 0:
        return np.ones(len(arr), dtype=bool)
    return np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)


def _numpy_values(arr: pa.Array, fill: Any = 0) -> np.ndarray:
    """The values of a primitive array as numpy (NULL slots filled with ``fill``)."""
    if arr.null_count:
        arr = pc.fill_null(arr, pa.scalar(fill, type=arr.type))
    return arr.to_numpy(zero_copy_only=False)


def _from_numpy(values: np.ndarray, valid: np.ndarray | None, t: pa.DataType) -> pa.Array:
    mask = None if valid is None or valid.all() else ~valid
    return pa.array(values, type=t, mask=mask)


@contextlib.contextmanager
def _data_errors(what: str) -> Iterator[None]:
    """pyarrow's data errors (overflow, unparsable values) as ExecutionError naming the kernel."""
    try:
        yield
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, OverflowError) as exc:
        raise ExecutionError(f"{what}: {exc}") from exc


def make_table(columns: Sequence[pa.Array], schema: pa.Schema, num_rows: int) -> pa.Table:
    if not columns:
        # A zero-column table still has rows (COUNT(*) over a projection of nothing).
        # (Table.cast would reset the row count to 0 here.)
        return pa.table({"_": pa.nulls(num_rows)}).drop_columns(["_"])
    return pa.Table.from_arrays([_array(c) for c in columns], schema=schema)
