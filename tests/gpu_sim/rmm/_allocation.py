"""One simulated device allocation: host bytes charged to the current memory resource while alive."""

from __future__ import annotations

import threading
import weakref

import numpy as np

from rmm import mr

__all__ = ["DeviceAllocation", "allocation_at"]

_by_address: dict[int, weakref.ref[DeviceAllocation]] = {}
_lock = threading.Lock()


class DeviceAllocation:
    """``array`` (uint8, owned) counted against the resource current at creation until collected."""

    __slots__ = ("array", "ptr", "nbytes", "__weakref__")

    def __init__(self, array: np.ndarray) -> None:
        assert array.dtype == np.uint8 and array.ndim == 1
        self.nbytes = int(array.nbytes)
        resource = mr.get_current_device_resource()
        resource.allocate(self.nbytes)
        self.array = array
        # A real host address: unique among live allocations, so ptr-based copies can find us.
        self.ptr = int(array.ctypes.data) if self.nbytes else 0
        weakref.finalize(self, resource.deallocate, self.nbytes)
        if self.nbytes:
            with _lock:
                _by_address[self.ptr] = weakref.ref(self)


def allocation_at(address: int) -> DeviceAllocation:
    """The live allocation holding ``address`` (a pointer into it, as CUDA code passes them)."""
    with _lock:
        for start, ref in list(_by_address.items()):
            alloc = ref()
            if alloc is None:
                del _by_address[start]
            elif start <= address < start + alloc.nbytes:
                return alloc
    raise RuntimeError(f"cudaErrorIllegalAddress: {address:#x} is not in simulated device memory")
