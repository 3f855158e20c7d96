"""The embedded session: register tables, plan SQL with DataFusion, run it on gpu-exec's engine."""

from __future__ import annotations

import itertools
import glob
import os
import shutil
import tempfile
from typing import TYPE_CHECKING, Any, Callable, Sequence

import pyarrow as pa

from gpu_exec.engine.config import Config
from gpu_exec.api.dataframe import DataFrame, clean_datafusion_message
from gpu_exec.engine.device import DeviceChoice, choose_device, make_kernels
from gpu_exec.engine.memory import MemoryPool
from gpu_exec.cudf.memory import GpuMemoryConfig
from gpu_exec.api.session_state import SessionState
from planner.errors import CatalogError, GpuExecError, SQLError

if TYPE_CHECKING:
    import datafusion
    import pandas

    from distributed import Client

    from gpu_exec.api.statements import Params, PreparedStatement, TableInfo
    from scheduler.cluster import ClusterConnection

__all__ = ["connect", "Session", "DataFrame"]


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
    warehouse: str | os.PathLike[str] | None = None,
    memory_limit: int | str | None = None,
    batch_rows: int | None = None,
    spill_dir: str | os.PathLike[str] | None = None,
    recursion_limit: int | None = None,
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
    warehouse
        The directory where ``CREATE TABLE name AS SELECT ...`` writes ``<warehouse>/name/``
        (default ``~/.local/share/gpu-exec/warehouse``, or under ``$XDG_DATA_HOME``); on a cluster the
        workers must see the same path.
    memory_limit
        Bytes (an int, or a size such as ``"2GB"``) the operators of this session's queries may
        hold at once — what joins, sorts, aggregates and exchanges keep between batches; a query
        that needs more raises ResourceError. Default: this machine's (or its cgroup's) memory
        less a reserve; on an embedded cluster, that divided among its workers. Environment:
        ``GPU_EXEC_MEMORY_LIMIT``.
    batch_rows
        The most rows per batch a scan reads (default: the kernels' own, 131,072 on the CPU and
        4,194,304 on the GPU).
    spill_dir
        Where joins, sorts and aggregates over their share of ``memory_limit`` write what they
        hold (a directory per query, removed when the query ends; default: the system's
        temporary directory).
    recursion_limit
        The most rounds a ``WITH RECURSIVE`` query may run (default 10,000) before it fails with
        ResourceError naming the CTE; 0: no bound (DataFusion has none: a recursion that never
        ends runs forever there).

    Each argument left as None takes its ``GPU_EXEC__<NAME>`` environment variable, then the default.
    """
    return Session(
        Config.build(device=device, partitions=partitions, fallback=fallback, broadcast_rows=broadcast_rows,
                     workers=workers, cluster=cluster, worker_threads=worker_threads, progress=progress,
                     shuffle_memory_limit=shuffle_memory_limit, fetch_timeout=fetch_timeout,
                     warehouse=warehouse, memory_limit=memory_limit, batch_rows=batch_rows,
                     spill_dir=None if spill_dir is None else os.fspath(spill_dir),
                     recursion_limit=recursion_limit)
    )


class Session:
    """A connection to the engine. Tables live in the session's catalog; SQL is parsed and
    optimized by DataFusion, translated to gpu-exec's IR, and run on the session's device — in
    process, or on the session's Dask cluster when it has one."""

    def __init__(self, config: Config, *, cluster: ClusterConnection | None = None) -> None:
        """``cluster``: an open connection to run on (the query service opens its own, which does
        not wait for executors); by default one is opened when ``config`` asks for a cluster."""
        import datafusion

        self.config = config
        self._cluster = cluster
        if cluster is None and (config.workers or config.cluster):
            from scheduler.cluster import ClusterConnection

            self._cluster = ClusterConnection.open(config)
        self._local_device = choose_device(config.device) if self._cluster is None else None
        self.kernels = make_kernels(self.device, GpuMemoryConfig(config.gpu_memory, config.gpu_pool_size or None))
        # The CPU kernels are always at hand: operators the GPU can't run fall back to them.
        self.kernels_by_device = {"cpu": make_kernels(DeviceChoice("cpu")), self.device.name: self.kernels}
        self.state = SessionState(datafusion.SessionContext())
        self.catalog = self.state.catalog
        # What this session's queries hold in process, under one limit (each query has its own
        # child pool, for its metrics).
        self.memory_pool = MemoryPool(config.memory_limit, name="session")
        self._names = itertools.count(1)  # generated table names of read_parquet / from_arrow / ...
        self._temp_dir: str | None = None  # from_arrow's files, created on first use

    @property
    def device(self) -> DeviceChoice:
        """Where queries run: this machine's device, or the cluster workers' (known once a worker
        has joined)."""
        if self._cluster is not None:
            return self._cluster.device
        assert self._local_device is not None
        return self._local_device

    @property
    def cluster(self) -> ClusterConnection | None:
        """The session's cluster connection; None in process."""
        return self._cluster

    @property
    def dask_client(self) -> Client | None:
        """The Dask client of a distributed session (None in process), for tooling and tests."""
        return self._cluster.client if self._cluster is not None else None

    # ---- tables -------------------------------------------------------------------------------
    def register_parquet(self, name: str, path: str | os.PathLike[str], *, schema: pa.Schema | None = None) -> None:
        """Register a Parquet file, or a directory of Parquet files, as table ``name``; ``schema``
        (optional) picks and checks columns of the files."""
        with self.state.lock:
            source = self.catalog.register_parquet(name, path, schema=schema)
            self.state.managed_tables.pop(name, None)  # the name no longer stands for a CREATE TABLE AS table
            self.state.forget_planner_table(name)
            # DataFusion plans with the catalog's schema when it was picked, or when a glob names
            # the files (DataFusion's globs are not Python's: it might not find them).
            explicit = schema is not None or glob.has_magic(os.fspath(path))
            self.state.planner.register_parquet(name, os.fspath(path), schema=source.schema if explicit else None)

    def register_udf(self, name: str, func: Callable[..., Any], arg_types: Sequence[pa.DataType],
                     return_type: pa.DataType, *, volatility: str = "immutable") -> Any:
        """Make the Python function ``func`` the SQL scalar function ``name`` (write it lower-case:
        SQL folds unquoted names). ``func`` gets one ``pyarrow.Array`` per argument (of
        ``arg_types``, for a batch of rows) and returns an Array of ``return_type`` with one value
        per row. It runs on the CPU (a GPU session says so in ``explain()``), on a cluster on the
        executors, which receive it with cloudpickle. ``volatility``: "immutable" (DataFusion may
        fold calls with constant arguments while planning), "stable" or "volatile". Returns
        DataFusion's function object, for DataFrame expressions (``df.select(f(col("a")))``)."""
        import datafusion

        from planner.udf import PythonUdf

        if not callable(func):
            raise GpuExecError(f"register_udf({name!r}): {func!r} is not callable")
        udf = PythonUdf(name, func, tuple(arg_types), return_type)
        planned = datafusion.udf(func, list(arg_types), return_type, volatility, name=name)
        with self.state.lock:
            self.catalog.register_udf(udf)
            self.state.planner.register_udf(planned)
        return planned

    def register_csv(self, name: str, path: str | os.PathLike[str], *, schema: pa.Schema | None = None,
                     has_header: bool = True, delimiter: str = ",") -> None:
        """Register a CSV file (or a directory of .csv files) as table ``name``: columns named by the
        header line and typed by inference, or ``schema``'s columns by position."""
        with self.state.lock:
            source = self.catalog.register_csv(name, path, schema=schema, has_header=has_header, delimiter=delimiter)
            self.state.managed_tables.pop(name, None)
            self.state.forget_planner_table(name)
            self.state.planner.register_csv(name, os.fspath(path), schema=source.schema, has_header=has_header,
                                           delimiter=delimiter)

    def tables(self) -> list[str]:
        with self.state.lock:
            return self.catalog.names()

    def table_infos(self) -> list[TableInfo]:
        """Each table and view: ``(name, kind, schema)`` with kind "TABLE" or "VIEW", by name."""
        from gpu_exec.api.statements import table_infos

        return table_infos(self)

    # ---- queries ------------------------------------------------------------------------------
    def sql(self, query: str, params: Params | None = None) -> DataFrame:
        """Plan ``query`` (one statement) and return a lazy DataFrame. Errors in the SQL are raised
        here, not at execution.

        Statements other than queries run at once and return their result: CREATE EXTERNAL TABLE,
        DROP TABLE, CREATE VIEW and DROP VIEW (no rows), CREATE [OR REPLACE] TABLE ... AS SELECT
        (writes Parquet into the warehouse directory; one row ``count``), SHOW TABLES, DESCRIBE.
        COPY (query) TO 'path' (FORMAT parquet | csv) runs when its result is asked for.

        ``params`` gives the values of the placeholders: a sequence for ``$1, $2, ...`` (or
        ``?``), a mapping for ``$name``. A missing or extra value is an SQLError.
        """
        from gpu_exec.api.statements import run_sql

        return run_sql(self, query, params)

    def prepare(self, query: str) -> PreparedStatement:
        """Plan ``query`` without running it: its result schema (``dataset_schema``), its
        placeholders' schema (``parameter_schema``), and ``bind(params)`` for a DataFrame."""
        from gpu_exec.api.statements import prepare

        return prepare(self, query)

    def sql_substrait(self, plan_bytes: bytes) -> DataFrame:
        """Plan a serialized Substrait ``Plan`` (from DataFusion, Ibis, DuckDB, Acero, ...) over the
        session's tables and return a lazy DataFrame, as ``sql`` does. Bytes that are not a plan
        are an SQLError, an unknown table a CatalogError, a function or extension gpu-exec does
        not run an UnsupportedSQLError — raised here, not at execution."""
        from gpu_exec.api.substrait import run_substrait

        return run_substrait(self, plan_bytes)

    # ---- DataFrame sources ----------------------------------------------------------------------
    def table(self, name: str) -> DataFrame:
        """A DataFrame over the registered table (or view) ``name``."""
        try:
            with self.state.lock:
                df = self.state.planner.table(name)
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
        with self.state.lock:
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

    def register_view(self, name: str, df: datafusion.DataFrame) -> None:
        """Register a DataFusion DataFrame as the view ``name`` (``DataFrame.sql_view``)."""
        with self.state.lock:
            if name in self.catalog:
                raise CatalogError(f"DataFrame.sql_view({name!r}): a table of that name exists")
            self.state.forget_planner_table(name)
            try:
                self.state.planner.register_view(name, df)
            except Exception as exc:  # noqa: BLE001
                raise SQLError(f"DataFrame.sql_view({name!r}): {clean_datafusion_message(exc)}") from None

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
