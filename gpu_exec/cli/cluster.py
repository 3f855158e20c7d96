"""``gpu-exec scheduler`` and ``gpu-exec executor``: their flags, turned into the processes'
settings (``scheduler.service.processes`` runs them). Imports only the standard library until run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse

__all__ = ["add_scheduler_arguments", "add_executor_arguments", "scheduler_command", "run_executor"]


def add_scheduler_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``gpu-exec scheduler``."""
    parser.add_argument("--host", help="interface or address to listen on (default: all)")
    parser.add_argument("--port", type=int, default=8786, help="the Dask scheduler's port (default 8786)")
    parser.add_argument("--flight-port", type=int, default=50050,
                        help="the query endpoint's port, Arrow Flight SQL (default 50050; 0: don't serve it)")
    parser.add_argument("--dashboard-port", type=int, metavar="PORT",
                        help="the Dask dashboard's port: status pages, /metrics (Prometheus, with the "
                        "gpu_exec_* metrics), /health (default 8787, or a free one when taken)")
    parser.add_argument("--control-port", type=int, default=50051,
                        help="the control API's port, gRPC jobs + health (default 50051; 0: don't serve it)")
    parser.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto",
                        help="the executors' device (auto: the GPU when every executor has one)")
    parser.add_argument("--partitions", type=int, help="partitions per stage (default: the engine's)")
    parser.add_argument("--warehouse", metavar="DIR",
                        help="where CREATE TABLE ... AS SELECT writes tables (a directory every executor sees; "
                        "default ~/.local/share/gpu-exec/warehouse)")
    parser.add_argument("--auth-file", metavar="FILE",
                        help="TOML file of [tokens] (name = token) and [users] (user = password); "
                        "also read: GPU_EXEC_AUTH_TOKENS, GPU_EXEC_AUTH_USERS, GPU_EXEC_AUTH_FILE. "
                        "Without any, no authentication")
    parser.add_argument("--tls-cert", metavar="FILE", help="PEM certificate chain: serve both endpoints over TLS")
    parser.add_argument("--tls-key", metavar="FILE", help="PEM private key of --tls-cert")
    parser.add_argument("--tls-ca", metavar="FILE",
                        help="PEM certificate of the CA that signed the scheduler's (--tls-cert), the executors' "
                        "and the Dask clients' certificates: the Dask port becomes tls:// with mutual TLS, "
                        "so only holders of such a certificate can connect or submit tasks")
    parser.add_argument("--executor-timeout", type=float, default=60.0, metavar="SECONDS",
                        help="fail a query that has had no executor to run on for this long (default 60)")
    parser.add_argument("--query-timeout", type=float, default=3600.0, metavar="SECONDS",
                        help="cancel statements running longer (default 3600; 0: no limit)")
    parser.add_argument("--max-result-bytes", type=int, default=4 * 1024**3, metavar="BYTES",
                        help="refuse results bigger than this (default 4 GiB): write them with COPY instead")
    parser.add_argument("--max-concurrent-queries", type=int, default=16, metavar="N",
                        help="statements run at once; more wait (default 16)")


def scheduler_command(args: argparse.Namespace) -> int:
    """``gpu-exec scheduler``: build the service options from the flags, serve until interrupted."""
    import os

    from scheduler.errors import ClusterError  # lazily: it imports the shuffle layer (distributed)
    from scheduler.protocol.tls import load_server_tls
    from scheduler.service.auth import AuthConfig
    from scheduler.service.flight_sql import ServiceLimits
    from scheduler.service.processes import ServiceOptions, run_scheduler

    from scheduler.service.processes import DaskTLS

    if bool(args.tls_cert) != bool(args.tls_key):
        raise ClusterError("give both --tls-cert and --tls-key, or neither")
    if args.tls_ca and not args.tls_cert:
        raise ClusterError("--tls-ca secures the Dask port with the scheduler's --tls-cert and --tls-key: give them too")
    if args.executor_timeout <= 0:
        raise ClusterError("--executor-timeout must be a positive number of seconds")
    session: dict[str, Any] = {"device": args.device}
    if args.partitions is not None:
        session["partitions"] = args.partitions
    if args.warehouse:
        session["warehouse"] = args.warehouse
    service = ServiceOptions(
        flight_port=args.flight_port,
        control_port=args.control_port,
        auth=AuthConfig.from_options(file=args.auth_file, environ=os.environ),
        tls=load_server_tls(args.tls_cert, args.tls_key) if args.tls_cert else None,
        session=session,
        limits=ServiceLimits(query_timeout=args.query_timeout, max_result_bytes=args.max_result_bytes,
                             max_concurrent_queries=args.max_concurrent_queries),
        executor_timeout=args.executor_timeout,
        dask_tls=DaskTLS(args.tls_ca, args.tls_cert, args.tls_key) if args.tls_ca else None,
        dashboard_port=args.dashboard_port,
    )
    return run_scheduler(args.host, args.port, service)


