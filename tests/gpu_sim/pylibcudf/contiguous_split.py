"""Simulated ``pylibcudf.contiguous_split`` (pylibcudf 26.10): ``pack`` / ``PackedColumns.release``
/ ``unpack_from_memoryviews``, modelling libcudf's ``cpp/src/copying/pack.cpp`` and
``contiguous_split.cu``.

``pack(table)`` copies every buffer of the table (data, null masks, string offsets, each cut to
the rows the views cover and re-based to offset 0) into ONE new device allocation (the only
allocation pack makes), each buffer
aligned to 64 bytes, and describes the layout in host metadata (types, sizes, null counts, buffer
offsets; no names, precisions or time zones — as libcudf's metadata). ``release()`` hands over
``(memoryview of the metadata, gpumemoryview of the device buffer)`` once; a second call raises
ValueError ("Cannot release empty PackedColumns"). ``unpack_from_memoryviews(metadata, span)``
builds columns that view the span's memory (no copy; they keep it alive). A table with no columns
packs to empty metadata and an empty device buffer.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from pylibcudf import _sim
from pylibcudf.column import Column
from pylibcudf.gpumemoryview import gpumemoryview
from pylibcudf.table import Table
from pylibcudf.types import DataType, TypeId
from rmm._allocation import DeviceAllocation, allocation_at

__all__ = ["PackedColumns", "pack", "unpack_from_memoryviews"]

_ALIGN = 64
_MAGIC = "plc-sim-pack-1"


def _buffers(col: Column) -> tuple[np.ndarray | None, np.ndarray | None, list[tuple[int, np.ndarray]]]:
    """Host copies of the bytes ``col``'s rows use — (data, mask re-based to bit 0, children as
    (size, data)) — read straight from its buffers (no device allocation)."""
    n, off = col.size(), col.offset()
    flags = _sim._valid_flags(col)
    mask = None
    if col.null_mask() is not None:
        bits = np.ones(n, dtype=bool) if flags is None else flags
        packed = np.packbits(bits, bitorder="little")
        mask = np.concatenate([packed, np.zeros((-len(packed)) % _ALIGN, np.uint8)])
    tid = col.type().id()
    if tid == TypeId.STRING:
        if n == 0 or col.num_children() == 0:
            return np.zeros(0, np.uint8), mask, [(n + 1, np.zeros(n + 1, np.int32).view(np.uint8))]
        offsets = np.frombuffer(col.child(0).data().host(), dtype=np.int32)[off:off + n + 1]
        chars = col.data().host()[int(offsets[0]):int(offsets[-1])] if col.data() is not None else np.zeros(0, np.uint8)
        rebased = (offsets - offsets[0]).astype(np.int32)
        return chars, mask, [(n + 1, rebased.view(np.uint8))]
    if tid == TypeId.EMPTY or col.data() is None:
        return None, mask, []
    width = 16 if tid == TypeId.DECIMAL128 else np.dtype(_sim.storage_dtype(col.type())).itemsize
    return col.data().host()[off * width:(off + n) * width], mask, []


class PackedColumns:
    """A packed table: host metadata + one device buffer, released once."""

    def __init__(self) -> None:
        raise ValueError("PackedColumns should not be constructed directly. Use one of the factories.")

    @classmethod
    def _of(cls, metadata: bytes, gpu_data: gpumemoryview) -> PackedColumns:
        packed = object.__new__(cls)
        packed._metadata, packed._gpu_data = metadata, gpu_data
        return packed

    def release(self) -> tuple[memoryview, gpumemoryview]:
        if self._gpu_data is None:
            raise ValueError("Cannot release empty PackedColumns")
        metadata, gpu_data = self._metadata, self._gpu_data
        self._metadata, self._gpu_data = b"", None
        return memoryview(metadata), gpu_data


def pack(input: Table, stream: Any = None, mr: Any = None) -> PackedColumns:
    if not isinstance(input, Table):
        raise TypeError(f"pack takes a Table, not {type(input).__name__}")
    pieces: list[np.ndarray] = []
    position = 0

    def place(buf: np.ndarray | None) -> list[int] | None:
        nonlocal position
        if buf is None:
            return None
        start = position
        pieces.append(np.asarray(buf, dtype=np.uint8))
        padding = (-len(buf)) % _ALIGN
        if padding:
            pieces.append(np.zeros(padding, np.uint8))
        position += len(buf) + padding
        return [start, int(len(buf))]

    def describe(col: Column) -> dict[str, Any]:
        if col.type().id() in (TypeId.LIST, TypeId.STRUCT, TypeId.DICTIONARY32):
            raise NotImplementedError(f"packing {col.type()} columns is not modelled by the simulator")
        data, mask, children = _buffers(col)
        return {"type": int(col.type().id()), "scale": col.type().scale(), "size": col.size(),
                "null_count": col.null_count(), "data": place(data), "mask": place(mask),
                "children": [{"type": int(TypeId.INT32), "scale": 0, "size": size, "null_count": 0,
                              "data": place(raw), "mask": None, "children": []} for size, raw in children]}

    columns = [describe(c) for c in input.columns()]
    if not columns:
        return PackedColumns._of(b"", gpumemoryview(DeviceAllocation(np.zeros(0, np.uint8))))
    blob = np.concatenate(pieces) if pieces else np.zeros(0, np.uint8)
    metadata = json.dumps({"format": _MAGIC, "num_rows": input.num_rows(), "columns": columns}).encode()
    return PackedColumns._of(metadata, gpumemoryview(DeviceAllocation(blob.copy())))


def _view_of(alloc: DeviceAllocation, start: int, nbytes: int) -> gpumemoryview:
    view = object.__new__(gpumemoryview)
    view._allocation, view._start, view._nbytes, view.obj = alloc, start, nbytes, alloc
    return view


def unpack_from_memoryviews(metadata: memoryview, gpu_data: Any, stream: Any = None) -> Table:
    if not isinstance(metadata, memoryview):
        raise TypeError(f"metadata must be a memoryview, not {type(metadata).__name__}")
    if not (hasattr(gpu_data, "ptr") and hasattr(gpu_data, "size")):
        raise TypeError(f"Object of type {type(gpu_data)} does not implement the Span protocol")
    if metadata.nbytes == 0:
        if int(gpu_data.ptr) != 0:
            raise ValueError("Expected an empty gpu_data from unpacking an empty table")
        return Table([])
    layout = json.loads(bytes(metadata))
    if layout.get("format") != _MAGIC:
        raise RuntimeError("the metadata is not that of a packed table (simulated pack format)")
    base_ptr = int(gpu_data.ptr)
    alloc = allocation_at(base_ptr) if int(gpu_data.size) else None
    base = base_ptr - alloc.ptr if alloc is not None else 0

    def buffer(spec: list[int] | None) -> gpumemoryview | None:
        if spec is None:
            return None
        start, nbytes = spec
        if alloc is None:
            return gpumemoryview(DeviceAllocation(np.zeros(0, np.uint8))) if nbytes == 0 else _missing()
        if base + start + nbytes > alloc.nbytes or start + nbytes > int(gpu_data.size):
            raise RuntimeError("the packed layout runs past the device buffer (cudaErrorIllegalAddress)")
        return _view_of(alloc, base + start, nbytes)

    def build(spec: dict[str, Any]) -> Column:
        dtype = DataType(TypeId(spec["type"]), spec["scale"])
        children = [build(c) for c in spec["children"]]
        return Column(dtype, spec["size"], buffer(spec["data"]), buffer(spec["mask"]), spec["null_count"], 0,
                      children)

    return Table([build(c) for c in layout["columns"]])


def _missing() -> gpumemoryview:
    raise RuntimeError("the packed layout needs device data, but gpu_data is empty (cudaErrorIllegalAddress)")
