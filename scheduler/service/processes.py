"""The processes of a gpu-exec cluster, as ``gpu-exec scheduler`` and ``gpu-exec executor`` run them.

The scheduler is a Dask scheduler that also serves the query endpoint (Flight SQL, port 50050) and
the control API (gRPC jobs + health, port 50051) over one session on its own cluster; an executor
is a Dask worker (under a nanny, which restarts it if it dies) with gpu-exec's shuffle service — one per GPU on a GPU node, each seeing
its own GPU, and one with all the cores on a CPU node. Both run until interrupted.
"""

from __future__ import annotations

import asyncio
import queue
import signal
import sys
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from planner.errors import GpuExecError

if TYPE_CHECKING:

    from scheduler.service.auth import AuthConfig
    from scheduler.service.flight_sql import ServiceLimits

__all__ = ["ServiceOptions", "run_scheduler", "run_executor", "executor_environments"]


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
    # Collect the cancelled tasks' outcomes, so asyncio has no "exception never retrieved" to report.
    await asyncio.gather(done, stopped, return_exceptions=True)


def _cluster_error(message: str) -> GpuExecError:
    from scheduler.errors import ClusterError  # lazily: it imports the shuffle layer (distributed)

    return ClusterError(message)


@dataclass(frozen=True)
class ServiceOptions:
    """What ``gpu-exec scheduler`` serves besides the Dask scheduler: the Flight SQL query endpoint
    on ``flight_port`` and the gRPC control API on ``control_port`` (0: not served), who may use
    them (``auth``), TLS, the engine settings of the service's session and its limits."""

    flight_port: int = 50050
    control_port: int = 50051
    auth: AuthConfig | None = None
    tls: tuple[bytes, bytes] | None = None
    session: dict[str, Any] = field(default_factory=dict)  # connect() keywords: device, partitions, ...
    limits: ServiceLimits | None = None  # None: the defaults of scheduler.service.flight_sql.ServiceLimits


def run_scheduler(host: str | None, port: int, service: ServiceOptions | None = None) -> int:
    """Serve a Dask scheduler on ``host:port`` and, unless ``service.flight_port`` is 0, the query
    endpoint and the control API over one session on that scheduler's cluster, until SIGINT or
    SIGTERM."""
    from distributed import Scheduler

    service = service or ServiceOptions()
    started: queue.Queue[str | BaseException] = queue.Queue()
    stop = threading.Event()

    async def serve_dask() -> None:
        try:
            scheduler = Scheduler(host=host, port=port, dashboard_address=None)
            await scheduler
        except BaseException as exc:  # noqa: BLE001 — reported to the main thread
            started.put(exc)
            return
        async with scheduler:
            started.put(scheduler.address)
            while not stop.is_set():
                await asyncio.sleep(0.1)

    # The Dask scheduler runs on its own event loop thread; the Flight and gRPC servers run their
    # own threads; the main thread waits for a signal.
    dask_thread = threading.Thread(target=asyncio.run, args=(serve_dask(),), name="gpu-exec-dask-scheduler")
    dask_thread.start()
    first = started.get()
    if isinstance(first, BaseException):
        dask_thread.join()
        raise _cluster_error(f"cannot start the Dask scheduler on port {port}: {first}") from first
    address = first
    print(f"gpu-exec scheduler listening at {address}", file=sys.stderr, flush=True)
    servers: list[Any] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        if service.flight_port:
            servers = _start_query_service(address, host or "0.0.0.0", service)
        stop.wait()
    finally:
        for server in reversed(servers):
            server.stop()
        stop.set()
        dask_thread.join()
    return 0