def add_executor_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``gpu-exec executor``."""
    parser.add_argument("--scheduler", required=True, metavar="ADDRESS",
                        help="the scheduler's address, e.g. tcp://host:8786 (tls://host:8786 with --tls-*)")
    parser.add_argument("--host", metavar="ADDRESS",
                        help="the address to listen on (default: the one this machine reaches the scheduler "
                        "from; 127.0.0.1 for a scheduler on this machine)")
    parser.add_argument("--protocol", choices=("tcp", "ucx"), default="tcp",
                        help="transport between executors (ucx: GPU clusters, needs distributed-ucxx)")
    parser.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto",
                        help="auto: one executor per GPU when there are GPUs, else one on the CPU")
    parser.add_argument("--nthreads", type=int, help="threads per executor (default: all cores; 1 per GPU)")
    parser.add_argument("--memory-limit", default="auto",
                        help="memory limit per executor, e.g. 8GB (default auto: the node's memory, or its "
                        "cgroup's, divided among the executors running on it); its nanny restarts an "
                        "executor that goes over 95%% of it")
    parser.add_argument("--shuffle-memory-limit", type=int, metavar="BYTES",
                        help="shuffle data kept in memory before spilling to disk (default 2 GiB)")
    parser.add_argument("--shuffle-device-memory-limit", type=int, metavar="BYTES",
                        help="shuffle data kept on the GPU before spilling to memory (default 1 GiB)")
    parser.add_argument("--dashboard", action="store_true",
                        help="serve each worker's Dask dashboard routes on --host (default: only /health)")
    parser.add_argument("--tls-ca", metavar="FILE", help="PEM certificate of the cluster's CA (mutual TLS with "
                        "the scheduler and the other executors; with --tls-cert and --tls-key)")
    parser.add_argument("--tls-cert", metavar="FILE", help="this executor's PEM certificate, signed by --tls-ca")
    parser.add_argument("--tls-key", metavar="FILE", help="PEM private key of --tls-cert")


def run_executor(args: argparse.Namespace) -> int:
    """``gpu-exec executor``: run this node's executors until interrupted."""
    from scheduler.service.processes import DaskTLS
    from scheduler.service.processes import run_executor as serve

    given = [bool(args.tls_ca), bool(args.tls_cert), bool(args.tls_key)]
    if any(given) and not all(given):
        from scheduler.errors import ClusterError  # lazily: it imports the shuffle layer (distributed)

        raise ClusterError("give all of --tls-ca, --tls-cert and --tls-key, or none")
    options: dict[str, Any] = {"host": args.host, "dashboard": args.dashboard}
    if all(given):
        options["tls"] = DaskTLS(args.tls_ca, args.tls_cert, args.tls_key)
    if args.shuffle_memory_limit is not None:
        options["shuffle_memory_limit"] = args.shuffle_memory_limit
    if args.shuffle_device_memory_limit is not None:
        options["shuffle_device_memory_limit"] = args.shuffle_device_memory_limit
    return serve(args.scheduler, protocol=args.protocol, device=args.device, nthreads=args.nthreads,
                 memory_limit=args.memory_limit, **options)
