"""The embedded session: register tables, plan SQL with DataFusion, run it on gpu-exec's engine."""

from __future__ import annotations

import os
import re
import threading
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from gpu_exec.config import Config
from gpu_exec.context import ExecutionContext
from gpu_exec.cudf_capabilities import CudfCapabilities
from gpu_exec.device import DeviceChoice, choose_device, make_kernels
from gpu_exec.gpu_memory import GpuMemoryConfig
from planner.catalog import Catalog
from planner.errors import CatalogError, GpuExecError, SQLError, UnsupportedSQLError
from planner.explain import render_plan
from planner.physical import plan_physical
from planner.placement import Placement, apply_fallback_policy, place

if TYPE_CHECKING:
    import pandas

    from distributed import Client

    from gpu_exec.context import OperatorMetrics
    from planner.ir import PlanNode
    from scheduler.cluster import ClusterConnection
    from scheduler.query import JobSummary

__all__ = ["connect", "Session", "DataFrame"]

# DDL that DataFusion runs itself while planning and that changes only its view catalog.
_VIEW_DDL = re.compile(r"DDL not supported: (CreateView|DropView)")
_TABLE_NOT_FOUND = re.compile(r"table '(?:[^']*\.)?([^'.]+)' not found")


def connect(
    device: str | None = None,
    partitions: int | None = None,
    fallback: str | None = None,
    broadcast_rows: int | None = None,
    *,
    workers: int | None = None,
    cluster: str | None = None,
    worker_threads: int | None = None,
    progress: str | None = None,
    shuffle_memory_limit: int | None = None,
    fetch_timeout: float | None = None,
) -> Session:
    """Start a gpu-exec session: in this process (the default), or on a Dask cluster.

    Without ``workers`` or ``cluster`` queries run in this process, partitioned, on threads — the
    fastest for one machine and what the test suite uses. ``workers=N`` starts an embedded Dask
    cluster of N worker processes (a CPU ``LocalCluster``; dask-cuda's ``LocalCUDACluster``, one
    worker per GPU, when the session runs on GPUs); ``cluster="tcp://host:8786"`` uses a running
    Dask scheduler whose workers were started with ``gpu-exec executor``. Either way queries run
    as stages of tasks with a worker-to-worker shuffle, and ``close()`` stops what was started.

    Parameters
    ----------
    device
        "auto" (default: the GPU when one is usable, else the CPU), "cpu", or "gpu" (fail when no
        GPU is usable).
    partitions
        Parallel partitions per stage; default the number of CPU cores.
    fallback
        "warn" (default), "raise" or "silent": what happens when an operator must leave the GPU.
    broadcast_rows
        Join sides estimated at most this many rows (default 500,000) are broadcast rather than
        repartitioned; 0 always repartitions both sides.
    workers
        Start an embedded cluster of this many worker processes.
    cluster
        Address of an existing Dask scheduler to run on.
    worker_threads
        Threads per embedded worker (default: Dask's share of the cores).
    progress
        "auto" (default: on a terminal or in a notebook), "on" or "off": a progress bar for
        distributed queries that run longer than a second or two.
    shuffle_memory_limit
        Bytes of shuffle data each worker keeps in memory before spilling to disk (default 2 GiB).
    fetch_timeout
        Seconds a worker keeps trying to reach a peer before its data counts as lost (default 10).

    Each argument left as None takes its ``GPU_EXEC__<NAME>`` environment variable, then the default.
    """
    return Session(
        Config.build(device=device, partitions=partitions, fallback=fallback, broadcast_rows=broadcast_rows,
                     workers=workers, cluster=cluster, worker_threads=worker_threads, progress=progress,
                     shuffle_memory_limit=shuffle_memory_limit, fetch_timeout=fetch_timeout)
    )


def _clean_datafusion_message(exc: BaseException) -> str:
    text = str(exc).strip()
    for prefix in ("Error during planning: ", "SQL error: ", "Schema error: "):
        text = text.replace(prefix, "")
    return text


