"""Simulated ``pylibcudf.filling`` (pylibcudf 26.10), modelling libcudf's ``cpp/src/filling/``:
``sequence(size, init, step)`` (init and step of one numeric type, both valid; the output has
init's type; integer steps wrap) and ``repeat(table, count)`` (each row repeated; count is an
int or a non-NULL integer column of the table's length; negative counts and outputs past 2^31 - 1
rows raise)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pylibcudf import _fixed_width as fw
from pylibcudf import _sim
from pylibcudf.column import Column
from pylibcudf.scalar import Scalar
from pylibcudf.table import Table

__all__ = ["sequence", "repeat"]
_SIZE_MAX = 2**31 - 1


def sequence(size: int, init: Scalar, step: Scalar, stream: Any = None, mr: Any = None) -> Column:
    if init.type() != step.type():
        raise TypeError("init and step must be of the same type.")
    if size < 0:
        raise ValueError("size must be >= 0")
    if fw.kind(init.type()) not in ("int", "float", "bool"):
        raise ValueError("Input scalar types must be numeric")
    if fw.kind(init.type()) == "bool":
        raise TypeError("Unsupported sequence scalar type")
    if not init.is_valid():
        raise ValueError("init must be a valid scalar")
    if not step.is_valid():
        raise ValueError("step must be a valid scalar")
    dtype = init.type()
    storage = _sim.storage_dtype(dtype)
    with np.errstate(over="ignore"):
        if fw.kind(dtype) == "int":
            values = (np.arange(size, dtype=np.int64).astype(storage) * storage(step._value)
                      + storage(init._value))
        else:
            values = storage(init._value) + np.arange(size, dtype=storage) * storage(step._value)
    return fw.make_column(dtype, values.astype(storage))


def repeat(input_table: Table, count: Column | int, stream: Any = None, mr: Any = None) -> Table:
    n = input_table.num_rows()
    if isinstance(count, Column):
        if not _sim.is_integer(count.type()):
            raise RuntimeError("count value type should be integral.")
        if count.size() != n:
            raise RuntimeError("in and count must have equal size")
        if count.null_count():
            raise RuntimeError("count cannot contain nulls")
        counts = fw.values(count).astype(np.int64)
        if (counts < 0).any():
            raise RuntimeError("count value should be non-negative (simulated: libcudf's result is undefined)")
    else:
        if int(count) < 0:
            raise RuntimeError("count value should be non-negative")
        counts = np.full(n, int(count), dtype=np.int64)
    if int(counts.sum()) > _SIZE_MAX:
        raise OverflowError("The resulting table exceeds the column size limit")
    indices = pa.array(np.repeat(np.arange(n, dtype=np.int64), counts), pa.int64())
    return Table([_sim.column_from_arrow(pc.take(_sim.column_to_arrow(c), indices), c.type())
                  for c in input_table.columns()])
