"""``cupy.cuda`` of the cupy stand-in: ``UnownedMemory`` (someone else's device memory, kept alive
through ``owner``) and ``MemoryPointer`` (a position in it), over simulated device memory."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["UnownedMemory", "MemoryPointer"]


class UnownedMemory:
    """``size`` bytes of simulated device memory at ``ptr``, owned by ``owner``."""

    def __init__(self, ptr: int, size: int, owner: Any, device_id: int | None = None) -> None:
        from rmm._allocation import allocation_at

        self.ptr, self.size, self.owner = int(ptr), int(size), owner
        if self.size:
            alloc = allocation_at(self.ptr)  # cudaErrorIllegalAddress (RuntimeError) if not device memory
            start = self.ptr - alloc.ptr
            if start + self.size > alloc.nbytes:
                raise RuntimeError("UnownedMemory runs past the end of its allocation (cudaErrorIllegalAddress)")
            self._bytes: np.ndarray = alloc.array[start:start + self.size]
            self._allocation = alloc
        else:
            self._bytes = np.zeros(0, np.uint8)


class MemoryPointer:
    def __init__(self, mem: UnownedMemory, offset: int) -> None:
        if not 0 <= offset <= mem.size:
            raise ValueError("offset outside the memory")
        self.mem, self.offset = mem, int(offset)
        self.ptr = mem.ptr + self.offset

    def _host_view(self) -> np.ndarray:
        return self.mem._bytes[self.offset:]
