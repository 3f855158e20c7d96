"""A session's cluster: start an embedded Dask cluster or connect to one, install the shuffle service.

``connect(workers=N)`` starts a ``LocalCluster`` of N worker processes on CPU, or dask-cuda's
``LocalCUDACluster`` (one worker per GPU) when the session runs on GPUs; ``connect(cluster=ADDRESS)``
uses a running Dask scheduler (``gpu-exec scheduler`` / ``gpu-exec executor``). Either way every
worker gets the ``ShuffleService`` plugin, and queries run through ``scheduler.query``.

Dask itself does not retry a task whose worker died (``allowed-failures`` 0 on the clusters
gpu-exec starts): the task's future fails with KilledWorker at once and the job decides
(scheduler.job), knowing whether the worker was restarted for its memory.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from gpu_exec.engine.device import DeviceChoice, choose_device, visible_gpu_count
from gpu_exec.executor.shuffle_service import DEFAULT_DEVICE_MEMORY_LIMIT, SERVICE_NAME, STATS_HANDLER, ShuffleService
from scheduler.errors import ClusterError
from scheduler.runner import DEFAULT_EXECUTOR_TIMEOUT, no_executors_message

if TYPE_CHECKING:
    from distributed import Client

    from gpu_exec.engine.config import Config
    from scheduler.runner import JobListener

__all__ = ["ClusterConnection", "start_local_cluster", "install_shuffle_service", "shuffle_stats",
           "SCHEDULER_CONFIG"]

# How long connect(cluster=...) waits for the scheduler and its first worker.
CONNECT_TIMEOUT_SECONDS = 30
# The Dask scheduler settings of the clusters gpu-exec starts (embedded, `gpu-exec scheduler`):
# a task whose worker dies fails at once with KilledWorker; the job retries it (scheduler.job).
SCHEDULER_CONFIG = {"distributed.scheduler.allowed-failures": 0}


def start_local_cluster(workers: int, threads: int, gpu: bool) -> Any:
    """An embedded cluster of ``workers`` worker processes (``threads`` each, 0: Dask's choice)."""
    options: dict[str, Any] = {"n_workers": workers, "dashboard_address": None,
                               "silence_logs": logging.ERROR}
    if threads:
        options["threads_per_worker"] = threads
    import dask.config

    with dask.config.set(SCHEDULER_CONFIG):  # read when the scheduler is made, just below
        if gpu:
            from dask_cuda import LocalCUDACluster  # lazily: only GPU machines have it

            # One worker per GPU: never more workers than GPUs.
            options["n_workers"] = max(1, min(workers, visible_gpu_count()))
            return LocalCUDACluster(**options)
        from distributed import LocalCluster

        return LocalCluster(processes=True, **options)


def _has_shuffle_service(dask_worker: Any) -> bool:
    return SERVICE_NAME in dask_worker.plugins


def _worker_device(requested: str) -> tuple[str, str | None, str]:
    choice = choose_device(requested)
    return choice.name, choice.reason, choice.description


def install_shuffle_service(client: Client, memory_limit: int, fetch_timeout: float,
                            device_memory_limit: int = DEFAULT_DEVICE_MEMORY_LIMIT,
                            memory_pool_limit: int | None = None) -> None:
    """Make sure the workers run the shuffle service: registered with the scheduler (so workers
    that join later get it too) unless every worker already has one — workers started by
    ``gpu-exec executor`` bring theirs, with their own settings, and keep it.
    ``memory_pool_limit``: each worker's operator memory limit (None: the worker's own)."""
    present = client.run(_has_shuffle_service)
    if not present or not all(present.values()):
        client.register_plugin(ShuffleService(memory_limit, fetch_timeout, device_memory_limit, memory_pool_limit),
                               name=SERVICE_NAME)


def _pool_limit(config: Config) -> int | None:
    """An embedded cluster's workers share this machine: the session's memory limit divided among
    them. A cluster joined: each worker's own (None)."""
    return config.memory_limit // config.workers if config.workers else None  # type: ignore[operator]


def shuffle_stats(client: Client) -> dict[str, dict[str, Any]]:
    """Each worker's shuffle store contents and traffic counters, by worker address."""
    return client.sync(client.scheduler.broadcast, msg={"op": STATS_HANDLER})  # type: ignore[no-any-return]


class ClusterConnection:
    """The Dask client of a session, and the cluster it started (None when it joined one)."""

    def __init__(self, client: Client, cluster: Any, device: DeviceChoice | None, config: Config) -> None:
        self.client = client
        self.cluster = cluster
        self._device = device
        self.config = config
        self.listeners: list[JobListener] = []  # told of every job's progress (tooling, tests)
        # Seconds a query waits while the cluster has no executor (for a first one, or after all
        # of them went) before it fails saying so.
        self.executor_timeout = DEFAULT_EXECUTOR_TIMEOUT

    @classmethod
    def open(cls, config: Config, *, wait_for_workers: bool = True, security: Any = None) -> ClusterConnection:
        """Start the embedded cluster (``config.workers``) or connect to ``config.cluster``.
        ``wait_for_workers=False`` (the query service, which starts before its executors): don't
        wait for a first worker; queries wait for one (``ensure_workers``). ``security``: a
        ``distributed.security.Security`` for a TLS cluster (None: Dask's configuration, e.g. the
        ``DASK_DISTRIBUTED__COMM__TLS__*`` environment variables)."""
        from distributed import Client

        cluster = None
        try:
            if config.cluster:
                client = Client(config.cluster, timeout=CONNECT_TIMEOUT_SECONDS, set_as_default=False,
                                security=security)
                if wait_for_workers:
                    client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_SECONDS)
            else:
                gpu = choose_device(config.device).name == "gpu"
                cluster = start_local_cluster(config.workers, config.worker_threads, gpu)
                client = Client(cluster, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            if cluster is not None:
                cluster.close()
            where = config.cluster or f"an embedded cluster of {config.workers} workers"
            raise ClusterError(f"cannot start or reach {where}: {exc}") from exc
        try:
            device = None
            if client.scheduler_info().get("workers"):
                device = cls._cluster_device(client, config.device)
                install_shuffle_service(client, config.shuffle_memory_limit, config.fetch_timeout,
                                        config.shuffle_device_memory_limit, _pool_limit(config))
        except BaseException:
            client.close()
            if cluster is not None:
                cluster.close()
            raise
        return cls(client, cluster, device, config)

    def ensure_workers(self, timeout: float | None = None) -> None:
        """Wait up to ``timeout`` seconds (default ``executor_timeout``) for a first worker (a
        service started before its executors); then the workers' device is known."""
        if self._device is not None:
            return
        timeout = self.executor_timeout if timeout is None else timeout
        try:
            self.client.wait_for_workers(1, timeout=timeout)
        except TimeoutError:
            raise ClusterError(no_executors_message(self.client.scheduler.address, timeout)) from None
        config = self.config
        self._device = self._cluster_device(self.client, config.device)
        # Executors started by `gpu-exec executor` bring their own (with their flags' settings).
        install_shuffle_service(self.client, config.shuffle_memory_limit, config.fetch_timeout,
                                config.shuffle_device_memory_limit, _pool_limit(config))

    def executor_count(self) -> int:
        """The workers connected to the scheduler now."""
        return len(self.client.scheduler_info()["workers"])

    @property
    def device(self) -> DeviceChoice:
        """The workers' device; before any worker joined, the one asked for ("auto": the CPU)."""
        if self._device is not None:
            return self._device
        return DeviceChoice("gpu" if self.config.device == "gpu" else "cpu", "no executors have joined yet")

    @staticmethod
    def _cluster_device(client: Client, requested: str) -> DeviceChoice:
        """The device the workers run on: the GPU only when every worker can use one."""
        answers = client.run(_worker_device, requested)  # a worker's GpuExecError propagates
        names = {name for name, _, _ in answers.values()}
        if names == {"gpu"}:
            # What the workers run on ("gpu: <GPU name>, pylibcudf <version>"; several when they differ).
            return DeviceChoice("gpu", description="; ".join(sorted({d for _, _, d in answers.values() if d})))
        reasons = sorted({reason for _, reason, _ in answers.values() if reason})
        return DeviceChoice("cpu", "; ".join(reasons) or None)

    def close(self) -> None:
        """Close the client, and the cluster when this connection started it."""
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None
