"""Simulated ``rmm.mr`` (models rmm 26.10): memory resources that account the bytes of simulated
device buffers, so a pool's limit is reached, and exceeded with rmm's error, as on a device.

Every simulated device allocation (a column's data or null mask, a ``DeviceBuffer``) asks the
current device resource for its bytes and gives them back when the buffer is garbage collected.
The simulated device holds ``GPU_EXEC_SIM_DEVICE_BYTES`` bytes (default 16 GiB); a pool resource
is bounded by its ``maximum_pool_size`` and a limiting adaptor by its ``allocation_limit``.
Exceeding a bound raises ``MemoryError`` naming the resource, as rmm's ``out_of_memory`` does.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

__all__ = [
    "DeviceMemoryResource", "CudaMemoryResource", "CudaAsyncMemoryResource", "PoolMemoryResource",
    "StatisticsResourceAdaptor", "LimitingResourceAdaptor", "set_current_device_resource",
    "get_current_device_resource", "available_device_memory", "device_capacity",
]

_lock = threading.RLock()


def device_capacity() -> int:
    """The simulated device's memory in bytes."""
    return int(os.environ.get("GPU_EXEC_SIM_DEVICE_BYTES", str(16 * 1024**3)))


def _parse(size: int | str | None) -> int | None:
    if size is None or isinstance(size, int):
        return size
    text = str(size).strip().upper().replace("IB", "B")
    for suffix, factor in (("TB", 1024**4), ("GB", 1024**3), ("MB", 1024**2), ("KB", 1024), ("B", 1)):
        if text.endswith(suffix):
            return int(float(text[: -len(suffix)]) * factor)
    return int(text)


class DeviceMemoryResource:
    """Base of the resources: ``allocate``/``deallocate`` charge bytes up the chain."""

    def __init__(self, upstream: DeviceMemoryResource | None = None) -> None:
        self._upstream = upstream
        self._used = 0

    def _limit(self) -> int | None:
        return None

    def allocate(self, nbytes: int) -> None:
        with _lock:
            limit = self._limit()
            if limit is not None and self._used + nbytes > limit:
                raise MemoryError(
                    f"std::bad_alloc: out_of_memory: RMM failure: {type(self).__name__} cannot allocate "
                    f"{nbytes} bytes: {self._used} of {limit} in use (simulated device)")
            if self._upstream is not None:
                self._upstream.allocate(nbytes)
            self._used += nbytes

    def deallocate(self, nbytes: int) -> None:
        with _lock:
            self._used -= nbytes
            if self._upstream is not None:
                self._upstream.deallocate(nbytes)

    def get_upstream(self) -> DeviceMemoryResource | None:
        return self._upstream


class CudaMemoryResource(DeviceMemoryResource):
    """cudaMalloc: bounded by the device's memory."""

    def __init__(self) -> None:
        super().__init__(None)

    def _limit(self) -> int | None:
        return device_capacity()


class CudaAsyncMemoryResource(DeviceMemoryResource):
    """cudaMallocAsync's pool: bounded by the device's memory."""

    def __init__(self, initial_pool_size: int | str | None = None, release_threshold: int | None = None,
                 enable_ipc: bool = False) -> None:
        super().__init__(None)
        initial = _parse(initial_pool_size)
        if initial is not None and initial > device_capacity():
            raise MemoryError(f"initial pool size {initial} exceeds the device's {device_capacity()} bytes")

    def _limit(self) -> int | None:
        return device_capacity()


class PoolMemoryResource(DeviceMemoryResource):
    """A pool over ``upstream``; ``maximum_pool_size`` bounds it (default: the upstream's bound)."""

    def __init__(self, upstream: DeviceMemoryResource, initial_pool_size: int | str | None = None,
                 maximum_pool_size: int | str | None = None) -> None:
        super().__init__(upstream)
        self._maximum = _parse(maximum_pool_size)
        initial = _parse(initial_pool_size)
        if initial is not None and self._maximum is not None and initial > self._maximum:
            raise ValueError("initial_pool_size must not exceed maximum_pool_size")

    def _limit(self) -> int | None:
        return self._maximum


class LimitingResourceAdaptor(DeviceMemoryResource):
    """Refuses allocations past ``allocation_limit`` bytes in use."""

    def __init__(self, upstream: DeviceMemoryResource, allocation_limit: int) -> None:
        super().__init__(upstream)
        self._allocation_limit = int(allocation_limit)

    def _limit(self) -> int | None:
        return self._allocation_limit

    def get_allocated_bytes(self) -> int:
        return self._used

    def get_allocation_limit(self) -> int:
        return self._allocation_limit


@dataclass
class Statistics:
    """``rmm.mr.StatisticsResourceAdaptor.allocation_counts``."""

    current_bytes: int = 0
    current_count: int = 0
    peak_bytes: int = 0
    peak_count: int = 0
    total_bytes: int = 0
    total_count: int = 0


class StatisticsResourceAdaptor(DeviceMemoryResource):
    """Counts current, peak and total bytes and allocations."""

    def __init__(self, upstream: DeviceMemoryResource) -> None:
        super().__init__(upstream)
        self._stats = Statistics()

    def allocate(self, nbytes: int) -> None:
        with _lock:
            super().allocate(nbytes)
            s = self._stats
            s.current_bytes += nbytes
            s.current_count += 1
            s.total_bytes += nbytes
            s.total_count += 1
            s.peak_bytes = max(s.peak_bytes, s.current_bytes)
            s.peak_count = max(s.peak_count, s.current_count)

    def deallocate(self, nbytes: int) -> None:
        with _lock:
            super().deallocate(nbytes)
            self._stats.current_bytes -= nbytes
            self._stats.current_count -= 1

    @property
    def allocation_counts(self) -> Statistics:
        return Statistics(**vars(self._stats))


_current: DeviceMemoryResource = CudaMemoryResource()


def set_current_device_resource(resource: DeviceMemoryResource) -> None:
    global _current
    if not isinstance(resource, DeviceMemoryResource):
        raise TypeError(f"expected a DeviceMemoryResource, got {type(resource).__name__}")
    _current = resource


def get_current_device_resource() -> DeviceMemoryResource:
    return _current


def available_device_memory() -> tuple[int, int]:
    """(free, total) bytes of the simulated device."""
    root: DeviceMemoryResource | None = _current
    while root is not None and root.get_upstream() is not None:
        root = root.get_upstream()
    used = root._used if root is not None else 0
    return device_capacity() - used, device_capacity()
