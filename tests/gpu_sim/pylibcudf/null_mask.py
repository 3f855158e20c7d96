"""Simulated ``pylibcudf.null_mask`` (pylibcudf 26.10), modelling libcudf's
``cpp/src/bitmask/null_mask.cu``: ``bitmask_and`` of the columns' validity as
``(rmm.DeviceBuffer, null count)`` — row 0 at bit 0 whatever the columns' offsets, an empty buffer
when no column has a mask (AND) — and ``copy_bitmask``, ``bitmask_allocation_size_bytes``."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from pylibcudf import _fixed_width as fw
from pylibcudf.column import Column
from rmm import DeviceBuffer

__all__ = ["bitmask_and", "copy_bitmask", "bitmask_allocation_size_bytes"]


def bitmask_allocation_size_bytes(number_of_bits: int) -> int:
    """Bytes of a null mask for ``number_of_bits`` rows, padded to 64 bytes as libcudf does."""
    return -(-((number_of_bits + 7) // 8) // 64) * 64


def _buffer(flags: np.ndarray) -> DeviceBuffer:
    packed = np.packbits(flags.astype(bool), bitorder="little")
    padded = np.concatenate([packed, np.zeros(bitmask_allocation_size_bytes(len(flags)) - len(packed), np.uint8)])
    return DeviceBuffer.to_device(padded.tobytes())


def _combine(columns: Sequence[Column], op: Any) -> tuple[DeviceBuffer, int]:
    columns = list(columns)
    if not all(isinstance(c, Column) for c in columns):
        raise TypeError("bitmask operations take a list of Columns")
    if len({c.size() for c in columns}) > 1:
        raise ValueError("the columns must have one size")
    nullable = [c for c in columns if c.null_mask() is not None]
    if not columns or not nullable:
        return DeviceBuffer(size=0), 0
    flags = fw.valid_flags(nullable[0])
    for c in nullable[1:]:
        flags = op(flags, fw.valid_flags(c))
    return _buffer(flags), int(len(flags) - np.count_nonzero(flags))


def bitmask_and(columns: Sequence[Column], stream: Any = None, mr: Any = None) -> tuple[DeviceBuffer, int]:
    return _combine(columns, np.logical_and)


def copy_bitmask(col: Column, stream: Any = None, mr: Any = None) -> DeviceBuffer:
    if col.null_mask() is None:
        return DeviceBuffer(size=0)
    return _buffer(fw.valid_flags(col))
