"""gpu-exec: a distributed SQL engine for GPU clusters, with a CPU fallback everywhere.

    >>> import gpu_exec
    >>> s = gpu_exec.connect()
    >>> s.register_parquet("lineitem", "data/lineitem.parquet")
    >>> s.sql("select count(*) from lineitem").to_arrow()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from planner.errors import (
    CatalogError,
    ExecutionError,
    GpuExecError,
    SQLError,
    UnsupportedSQLError,
)

if TYPE_CHECKING:
    from gpu_exec.session import DataFrame, Session

__all__ = [
    "connect",
    "Session",
    "DataFrame",
    "GpuExecError",
    "SQLError",
    "CatalogError",
    "UnsupportedSQLError",
    "ExecutionError",
]


def connect(*args: Any, **kwargs: Any) -> Session:
    """Start an embedded session; see ``gpu_exec.session.connect``."""
    from gpu_exec.session import connect as _connect

    return _connect(*args, **kwargs)


def __getattr__(name: str) -> Any:
    if name in ("Session", "DataFrame"):
        from gpu_exec import session

        return getattr(session, name)
    raise AttributeError(name)
