"""Errors of the distributed query layer."""

from __future__ import annotations

from gpu_exec.executor.shuffle_fetch import FetchFailed
# QueryCancelled lives in planner.errors: the in-process engine raises it too, and engine modules
# never import scheduler. Re-exported here for the query layer and its users.
from planner.errors import ExecutionError, GpuExecError, QueryCancelled

__all__ = ["FetchFailed", "QueryCancelled", "ClusterError", "ExecutionError"]


class ClusterError(GpuExecError):
    """The cluster cannot be started or reached, or has no workers."""
