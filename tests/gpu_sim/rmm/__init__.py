"""Simulated ``rmm`` (models rmm 26.10) for running gpu-exec's cuDF kernels without a GPU: device
buffers are host memory charged to the current simulated memory resource (``rmm.mr``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from rmm import mr
from rmm._allocation import DeviceAllocation, allocation_at

__all__ = ["DeviceBuffer", "mr", "__version__", "SIMULATED"]

__version__ = "26.10.0+simulated"
SIMULATED = True  # read by nobody in gpu-exec; for people inspecting a process


class DeviceBuffer:
    """Untyped simulated device memory: ``DeviceBuffer(size=n)`` allocates, ``DeviceBuffer(ptr=p,
    size=n)`` copies ``n`` bytes from the simulated device address ``p``."""

    def __init__(self, *, ptr: int = 0, size: int = 0, stream: Any = None, mr: Any = None) -> None:
        if ptr:
            source = allocation_at(int(ptr))
            start = int(ptr) - source.ptr
            self._allocation = DeviceAllocation(source.array[start:start + size].copy())
        else:
            self._allocation = DeviceAllocation(np.zeros(int(size), dtype=np.uint8))

    @property
    def ptr(self) -> int:
        return self._allocation.ptr

    @property
    def size(self) -> int:
        return self._allocation.nbytes

    @property
    def nbytes(self) -> int:
        return self._allocation.nbytes

    @property
    def _sim_allocation(self) -> DeviceAllocation:
        return self._allocation

    @property
    def __cuda_array_interface__(self) -> dict[str, Any]:
        return {"shape": (self.size,), "strides": None, "typestr": "|u1", "data": (self.ptr, False), "version": 3}

    @staticmethod
    def to_device(data: Any, stream: Any = None, mr: Any = None) -> DeviceBuffer:
        """Host bytes (any buffer) copied to a new device buffer."""
        buffer = DeviceBuffer.__new__(DeviceBuffer)
        buffer._allocation = DeviceAllocation(np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8).copy())
        return buffer

    def copy_to_host(self) -> np.ndarray:
        return self._allocation.array.copy()

    def tobytes(self) -> bytes:
        return self._allocation.array.tobytes()
