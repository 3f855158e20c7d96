"""The embedded session: register tables, plan SQL with DataFusion, run it on gpu-exec's engine."""

from __future__ import annotations

import itertools
import os
import re
import shutil
import tempfile
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from gpu_exec.config import Config
from gpu_exec.dataframe import DataFrame, clean_datafusion_message
from gpu_exec.device import DeviceChoice, choose_device, make_kernels
from gpu_exec.gpu_memory import GpuMemoryConfig
from planner.catalog import Catalog
from planner.errors import CatalogError, GpuExecError, SQLError, UnsupportedSQLError

if TYPE_CHECKING:
    import datafusion
    import pandas

    from distributed import Client

    from scheduler.cluster import ClusterConnection

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
        self._names = itertools.count(1)  # generated table names of read_parquet / from_arrow / ...
        self._temp_dir: str | None = None  # from_arrow's files, created on first use

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

        options = SQLOptions().with_allow_ddl(False).with_allow_dml(False).with_allow_statements(False)
        try:
            df = self._planner_ctx.sql_with_options(query, options)
        except Exception as exc:  # noqa: BLE001 — DataFusion raises plain exceptions
            message = clean_datafusion_message(exc)
            if _VIEW_DDL.search(message):
                return self._run_view_ddl(query)
            raise self._planning_error(message) from None
        frame = DataFrame(self, df, step="")
        frame.physical_plan  # noqa: B018 — plan now: SQL errors and fallback="raise" surface here, not at execution
        return frame

    # ---- DataFrame sources ----------------------------------------------------------------------
    def table(self, name: str) -> DataFrame:
        """A DataFrame over the registered table (or view) ``name``."""
        try:
            df = self._planner_ctx.table(name)
        except Exception:  # noqa: BLE001 — DataFusion raises a bare error for an unknown name
            known = ", ".join(self.catalog.names()) or "none"
            raise CatalogError(f"unknown table {name!r} (registered: {known})") from None
        return DataFrame(self, df, step=f"Session.table({name!r})")

    def read_parquet(self, path: str | os.PathLike[str]) -> DataFrame:
        """A DataFrame over a Parquet file or directory, registered as a table under a generated
        name (``_gpu_exec_df_<n>``, listed by ``tables()``)."""
        name = self._generated_name()
        self.register_parquet(name, path)
        return self.table(name)

    def read_csv(self, path: str | os.PathLike[str]) -> DataFrame:
        """A DataFrame over a CSV file with a header line (or a directory of .csv files), registered
        under a generated name."""
        name = self._generated_name()
        self.register_csv(name, path)
        return self.table(name)

    def from_arrow(self, data: pa.Table | pa.RecordBatch) -> DataFrame:
        """A DataFrame over in-memory Arrow data.

        gpu-exec's engine (and its workers) read files, so the data is written to a Parquet file in
        the session's temporary directory — removed by ``close()`` — and registered under a
        generated name. On a remote cluster (``cluster=...``) the workers must see that directory.
        """
        import pyarrow.parquet as pq

        if isinstance(data, pa.RecordBatch):
            data = pa.Table.from_batches([data])
        if not isinstance(data, pa.Table):
            raise GpuExecError(f"from_arrow takes a pyarrow Table or RecordBatch, not {type(data).__name__}")
        name = self._generated_name()
        if self._temp_dir is None:
            self._temp_dir = tempfile.mkdtemp(prefix="gpu-exec-session-")
        path = os.path.join(self._temp_dir, f"{name}.parquet")
        pq.write_table(data, path)
        self.register_parquet(name, path)
        return self.table(name)

    def from_pandas(self, frame: pandas.DataFrame) -> DataFrame:
        """A DataFrame over a pandas DataFrame (its index is dropped); written to a temporary
        Parquet file like ``from_arrow``."""
        return self.from_arrow(pa.Table.from_pandas(frame, preserve_index=False))

    def _generated_name(self) -> str:
        return f"_gpu_exec_df_{next(self._names)}"

    def _register_view(self, name: str, df: datafusion.DataFrame) -> None:
        self._replace_planner_table(name)
        try:
            self._planner_ctx.register_view(name, df)
        except Exception as exc:  # noqa: BLE001
            raise SQLError(f"DataFrame.sql_view({name!r}): {clean_datafusion_message(exc)}") from None

    def _run_view_ddl(self, query: str) -> DataFrame:
        from planner.ir import EmptyRelation

        try:
            self._planner_ctx.sql(query)
        except Exception as exc:  # noqa: BLE001
            raise self._planning_error(clean_datafusion_message(exc)) from None
        return DataFrame(self, None, plan=EmptyRelation(False, pa.schema([])))

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
        (nothing is kept between queries in process), and the files of ``from_arrow`` /
        ``from_pandas``."""
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
