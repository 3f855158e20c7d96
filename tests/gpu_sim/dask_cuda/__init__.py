"""A stand-in for dask-cuda 26.10's ``LocalCUDACluster``, for running gpu-exec's GPU clusters on the
pylibcudf simulator (tests/gpu_sim).

gpu-exec starts a ``LocalCUDACluster`` instead of a ``LocalCluster`` when the session runs on GPUs
(scheduler/cluster.py ``start_local_cluster``). dask-cuda needs CUDA (pynvml, numba) and cannot be
installed without it, so with tests/gpu_sim first on the path this module takes its place. It models
the part of dask-cuda that gpu-exec depends on:

- one worker *process* per visible GPU: the GPUs are ``CUDA_VISIBLE_DEVICES`` (the argument, else the
  environment variable, else every GPU ``nvidia-smi -L`` lists — the stand-in in tests/gpu_sim/bin
  lists ``GPU_EXEC_SIM_GPUS`` simulated ones); ``n_workers`` defaults to their number, and asking
  for more workers than GPUs fails (``ValueError: Can not scale beyond visible devices``) as
  ``new_worker_spec`` does; ``processes=False`` is refused;
- each worker is named after its GPU and started with ``CUDA_VISIBLE_DEVICES`` rotated so that its
  own GPU comes first (dask-cuda's ``cuda_visible_devices(i, visible)``: worker 1 of "0,1" gets
  "1,0"), so every worker sees all GPUs and uses the first;
- ``threads_per_worker`` defaults to 1 (one CUDA context per worker);
- only the keyword arguments dask-cuda 26.10 itself defines are accepted besides the
  ``LocalCluster`` ones gpu-exec passes; any other raises ``TypeError`` (dask-cuda forwards unknown
  ones to ``LocalCluster``, whose workers reject them). Of dask-cuda's own arguments, the ones whose
  behaviour is not modelled (spilling, RMM pools, UCX, CPU affinity) are accepted only at their
  defaults: a caller that relies on them fails here rather than silently running without them.

What it does not model: device-memory spilling of Dask's own data (``device_memory_limit``), RMM
setup plugins (gpu-exec sets RMM up itself, gpu_exec/cudf/memory.py), UCX and CPU affinity.
"""

from __future__ import annotations

import copy
import os
import subprocess
from typing import Any

from distributed import LocalCluster

__version__ = "26.10.0+simulated"
__all__ = ["LocalCUDACluster", "cuda_visible_devices"]

# dask-cuda 26.10's own LocalCUDACluster parameters, with their defaults; the stand-in accepts each
# only at this default (the behaviour behind other values is not modelled).
_UNMODELLED_DEFAULTS: dict[str, Any] = {
    "memory_limit": "auto", "device_memory_limit": "default", "enable_cudf_spill": False,
    "cudf_spill_stats": 0, "local_directory": None, "shared_filesystem": None, "protocol": None,
    "enable_tcp_over_ucx": None, "enable_infiniband": None, "enable_nvlink": None,
    "enable_rdmacm": None, "rmm_pool_size": None, "rmm_maximum_pool_size": None,
    "rmm_managed_memory": False, "rmm_async": False, "rmm_allocator_external_lib_list": None,
    "rmm_release_threshold": None, "rmm_log_directory": None, "rmm_track_allocations": False,
    "jit_unspill": None, "log_spilling": False, "worker_class": None, "pre_import": None,
}
# The LocalCluster arguments the stand-in forwards (the ones gpu-exec passes, and a few harmless ones).
_FORWARDED = frozenset({"dashboard_address", "silence_logs", "processes", "host", "ip", "scheduler_port",
                        "asynchronous", "name", "interface", "security", "scheduler_kwargs"})


def _visible_gpus() -> list[str]:
    """dask-cuda's default device list: ``CUDA_VISIBLE_DEVICES``, else all GPUs (pynvml there,
    ``nvidia-smi -L`` here)."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [v.strip() for v in env.split(",") if v.strip()]
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(x for x in out.splitlines() if x.startswith("GPU "))]


def cuda_visible_devices(i: int, visible: list[str] | None = None) -> str:
    """``CUDA_VISIBLE_DEVICES`` of worker ``i``: the devices rotated so that the i-th comes first."""
    devices = list(visible) if visible is not None else _visible_gpus()
    return ",".join(map(str, devices[i:] + devices[:i]))


class LocalCUDACluster(LocalCluster):  # type: ignore[misc]
    """One Dask worker process per (simulated) GPU; see the module docstring."""

    def __init__(self, CUDA_VISIBLE_DEVICES: str | list[Any] | None = None,  # noqa: N803 — dask-cuda's name
                 n_workers: int | None = None, threads_per_worker: int = 1, **kwargs: Any) -> None:
        for key, value in list(kwargs.items()):
            if key in _UNMODELLED_DEFAULTS:
                if value != _UNMODELLED_DEFAULTS[key]:
                    raise TypeError(f"the dask-cuda stand-in (tests/gpu_sim) does not model "
                                    f"LocalCUDACluster({key}={value!r})")
                del kwargs[key]
            elif key not in _FORWARDED:
                raise TypeError(f"LocalCUDACluster got an unexpected keyword argument {key!r}")
        if "processes" in kwargs and not kwargs.pop("processes"):
            raise ValueError("Processes are necessary in order to use multiple GPUs with Dask")
        if CUDA_VISIBLE_DEVICES is None:
            devices = _visible_gpus()
        elif isinstance(CUDA_VISIBLE_DEVICES, str):
            devices = [v.strip() for v in CUDA_VISIBLE_DEVICES.split(",") if v.strip()]
        else:
            devices = [str(v) for v in CUDA_VISIBLE_DEVICES]
        if n_workers is None:
            n_workers = len(devices)
        if n_workers < 1:
            raise ValueError("Number of workers cannot be less than 1.")
        # Names as dask-cuda parses them: device ordinals as ints, UUIDs ("GPU-…") as strings.
        self.cuda_visible_devices: list[Any] = [int(d) if d.isdigit() else d for d in devices]
        super().__init__(n_workers=0, threads_per_worker=threads_per_worker, processes=True, **kwargs)
        self.scale(n_workers)
        self.sync(self._correct_state)

    def new_worker_spec(self) -> dict[Any, Any]:
        free = [d for d in self.cuda_visible_devices if d not in self.worker_spec]
        if not free:
            raise ValueError("Can not scale beyond visible devices", self.cuda_visible_devices)
        name = free[0]
        spec = copy.deepcopy(self.new_spec)
        index = self.cuda_visible_devices.index(name)
        options = spec["options"]
        options["env"] = {**options.get("env", {}),
                          "CUDA_VISIBLE_DEVICES": cuda_visible_devices(index, self.cuda_visible_devices)}
        return {name: spec}
