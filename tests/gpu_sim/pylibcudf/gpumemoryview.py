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
    def __array_interface__(self) -> dict[str, Any]:
        # Lets the simulator's cupy stand-in (numpy) view the bytes without a copy.
        return self.host().__array_interface__