def _start_query_service(dask_address: str, host: str, service: ServiceOptions) -> list[Any]:
    """The session on the cluster, the Flight SQL endpoint and the control API; returned as objects
    with ``stop()``, in start order."""
    from gpu_exec.engine.config import Config
    from gpu_exec.api.session import Session
    from scheduler.cluster import ClusterConnection
    from scheduler.service.control import start_control_server
    from scheduler.service.flight_sql import FlightSqlServer, ServiceLimits
    from scheduler.service.registry import QueryRegistry

    config = Config.build(cluster=dask_address, progress="off", **service.session)
    session = Session(config, cluster=ClusterConnection.open(config, wait_for_workers=False))
    started: list[Any] = [_Stopper(session.close)]
    try:
        registry = QueryRegistry()
        scheme = "grpc+tls" if service.tls else "grpc"
        location = f"{scheme}://{host}:{service.flight_port}"
        try:
            flight = FlightSqlServer(session, location, registry=registry, auth=service.auth, tls=service.tls,
                                     limits=service.limits or ServiceLimits())
        except Exception as exc:  # noqa: BLE001 — pyarrow says only "Server did not start properly"
            raise _cluster_error(f"cannot serve the query endpoint at {location} ({exc}): is the port taken? "
                                 "Choose another with --flight-port") from None
        started.append(_Stopper(flight.shutdown))
        print(f"gpu-exec query endpoint (Flight SQL) at {scheme}://{host}:{flight.port}", file=sys.stderr, flush=True)
        if service.control_port:
            control = start_control_server(registry, f"{host}:{service.control_port}", auth=service.auth,
                                           tls=service.tls)
            started.append(control)
            print(f"gpu-exec control API (gRPC jobs + health) at {host}:{control.port}", file=sys.stderr, flush=True)
        if service.auth is not None and service.auth.enabled:
            print("gpu-exec: authentication is on for both endpoints (health checks excepted)", file=sys.stderr, flush=True)
    except BaseException:
        for server in reversed(started):
            server.stop()
        raise
    return started


@dataclass
class _Stopper:
    stop_fn: Callable[[], None]

    def stop(self) -> None:
        try:
            self.stop_fn()
        except Exception:  # noqa: BLE001 — shutting down: stop the rest regardless
            pass


def executor_environments(device: str, gpus: int) -> list[dict[str, str]]:
    """The environment of each worker process an executor starts: one per GPU (each seeing only
    its own), or a single CPU worker."""
    if device == "cpu" or gpus == 0:
        if device == "gpu":
            raise _cluster_error("--device gpu was asked for, but this machine has no usable GPU")
        return [{}]
    return [{"CUDA_VISIBLE_DEVICES": str(i)} for i in range(gpus)]


def run_executor(scheduler_address: str, *, protocol: str, device: str, nthreads: int | None,
                 memory_limit: str, shuffle_memory_limit: int | None = None,
                 fetch_timeout: float | None = None, shuffle_device_memory_limit: int | None = None) -> int:
    """Run the worker processes of one node, connected to ``scheduler_address``, until interrupted
    (shuffle settings left None take the shuffle service's defaults)."""
    from distributed import Nanny

    from gpu_exec.engine.device import visible_gpu_count
    from gpu_exec.executor.shuffle_service import (
        DEFAULT_DEVICE_MEMORY_LIMIT,
        DEFAULT_FETCH_TIMEOUT,
        DEFAULT_SHUFFLE_MEMORY_LIMIT,
        ShuffleService,
    )

    if protocol == "ucx":
        try:
            import distributed_ucxx  # noqa: F401 — registers the ucx:// comm backend
        except ImportError:
            raise _cluster_error("--protocol ucx needs distributed-ucxx (pip install 'gpu-exec[gpu]')") from None
    environments = executor_environments(device, visible_gpu_count())
    service = ShuffleService(shuffle_memory_limit or DEFAULT_SHUFFLE_MEMORY_LIMIT,
                             fetch_timeout or DEFAULT_FETCH_TIMEOUT,
                             shuffle_device_memory_limit or DEFAULT_DEVICE_MEMORY_LIMIT)
    options: dict[str, Any] = {"protocol": protocol, "memory_limit": memory_limit, "plugins": {service}}
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