class Session:
    """A connection to the engine. Tables live in the session's catalog; SQL is parsed and
    optimized by DataFusion, translated to gpu-exec's IR, and run on the session's device — in
    process, or on the session's Dask cluster when it has one."""

    def __init__(self, config: Config) -> None:
        import datafusion

        self.config = config
        self._cluster: ClusterConnection | None = None
        if config.workers or config.cluster:
            from scheduler.cluster import ClusterConnection

            self._cluster = ClusterConnection.open(config)
            self.device: DeviceChoice = self._cluster.device  # the workers' device, not this machine's
        else:
            self.device = choose_device(config.device)
        self.kernels = make_kernels(self.device, GpuMemoryConfig(config.gpu_memory, config.gpu_pool_size or None))
        # The CPU kernels are always at hand: operators the GPU can't run fall back to them.
        self.kernels_by_device = {"cpu": make_kernels(DeviceChoice("cpu")), self.device.name: self.kernels}
        self.catalog = Catalog()
        self._planner_ctx = datafusion.SessionContext()

    @property
    def dask_client(self) -> Client | None:
        """The Dask client of a distributed session (None in process), for tooling and tests."""
        return self._cluster.client if self._cluster is not None else None

    # ---- tables -------------------------------------------------------------------------------
    def register_parquet(self, name: str, path: str | os.PathLike[str]) -> None:
        """Register a Parquet file, or a directory of Parquet files, as table ``name``."""
        self.catalog.register_parquet(name, path)
        self._replace_planner_table(name)
        self._planner_ctx.register_parquet(name, os.fspath(path))

    def register_csv(self, name: str, path: str | os.PathLike[str]) -> None:
        """Register a CSV file with a header line (or a directory of .csv files) as table ``name``."""
        source = self.catalog.register_csv(name, path)
        self._replace_planner_table(name)
        self._planner_ctx.register_csv(name, os.fspath(path), schema=source.schema, has_header=True)

    def _replace_planner_table(self, name: str) -> None:
        try:
            self._planner_ctx.deregister_table(name)
        except Exception:  # noqa: BLE001 — DataFusion raises a bare error for an unknown name
            pass

    def tables(self) -> list[str]:
        return self.catalog.names()

    # ---- queries ------------------------------------------------------------------------------
    def sql(self, query: str) -> DataFrame:
        """Plan ``query`` (one statement) and return a lazy DataFrame. CREATE VIEW / DROP VIEW run at
        once and return an empty DataFrame. Errors in the SQL are raised here, not at execution."""
        from datafusion import SQLOptions

        from planner.translate import translate

        options = SQLOptions().with_allow_ddl(False).with_allow_dml(False).with_allow_statements(False)
        try:
            df = self._planner_ctx.sql_with_options(query, options)
        except Exception as exc:  # noqa: BLE001 — DataFusion raises plain exceptions
            message = _clean_datafusion_message(exc)
            if _VIEW_DDL.search(message):
                return self._run_view_ddl(query)
            raise self._planning_error(message) from None
        try:
            plan = df.optimized_logical_plan()
        except Exception as exc:  # noqa: BLE001
            raise SQLError(_clean_datafusion_message(exc)) from None
        return DataFrame(self, translate(plan, self._planner_ctx, self.catalog, unoptimized=df.logical_plan()))

    def _run_view_ddl(self, query: str) -> DataFrame:
        from planner.ir import EmptyRelation

        try:
            self._planner_ctx.sql(query)
        except Exception as exc:  # noqa: BLE001
            raise self._planning_error(_clean_datafusion_message(exc)) from None
        return DataFrame(self, EmptyRelation(False, pa.schema([])))

    def _planning_error(self, message: str) -> GpuExecError:
        missing = _TABLE_NOT_FOUND.search(message)
        if missing:
            known = ", ".join(self.catalog.names()) or "none"
            return CatalogError(f"unknown table {missing.group(1)!r} (registered: {known})")
        if "not supported" in message and ("DDL" in message or "DML" in message or "Statement" in message):
            return UnsupportedSQLError([f"{message}; gpu-exec runs queries, CREATE VIEW and DROP VIEW"])
        return SQLError(message)

    def close(self) -> None:
        """Release the session's resources: the Dask client, and the cluster if it started one
        (nothing is kept between queries in process)."""
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class DataFrame:
    """A planned query. Nothing runs until ``to_arrow()`` / ``to_pandas()``."""

    def __init__(self, session: Session, logical_plan: PlanNode) -> None:
        self._session = session
        self.logical_plan = logical_plan
        self.physical_plan = plan_physical(
            logical_plan, session.config.partitions, broadcast_rows=session.config.broadcast_rows
        )
        self.metrics: dict[str, OperatorMetrics] = {}
        self.job_summary: JobSummary | None = None  # what the last distributed run did
        self._cancel = threading.Event()
        # Placement is decided now, so that fallback="raise" refuses the query before it runs.
        apply_fallback_policy(self.placement(), session.config.fallback)

    def placement(self, device: str | None = None) -> Placement:
        """Where each operator runs on ``device`` ("gpu" plans as if a GPU were present, even on a
        machine without one; default: the session's device)."""
        device = device or self._session.device.name
        if device not in ("cpu", "gpu"):
            raise GpuExecError(f"device must be 'cpu' or 'gpu', not {device!r}")
        return place(self.physical_plan, CudfCapabilities() if device == "gpu" else None)

    @property
    def schema(self) -> pa.Schema:
        return self.logical_plan.schema

    def to_arrow(self) -> pa.Table:
        """Run the query and return all its rows."""
        from gpu_exec.driver import run_plan

        if self._session._cluster is not None:
            return self._run_distributed(self._session._cluster)
        session = self._session
        config = session.config
        ctx = ExecutionContext(
            kernels=session.kernels,
            partitions=config.partitions,
            broadcast_rows=config.broadcast_rows,
            kernels_by_device=session.kernels_by_device,
            gpu_capabilities=CudfCapabilities() if session.device.name == "gpu" else None,
        )
        try:
            result = run_plan(self.physical_plan, ctx)
        finally:
            ctx.close()
            self.metrics = dict(ctx.metrics)
        return result

    def _run_distributed(self, cluster: ClusterConnection) -> pa.Table:
        from scheduler.query import run_query

        try:
            result = run_query(cluster, self.physical_plan, cancel_event=self._cancel)
        finally:
            self._cancel = threading.Event()  # a cancel ends this run only
        self.metrics, self.job_summary = result.metrics, result.summary
        return result.table

    def cancel(self) -> None:
        """Cancel this query while it runs on a cluster (from another thread): ``to_arrow()``
        raises QueryCancelled and the query's shuffle data is dropped on every worker."""
        self._cancel.set()

    def to_pandas(self) -> pandas.DataFrame:
        return self.to_arrow().to_pandas()

    def explain(self, device: str | None = None) -> str:
        """The physical plan, one operator a line, each ending with where it runs: ``@gpu``,
        ``@cpu``, or ``@cpu: <reason>`` when the GPU was asked for and the operator can't use it.
        ``device="gpu"`` shows the placement a GPU session would choose, on any machine."""
        placement = self.placement(device)
        return render_plan(self.physical_plan, lambda node: placement[node].label())

    def __repr__(self) -> str:
        return f"DataFrame[{', '.join(f'{f.name}: {f.type}' for f in self.schema)}]"
