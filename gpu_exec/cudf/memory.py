"""Device memory: the RMM memory resource of a GPU process, set up once, before any allocation.

One resource per process and GPU, kept referenced for the life of the process (NOTES.md,
'Memory resource'). "async" (``CudaAsyncMemoryResource``, cudf-polars' default) lets the driver
pool memory and share it with other libraries; "pool" (``PoolMemoryResource``) reserves
``pool_size`` up front and is the fastest when the process owns the GPU. Both are wrapped in a
``StatisticsResourceAdaptor`` so the current and peak bytes can be reported. Under dask-cuda, the
cluster's own ``rmm_pool_size`` / ``rmm_async`` options configure the workers instead — never both.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from planner.errors import GpuExecError

if TYPE_CHECKING:
    import rmm.mr

__all__ = ["GpuMemoryConfig", "setup_gpu_memory", "gpu_memory_stats", "parse_size"]

_lock = threading.Lock()
# The process's memory resource, kept referenced for the life of the process (RMM requires it).
_resource: rmm.mr.StatisticsResourceAdaptor | None = None
_configured: GpuMemoryConfig | None = None

_UNITS = {"": 1, "b": 1, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
          "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}


def parse_size(text: str | int | None) -> int | None:
    """Bytes from ``"10GiB"``, ``"512MB"``, ``"1048576"`` or an int; None/"" for "not set"."""
    if text is None or text == "":
        return None
    if isinstance(text, int):
        return text
    raw = text.strip().lower().replace(" ", "")
    digits = raw.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = raw[len(digits):]
    if not digits or unit not in _UNITS:
        raise GpuExecError(f"cannot read the size {text!r}: write e.g. '10GiB', '512MB' or a number of bytes")
    return int(float(digits) * _UNITS[unit])


@dataclass(frozen=True, slots=True)
class GpuMemoryConfig:
    """``resource``: "async" | "pool" | "none" (leave RMM's default). ``pool_size``: the initial
    pool ("pool" only; default half the free memory), ``maximum_size`` its cap."""

    resource: str = "async"
    pool_size: str | None = None
    maximum_size: str | None = None


def setup_gpu_memory(config: GpuMemoryConfig) -> None:
    """Install the memory resource for this process's current GPU, once; a second call with a
    different configuration is an error (the first allocation already used the first one)."""
    global _resource, _configured
    with _lock:
        if _configured is not None:
            if _configured != config:
                raise GpuExecError(
                    f"the GPU memory of this process is already set up as {_configured}; "
                    f"it cannot change to {config} (start a new process)"
                )
            return
        if config.resource == "none":
            _configured = config
            return
        import rmm.mr

        upstream: rmm.mr.DeviceMemoryResource
        if config.resource == "async":
            upstream = rmm.mr.CudaAsyncMemoryResource(initial_pool_size=parse_size(config.pool_size),
                                                           release_threshold=None)
        elif config.resource == "pool":
            upstream = rmm.mr.PoolMemoryResource(
                rmm.mr.CudaMemoryResource(),
                initial_pool_size=parse_size(config.pool_size),
                maximum_pool_size=parse_size(config.maximum_size),
            )
        else:
            raise GpuExecError(f"GPU memory resource must be 'async', 'pool' or 'none', not {config.resource!r}")
        resource = rmm.mr.StatisticsResourceAdaptor(upstream)
        rmm.mr.set_current_device_resource(resource)
        _resource, _configured = resource, config


def gpu_memory_stats() -> dict[str, int] | None:
    """Current and peak device bytes allocated through gpu-exec's resource (None before setup)."""
    if _resource is None:
        return None
    counts = _resource.allocation_counts
    return {"current_bytes": counts.current_bytes, "peak_bytes": counts.peak_bytes,
            "total_bytes": counts.total_bytes}
