"""The processes of a gpu-exec cluster, as ``gpu-exec scheduler`` and ``gpu-exec executor`` run them.

The scheduler is a Dask scheduler that also serves the query endpoint (Flight SQL, port 50050) and
the control API (gRPC jobs + health, port 50051) over one session on its own cluster; an executor
is a Dask worker (under a nanny, which restarts it if it dies) with gpu-exec's shuffle service — one per GPU on a GPU node, each seeing
its own GPU, and one with all the cores on a CPU node. Both run until interrupted.

Closed by default: an executor listens only on ``--host`` (default: the address this machine uses
to reach the scheduler, 127.0.0.1 for a local one), its workers serve no dashboard unless asked
(their HTTP port answers only ``/health``), and with ``--tls-ca/--tls-cert/--tls-key`` every Dask
connection — scheduler, executors, the service's own client — is mutual TLS: a peer without a
certificate signed by that CA cannot connect, let alone submit tasks. An executor's memory limit
defaults to its share of the node: the cgroup's (or the machine's) memory divided among the
gpu-exec executor workers running there (re-divided as executors start and stop).
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import signal
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from planner.errors import GpuExecError

if TYPE_CHECKING:

    from scheduler.service.auth import AuthConfig
    from scheduler.service.flight_sql import ServiceLimits

__all__ = ["ServiceOptions", "DaskTLS", "NodeExecutors", "run_scheduler", "run_executor",
           "executor_environments", "default_executor_host", "DEFAULT_EXECUTOR_TIMEOUT"]

DEFAULT_EXECUTOR_TIMEOUT = 60.0  # scheduler.runner's default, without importing Dask here
REBALANCE_SECONDS = 5.0  # how often an executor re-divides the node's memory


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
class DaskTLS:
    """The PEM files of Dask's mutual TLS: the CA that signs every party's certificate, and this
    process's certificate and key."""

    ca_file: str
    cert_file: str
    key_file: str

    def security(self, role: str) -> Any:
        from scheduler.protocol.tls import dask_security

        return dask_security(role, self.ca_file, self.cert_file, self.key_file)


@dataclass(frozen=True)
class ServiceOptions:
    """What ``gpu-exec scheduler`` serves besides the Dask scheduler: the Flight SQL query endpoint
    on ``flight_port`` and the gRPC control API on ``control_port`` (0: not served), who may use
    them (``auth``), TLS, the engine settings of the service's session and its limits;
    ``executor_timeout``: seconds a query waits while no executor is connected; ``dask_tls``:
    mutual TLS on the Dask port."""

    flight_port: int = 50050
    control_port: int = 50051
    auth: AuthConfig | None = None
    tls: tuple[bytes, bytes] | None = None
    session: dict[str, Any] = field(default_factory=dict)  # connect() keywords: device, partitions, ...
    limits: ServiceLimits | None = None  # None: the defaults of scheduler.service.flight_sql.ServiceLimits
    executor_timeout: float = DEFAULT_EXECUTOR_TIMEOUT
    dask_tls: DaskTLS | None = None
    # The Dask dashboard's HTTP port (status pages, /metrics with the gpu_exec_* metrics,
    # /health), on the scheduler's host; None: 8787, or a free port when it is taken.
    dashboard_port: int | None = None


def _log_service_to_stderr() -> None:
    """The service's own lines (one per finished query) on stderr beside Dask's, unless the
    embedding program configured the logger already."""
    service_log = logging.getLogger("scheduler.service")
    if not service_log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s - gpu-exec.service - %(levelname)s - %(message)s"))
        service_log.addHandler(handler)
        service_log.setLevel(logging.INFO)


