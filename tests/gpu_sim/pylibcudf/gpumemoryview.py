"""Simulated ``pylibcudf.gpumemoryview``: a view of simulated device memory (an allocation, or a
part of one), with ``ptr`` and ``nbytes`` as the real one has."""

from __future__ import annotations

from typing import Any

import numpy as np

from rmm._allocation import DeviceAllocation

__all__ = ["gpumemoryview"]


class gpumemoryview:  # noqa: N801 — pylibcudf's own name
    """Wraps an object holding simulated device memory: an ``rmm.DeviceBuffer``, another
    gpumemoryview, or a ``DeviceAllocation``. Host objects (numpy arrays, bytes) are refused, as a
    real gpumemoryview refuses objects without ``__cuda_array_interface__``."""

    __slots__ = ("_allocation", "_start", "_nbytes", "obj")

    def __init__(self, obj: Any) -> None:
        if isinstance(obj, gpumemoryview):
            self._allocation, self._start, self._nbytes = obj._allocation, obj._start, obj._nbytes
        elif isinstance(obj, DeviceAllocation):
            self._allocation, self._start, self._nbytes = obj, 0, obj.nbytes
        elif hasattr(obj, "_sim_allocation"):
            alloc = obj._sim_allocation
            self._allocation, self._start, self._nbytes = alloc, 0, alloc.nbytes
        elif hasattr(obj, "__cuda_array_interface__"):
            self._allocation, self._start, self._nbytes = _from_cuda_array_interface(obj)
        else:
            raise ValueError(f"gpumemoryview needs device memory (__cuda_array_interface__); got "
                             f"{type(obj).__name__} (simulated device)")
        self.obj = obj

    @property
    def ptr(self) -> int:
        return self._allocation.ptr + self._start if self._nbytes else 0

    @property
    def nbytes(self) -> int:
        return self._nbytes

    @property
    def size(self) -> int:  # the Span protocol of rmm (ptr + size)
        return self._nbytes

    @property
    def _sim_allocation(self) -> DeviceAllocation:
        return self._allocation

    def host(self) -> np.ndarray:
        """The bytes, as a read-only uint8 view (simulator internals only)."""
        view = self._allocation.array[self._start:self._start + self._nbytes]
        view = view.view()
        view.flags.writeable = False
        return view

    @property
    def __cuda_array_interface__(self) -> dict[str, Any]:
        """As pylibcudf's: the bytes as a 1-D uint8 device array."""
        return {"shape": (self._nbytes,), "strides": None, "typestr": "|u1", "data": (self.ptr, False),
                "version": 3}

    @property
    def __array_interface__(self) -> dict[str, Any]:
        # Lets the simulator's cupy stand-in (numpy) view the bytes without a copy.
        return self.host().__array_interface__


def _from_cuda_array_interface(obj: Any) -> tuple[DeviceAllocation, int, int]:
    """(allocation, start, nbytes) of a C-contiguous device array given by its
    ``__cuda_array_interface__`` (the cupy stand-in's arrays adopt their memory on first use)."""
    from rmm._allocation import allocation_at

    iface = obj.__cuda_array_interface__
    if iface.get("strides") is not None:
        raise ValueError("gpumemoryview needs a C-contiguous array")
    if iface.get("mask") is not None:
        raise NotImplementedError("arrays with a mask are not supported")
    nbytes = int(np.prod(iface["shape"], dtype=np.int64)) * np.dtype(iface["typestr"]).itemsize
    ptr = int(iface["data"][0])
    if nbytes == 0:
        return DeviceAllocation(np.zeros(0, np.uint8)), 0, 0
    try:
        alloc = allocation_at(ptr)
    except RuntimeError:
        if not hasattr(obj, "_sim_adopt"):
            raise
        alloc = obj._sim_adopt()
    start = ptr - alloc.ptr
    if start + nbytes > alloc.nbytes:
        raise RuntimeError("the array runs past the end of its device allocation (cudaErrorIllegalAddress)")
    return alloc, start, nbytes
