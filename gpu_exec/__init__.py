"""gpu-exec: a distributed SQL engine for GPU clusters, with a CPU fallback everywhere.

    >>> import gpu_exec
    >>> s = gpu_exec.connect()
    >>> s.register_parquet("lineitem", "data/lineitem.parquet")
    >>> s.sql("select count(*) from lineitem").to_arrow()
    >>> from gpu_exec import col, lit, functions as f
    >>> s.table("lineitem").aggregate([], [f.count_star().alias("n")]).show()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from planner.errors import (
    CatalogError,
    ExecutionError,
    GpuExecError,
    QueryCancelled,
    ResourceError,
    SQLError,
    UnsupportedSQLError,
)

if TYPE_CHECKING:
    from datafusion import col, lit

    from gpu_exec import functions
    from gpu_exec.api.dataframe import DataFrame
    from gpu_exec.api.remote import RemoteSession
    from gpu_exec.api.session import Session

__all__ = [
    "connect",
    "Session",
    "DataFrame",
    "col",
    "lit",
    "functions",
    "GpuExecError",
    "SQLError",
    "CatalogError",
    "UnsupportedSQLError",
    "ExecutionError",
    "QueryCancelled",
    "ResourceError",
]


def connect(*args: Any, **kwargs: Any) -> Session | RemoteSession:
    """Start a session: in this process by default, on a Dask cluster with ``workers=`` or
    ``cluster=`` (see ``gpu_exec.api.session.connect``); or, given a query endpoint's address
    (``connect("grpc://host:50050", token=...)``), a remote session on a ``gpu-exec scheduler``
    with the same API (see ``gpu_exec.api.remote.connect_remote``)."""
    if args and isinstance(args[0], str) and args[0].startswith("grpc"):
        from gpu_exec.api.remote import connect_remote

        return connect_remote(*args, **kwargs)
    from gpu_exec.api.session import connect as _connect

    return _connect(*args, **kwargs)


def __getattr__(name: str) -> Any:
    # Lazy, so that importing gpu_exec (on every Dask worker, too) doesn't import DataFusion.
    if name in ("col", "lit"):
        import datafusion

        return getattr(datafusion, name)
    if name == "functions":
        import importlib

        return importlib.import_module("gpu_exec.functions")
    if name == "Session":
        from gpu_exec.api.session import Session

        return Session
    if name == "DataFrame":
        from gpu_exec.api.dataframe import DataFrame

        return DataFrame
    raise AttributeError(name)