def run_scheduler(host: str | None, port: int, service: ServiceOptions | None = None) -> int:
    """Serve a Dask scheduler on ``host:port`` and, unless ``service.flight_port`` is 0, the query
    endpoint and the control API over one session on that scheduler's cluster, until SIGINT or
    SIGTERM."""
    import dask.config
    from distributed import Scheduler

    from scheduler.cluster import SCHEDULER_CONFIG

    service = service or ServiceOptions()
    _log_service_to_stderr()
    started: queue.Queue[Any] = queue.Queue()
    stop = threading.Event()
    security = service.dask_tls.security("scheduler") if service.dask_tls else None

    async def serve_dask() -> None:
        try:
            with dask.config.set(SCHEDULER_CONFIG):
                dashboard = f"{host or ''}:{service.dashboard_port}" if service.dashboard_port else None
                scheduler = Scheduler(host=host, port=port, dashboard_address=dashboard, security=security,
                                      protocol="tls" if security is not None else None)
            await scheduler
        except BaseException as exc:  # noqa: BLE001 — reported to the main thread
            started.put(exc)
            return
        async with scheduler:
            started.put(scheduler)
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
    scheduler = first
    address = scheduler.address
    secured = " (mutual TLS)" if security is not None else ""
    print(f"gpu-exec scheduler listening at {address}{secured}", file=sys.stderr, flush=True)
    http = scheduler.http_server.port if getattr(scheduler, "http_server", None) is not None else None
    if http:
        print(f"gpu-exec dashboard (Dask status pages, /metrics) on port {http}", file=sys.stderr, flush=True)
    if service.tls is not None and security is None:
        print("gpu-exec: warning: the Dask port is not secured: anyone who reaches it can run code on the "
              "executors; give --tls-ca (with --tls-cert/--tls-key) for mutual TLS", file=sys.stderr, flush=True)
    servers: list[Any] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        if service.flight_port:
            from scheduler.service.metrics import watch_executors

            # Read from other threads: the length of a dict the scheduler's loop updates.
            def executors() -> int:
                return len(scheduler.workers)

            servers = _start_query_service(address, host or "0.0.0.0", service, executors=executors)
            watch_executors(executors)
        stop.wait()
    finally:
        for server in reversed(servers):
            server.stop()
        stop.set()
        dask_thread.join()
    return 0


def _start_query_service(dask_address: str, host: str, service: ServiceOptions,
                         executors: Callable[[], int] | None = None) -> list[Any]:
    """The session on the cluster, the Flight SQL endpoint and the control API; returned as objects
    with ``stop()``, in start order. ``executors`` counts the workers connected now."""
    from gpu_exec.engine.config import Config
    from gpu_exec.api.session import Session
    from scheduler.cluster import ClusterConnection
    from scheduler.service.control import start_control_server
    from scheduler.service.flight_sql import FlightSqlServer, ServiceLimits
    from scheduler.service.registry import QueryRegistry

    config = Config.build(cluster=dask_address, progress="off", **service.session)
    security = service.dask_tls.security("client") if service.dask_tls else None
    connection = ClusterConnection.open(config, wait_for_workers=False, security=security)
    connection.executor_timeout = service.executor_timeout
    if executors is None:
        executors = connection.executor_count
    session = Session(config, cluster=connection)
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
                                           tls=service.tls, executors=executors)
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


def default_executor_host(scheduler_address: str) -> str:
    """The address an executor listens on by default: the one this machine uses to reach the
    scheduler (127.0.0.1 for a scheduler on this machine's loopback), never all interfaces."""
    from distributed.comm.addressing import get_address_host
    from distributed.utils import get_ip

    try:
        return str(get_ip(get_address_host(scheduler_address)))
    except (OSError, ValueError):
        return "127.0.0.1"


def _is_executor(pid: int) -> bool:
    import psutil

    try:
        return "executor" in psutil.Process(pid).cmdline()
    except (psutil.Error, OSError):
        return False


