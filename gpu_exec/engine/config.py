"""Session configuration, built once from keyword arguments over environment variables."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

from gpu_exec.engine.memory import default_memory_limit, parse_bytes
from planner.errors import GpuExecError

__all__ = ["Config", "ENV_PREFIX", "MEMORY_LIMIT_ENV"]

ENV_PREFIX = "GPU_EXEC__"
MEMORY_LIMIT_ENV = "GPU_EXEC_MEMORY_LIMIT"  # also read as GPU_EXEC__MEMORY_LIMIT, like every setting


def default_warehouse() -> str:
    """``gpu-exec/warehouse`` in the user's data directory (the XDG base directory rule)."""
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(data_home, "gpu-exec", "warehouse")


@dataclass(frozen=True, slots=True)
class Config:
    """``device``: "auto" | "cpu" | "gpu". ``partitions``: parallel partitions per stage (default:
    the number of CPU cores). ``fallback``: what happens when an operator must leave the GPU:
    "warn" | "raise" | "silent". ``broadcast_rows``: a join side estimated at most this many rows is
    broadcast to every partition of the other side instead of both being repartitioned (0: never).

    Distributed execution (see ``gpu_exec.connect``): ``workers``: start an embedded Dask cluster of
    that many worker processes (0: run in process); ``cluster``: the address of an existing Dask
    scheduler; ``worker_threads``: threads per embedded worker (0: Dask's default);
    ``progress``: "auto" | "on" | "off", the progress bar of long queries;
    ``shuffle_memory_limit``: bytes of map output a worker keeps in memory before spilling to disk;
    ``shuffle_device_memory_limit``: bytes of map output a GPU worker keeps on the device before
    spilling to host memory;
    ``fetch_timeout``: seconds to keep trying to reach a worker before its data counts as lost.

    GPU memory (gpu_exec.cudf.memory): ``gpu_memory``: the RMM resource, "async" | "pool" | "none";
    ``gpu_pool_size``: its initial size, e.g. "10GiB" (default: RMM's choice).

    Memory (gpu_exec.engine.memory): ``memory_limit``: the bytes the operators of this process's
    queries may hold at once (their pipeline breakers' batches), an int or a size such as "2GB";
    a query that needs more fails with ResourceError (environment: GPU_EXEC_MEMORY_LIMIT or
    GPU_EXEC__MEMORY_LIMIT). Default (0): the machine's or the cgroup's
    memory less a reserve (see ``default_memory_limit``), resolved when the configuration is built.
    On a cluster each executor has its own (``gpu-exec executor --memory-limit``).
    ``batch_rows``: the most rows per batch a scan yields (0: the kernels' default, e.g.
    131,072 on the CPU and 4,194,304 on the GPU). ``spill_dir``: where operators over their
    share of ``memory_limit`` write what they hold (a directory per query, removed when it ends;
    default: the system's temporary directory).

    ``recursion_limit``: the most rounds a ``WITH RECURSIVE`` query may run before it fails with
    ResourceError naming the CTE (DataFusion has no bound: a recursion that never ends would run
    forever); 0: no bound.

    ``warehouse``: the directory where ``CREATE TABLE ... AS SELECT`` writes its tables
    (``<warehouse>/<name>/``; default: ``gpu-exec/warehouse`` in the user's data directory,
    ``$XDG_DATA_HOME`` or ``~/.local/share``, never the current directory), made absolute when the
    configuration is built; on a cluster, the workers must see it at the same path."""

    device: str = "auto"
    partitions: int = 0
    fallback: str = "warn"
    broadcast_rows: int = 500_000
    workers: int = 0
    cluster: str = ""
    worker_threads: int = 0
    progress: str = "auto"
    shuffle_memory_limit: int = 2 * 1024**3
    shuffle_device_memory_limit: int = 1024**3
    fetch_timeout: float = 10.0
    gpu_memory: str = "async"
    gpu_pool_size: str = ""
    warehouse: str = ""
    memory_limit: int | str = 0
    batch_rows: int = 0
    spill_dir: str = ""
    recursion_limit: int = 10_000

    @classmethod
    def build(cls, **overrides: Any) -> Config:
        """Defaults < ``GPU_EXEC__<KEY>`` environment variables < keyword arguments (None = unset).
        Unknown keys are rejected, so a typo does not silently keep a default."""
        names = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for key, raw in os.environ.items():
            if key.startswith(ENV_PREFIX):
                name = key[len(ENV_PREFIX):].lower()
                if name not in names:
                    raise GpuExecError(f"unknown setting {key} (known: {', '.join(ENV_PREFIX + n.upper() for n in names)})")
                kind = names[name].type
                try:
                    values[name] = int(raw) if kind == "int" else float(raw) if kind == "float" else raw
                except ValueError:
                    raise GpuExecError(f"{key}={raw!r} is not a {kind}") from None
        # The memory limit's own name, as documented for deployments (the prefixed one wins).
        if MEMORY_LIMIT_ENV in os.environ and "memory_limit" not in values:
            values["memory_limit"] = os.environ[MEMORY_LIMIT_ENV]
        for key, value in overrides.items():
            if key not in names:
                raise GpuExecError(f"unknown option {key!r} (known: {', '.join(names)})")
            if value is not None:
                values[key] = value
        config = cls(**values)
        return config._validated()

    def _validated(self) -> Config:
        if self.fallback not in ("warn", "raise", "silent"):
            raise GpuExecError(f"fallback must be 'warn', 'raise' or 'silent', not {self.fallback!r}")
        if self.gpu_memory not in ("async", "pool", "none"):
            raise GpuExecError(f"gpu_memory must be 'async', 'pool' or 'none', not {self.gpu_memory!r}")
        if not isinstance(self.broadcast_rows, int) or self.broadcast_rows < 0:
            raise GpuExecError(f"broadcast_rows must be a non-negative integer, not {self.broadcast_rows!r}")
        if not isinstance(self.partitions, int) or self.partitions < 0:
            raise GpuExecError(f"partitions must be a positive integer, not {self.partitions!r}")
        for name in ("workers", "worker_threads", "shuffle_memory_limit", "shuffle_device_memory_limit", "batch_rows",
                     "recursion_limit"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise GpuExecError(f"{name} must be a non-negative integer, not {value!r}")
        if self.workers and self.cluster:
            raise GpuExecError("give workers= (start an embedded cluster) or cluster= (use an existing one), not both")
        if self.progress not in ("auto", "on", "off"):
            raise GpuExecError(f"progress must be 'auto', 'on' or 'off', not {self.progress!r}")
        if not isinstance(self.fetch_timeout, (int, float)) or self.fetch_timeout <= 0:
            raise GpuExecError(f"fetch_timeout must be a positive number of seconds, not {self.fetch_timeout!r}")
        if not isinstance(self.warehouse, (str, os.PathLike)):
            raise GpuExecError(f"warehouse must be a directory path, not {self.warehouse!r}")
        # Absolute now: workers (and a later chdir) must not resolve it against another directory.
        warehouse = os.path.abspath(os.path.expanduser(os.fspath(self.warehouse) or default_warehouse()))
        partitions = self.partitions or max(1, os.cpu_count() or 1)
        memory_limit = parse_bytes(self.memory_limit)
        if memory_limit < 0:
            raise GpuExecError(f"memory_limit must be a positive size, not {self.memory_limit!r}")
        memory_limit = memory_limit or default_memory_limit()
        if (partitions, warehouse, memory_limit) != (self.partitions, self.warehouse, self.memory_limit):
            return dataclasses.replace(self, partitions=partitions, warehouse=warehouse, memory_limit=memory_limit)
        return self
