"""``gpu-exec scheduler`` and ``gpu-exec executor``: the processes of a gpu-exec cluster.

The scheduler is a plain Dask scheduler; an executor is a Dask worker (under a nanny, which
restarts it if it dies) with gpu-exec's shuffle service — one per GPU on a GPU node, each seeing
its own GPU, and one with all the cores on a CPU node. Both run until interrupted.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any, Awaitable

from gpu_exec.device import visible_gpu_count
from gpu_exec.shuffle_service import (
    DEFAULT_DEVICE_MEMORY_LIMIT,
    DEFAULT_FETCH_TIMEOUT,
    DEFAULT_SHUFFLE_MEMORY_LIMIT,
    ShuffleService,
)
from scheduler.errors import ClusterError

__all__ = ["run_scheduler", "run_executor", "executor_environments"]


async def _until_stopped(finished: Awaitable[Any]) -> None:
    """Wait for ``finished``, or for SIGINT / SIGTERM (a clean shutdown: the workers' processes
    are closed, not orphaned)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    done = asyncio.ensure_future(finished)
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait([done, stopped], return_when=asyncio.FIRST_COMPLETED)
    for task in (done, stopped):
        task.cancel()


def run_scheduler(host: str | None, port: int) -> int:
    """Serve a Dask scheduler on ``host:port`` until interrupted."""
    from distributed import Scheduler

    async def serve() -> None:
        async with Scheduler(host=host, port=port, dashboard_address=None) as scheduler:
            print(f"gpu-exec scheduler listening at {scheduler.address}", file=sys.stderr, flush=True)
            await _until_stopped(scheduler.finished())

    asyncio.run(serve())
    return 0


def executor_environments(device: str, gpus: int) -> list[dict[str, str]]:
    """The environment of each worker process an executor starts: one per GPU (each seeing only
    its own), or a single CPU worker."""
    if device == "cpu" or gpus == 0:
        if device == "gpu":
            raise ClusterError("--device gpu was asked for, but this machine has no usable GPU")
        return [{}]
    return [{"CUDA_VISIBLE_DEVICES": str(i)} for i in range(gpus)]


def run_executor(scheduler_address: str, *, protocol: str, device: str, nthreads: int | None,
                 memory_limit: str, shuffle_memory_limit: int = DEFAULT_SHUFFLE_MEMORY_LIMIT,
                 fetch_timeout: float = DEFAULT_FETCH_TIMEOUT,
                 shuffle_device_memory_limit: int = DEFAULT_DEVICE_MEMORY_LIMIT) -> int:
    """Run the worker processes of one node, connected to ``scheduler_address``, until interrupted."""
    from distributed import Nanny

    if protocol == "ucx":
        try:
            import distributed_ucxx  # noqa: F401 — registers the ucx:// comm backend
        except ImportError:
            raise ClusterError("--protocol ucx needs distributed-ucxx (pip install 'gpu-exec[gpu]')") from None
    environments = executor_environments(device, visible_gpu_count())
    options: dict[str, Any] = {"protocol": protocol, "memory_limit": memory_limit,
                               "plugins": {ShuffleService(shuffle_memory_limit, fetch_timeout,
                                                          shuffle_device_memory_limit)}}
    if nthreads:
        options["nthreads"] = nthreads
    elif environments != [{}]:
        options["nthreads"] = 1  # one GPU, one stream of work: tasks queue on the device anyway

    async def serve() -> None:
        nannies = [Nanny(scheduler_address, env=env, **options) for env in environments]
        await asyncio.gather(*nannies)
        for nanny in nannies:
            print(f"gpu-exec executor {nanny.worker_address} -> {scheduler_address}", file=sys.stderr, flush=True)
        try:
            await _until_stopped(asyncio.gather(*(nanny.finished() for nanny in nannies)))
        finally:
            await asyncio.gather(*(nanny.close() for nanny in nannies), return_exceptions=True)

    asyncio.run(serve())
    return 0