class NodeExecutors:
    """The gpu-exec executors running on this node, for dividing its memory among their workers.

    Each executor leaves a file named by its pid, holding its worker count, in a directory under
    the temporary directory (one per user); entries of processes that are gone are removed."""

    def __init__(self, workers: int, directory: Path | None = None) -> None:
        self.directory = directory or Path(tempfile.gettempdir()) / f"gpu-exec-executors-{os.getuid()}"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / str(os.getpid())
        self.path.write_text(str(workers))

    def workers_on_node(self) -> int:
        """The workers of every gpu-exec executor alive on this node, this one's included."""
        total = 0
        for entry in self.directory.iterdir():
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            if pid != os.getpid() and not _is_executor(pid):
                entry.unlink(missing_ok=True)  # gone (or its pid now another program's)
                continue
            try:
                total += max(1, int(entry.read_text().strip() or 1))
            except (OSError, ValueError):
                continue
        return max(1, total)

    def share(self) -> int:
        """Each worker's share of the node's memory: the cgroup's limit, else the machine's
        memory (Dask's reading of both), divided by ``workers_on_node()``."""
        from distributed.system import MEMORY_LIMIT

        return int(MEMORY_LIMIT // self.workers_on_node())

    def close(self) -> None:
        self.path.unlink(missing_ok=True)


def run_executor(scheduler_address: str, *, protocol: str, device: str, nthreads: int | None,
                 memory_limit: str, shuffle_memory_limit: int | None = None,
                 fetch_timeout: float | None = None, shuffle_device_memory_limit: int | None = None,
                 host: str | None = None, dashboard: bool = False, tls: DaskTLS | None = None) -> int:
    """Run the worker processes of one node, connected to ``scheduler_address``, until interrupted
    (shuffle settings left None take the shuffle service's defaults).

    ``host``: the address every listener binds (default ``default_executor_host``); ``dashboard``:
    serve each worker's Dask dashboard routes (default: only ``/health``); ``tls``: mutual TLS
    with the scheduler and the other executors; ``memory_limit`` "auto": this node's memory
    divided among the executors' workers running on it (``NodeExecutors``), kept up to date."""
    from distributed import Nanny

    from gpu_exec.engine.device import visible_gpu_count
    from gpu_exec.engine.memory import default_memory_limit
    from gpu_exec.executor.shuffle_service import (
        DEFAULT_DEVICE_MEMORY_LIMIT,
        DEFAULT_FETCH_TIMEOUT,
        DEFAULT_SHUFFLE_MEMORY_LIMIT,
        MEMORY_LIMIT_HANDLER,
        ShuffleService,
    )

    if protocol == "ucx":
        try:
            import distributed_ucxx  # noqa: F401 — registers the ucx:// comm backend
        except ImportError:
            raise _cluster_error("--protocol ucx needs distributed-ucxx (pip install 'gpu-exec[gpu]')") from None
    scheme = scheduler_address.partition("://")[0] if "://" in scheduler_address else "tcp"
    if tls is None and scheme == "tls":
        raise _cluster_error(f"the scheduler at {scheduler_address} speaks TLS: give --tls-ca, --tls-cert and "
                             "--tls-key (a certificate signed by the cluster's CA)")
    if tls is not None and protocol == "ucx":
        raise _cluster_error("--tls-* secures tcp connections; UCX has no TLS: use --protocol tcp")
    security = tls.security("worker") if tls is not None else None
    environments = executor_environments(device, visible_gpu_count())
    # The operators' memory limit of each worker: ``--memory-limit`` itself (the worker's Dask
    # limit, read when the service starts on it), or by default this node's memory less a
    # reserve, divided among its workers (gpu_exec.engine.memory.default_memory_limit).
    pool_limit = default_memory_limit(len(environments)) if str(memory_limit) == "auto" else None
    service = ShuffleService(shuffle_memory_limit or DEFAULT_SHUFFLE_MEMORY_LIMIT,
                             fetch_timeout or DEFAULT_FETCH_TIMEOUT,
                             shuffle_device_memory_limit or DEFAULT_DEVICE_MEMORY_LIMIT,
                             memory_pool_limit=pool_limit)
    host = host or default_executor_host(scheduler_address)
    node = NodeExecutors(len(environments))
    automatic = memory_limit == "auto"
    # The workers' HTTP servers (Dask always starts one, on ``host``) answer only /health unless
    # the dashboard is asked for.
    routes = None if dashboard else ["distributed.http.health"]
    options: dict[str, Any] = {
        "protocol": "tls" if security is not None else protocol,
        "memory_limit": node.share() if automatic else memory_limit,
        "plugins": {service}, "host": host, "security": security, "dashboard": dashboard,
        "config": {} if routes is None else {"distributed.worker.http.routes": routes},
    }
    if nthreads:
        options["nthreads"] = nthreads
    elif environments != [{}]:
        options["nthreads"] = 1  # one GPU, one stream of work: tasks queue on the device anyway

    async def rebalance(nannies: list[Any]) -> None:
        """Re-divide the node's memory as executors start and stop: the nanny's limit (the one
        it restarts a worker over) and the worker's own."""
        while True:
            await asyncio.sleep(REBALANCE_SECONDS)
            share = node.share()
            for nanny in nannies:
                if nanny.memory_manager.memory_limit == share or nanny.worker_address is None:
                    continue
                nanny.memory_manager.memory_limit = share
                try:
                    await getattr(nanny.rpc(nanny.worker_address), MEMORY_LIMIT_HANDLER)(limit=share)
                except Exception:  # noqa: BLE001 — a worker restarting gets the new limit anyway
                    pass

    async def serve() -> None:
        nannies = [Nanny(scheduler_address, env=env, **options) for env in environments]
        await asyncio.gather(*nannies)
        for nanny in nannies:
            from dask.utils import format_bytes

            limit = nanny.memory_manager.memory_limit
            print(f"gpu-exec executor {nanny.worker_address} -> {scheduler_address} (memory limit "
                  f"{format_bytes(limit) if limit else 'none'}{', auto' if automatic else ''})",
                  file=sys.stderr, flush=True)
        balancing = asyncio.ensure_future(rebalance(nannies)) if automatic else None
        try:
            await _until_stopped(asyncio.gather(*(nanny.finished() for nanny in nannies)))
        finally:
            if balancing is not None:
                balancing.cancel()
            await asyncio.gather(*(nanny.close() for nanny in nannies), return_exceptions=True)

    try:
        asyncio.run(serve())
    finally:
        node.close()
    return 0
