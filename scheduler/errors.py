"""Errors of the distributed query layer."""

from __future__ import annotations

from gpu_exec.shuffle_fetch import FetchFailed
from planner.errors import ExecutionError, GpuExecError

__all__ = ["FetchFailed", "QueryCancelled", "ClusterError", "ExecutionError"]


class QueryCancelled(GpuExecError):
    """The query was cancelled (``DataFrame.cancel()`` or Ctrl-C); its shuffle data is dropped."""


class ClusterError(GpuExecError):
    """The cluster cannot be started or reached, or has no workers."""
