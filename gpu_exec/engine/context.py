"""The execution context: runtime resources and per-query state, passed by keyword, never global."""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, TypeVar

import pyarrow as pa

from planner.errors import QueryCancelled

if TYPE_CHECKING:
    from gpu_exec.engine.kernels import Kernels
    from planner.expr import Literal, ScalarSubquery
    from planner.ir import PlanNode
    from planner.placement import Capabilities, Placement

__all__ = ["ExecutionContext", "OperatorMetrics"]

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class OperatorMetrics:
    """Wall time and output rows of one operator kind over a query (all partitions)."""

    seconds: float = 0.0
    rows: int = 0
    calls: int = 0


@dataclass
class ExecutionContext:
    """What a running query needs besides its plan.

    ``subquery_values`` holds the results of uncorrelated scalar subqueries, computed before the
    plan that uses them (keyed by the ScalarSubquery expression itself). ``cancel_event``, set
    from another thread (``DataFrame.cancel()``), stops the query at the next operator or
    partition boundary with QueryCancelled.
    """

    kernels: Kernels
    partitions: int
    broadcast_rows: int = 0
    # Kernels by device ("cpu", and "gpu" on a GPU session) and the GPU's capability table (None
    # on a CPU session): each operator runs on the kernels of the device it was placed on.
    kernels_by_device: dict[str, Kernels] = field(default_factory=dict)
    gpu_capabilities: Capabilities | None = None
    placement: Placement | None = None
    subquery_values: dict[ScalarSubquery, Literal] = field(default_factory=dict)
    metrics: dict[str, OperatorMetrics] = field(default_factory=lambda: defaultdict(OperatorMetrics))
    # Scanned partitions by (table source, columns), reused by later scans of the same query.
    scan_cache: dict[tuple[Any, ...], list[Any]] = field(default_factory=dict, repr=False)
    cancel_event: threading.Event | None = field(default=None, repr=False)
    _pool: ThreadPoolExecutor | None = field(default=None, repr=False)

    def check_cancelled(self) -> None:
        """Raise QueryCancelled when the query was cancelled."""
        if self.cancel_event is not None and self.cancel_event.is_set():
            raise QueryCancelled("the query was cancelled")

    def device_of(self, node: PlanNode) -> str:
        return self.placement[node].device if self.placement is not None else self.kernels.name

    def on_device(self, device: str) -> ExecutionContext:
        """This context with the kernels of ``device`` (state shared: metrics, caches, pool)."""
        if device == self.kernels.name:
            return self
        self._ensure_pool()
        return dataclasses.replace(self, kernels=self.kernels_by_device[device])

    def transfer(self, partitions: list[Any], schema: pa.Schema, source: str, target: str) -> list[Any]:
        """Move partitions between devices (device ↔ host) where placement changes device."""
        if source == target:
            return partitions
        src, dst = self.kernels_by_device[source], self.kernels_by_device[target]
        with self.timed(f"Transfer({source}→{target})"):
            return [dst.from_arrow(src.to_arrow(t, schema)) for t in partitions]

    def _ensure_pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=max(1, min(self.partitions, os.cpu_count() or 1)),
                                            thread_name_prefix="gpu-exec-partition")
        return self._pool

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """``fn`` over the partitions ``items``, in order; on threads when there are several
        (Arrow and cuDF kernels release the GIL, so partitions of one stage run in parallel)."""
        work = list(items)

        def run(x: T) -> R:
            self.check_cancelled()  # partitions not started yet are skipped once cancelled
            return fn(x)

        if len(work) <= 1 or (os.cpu_count() or 1) == 1:
            return [run(x) for x in work]
        return list(self._ensure_pool().map(run, work))

    def close(self, wait: bool = False) -> None:
        """Release the partition threads; ``wait`` for the partitions still running (a failed
        query otherwise returns at once and leaves them to finish on their own)."""
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=True)
            self._pool = None

    @contextmanager
    def timed(self, operator: str) -> Iterator[OperatorMetrics]:
        """Time a block of work and charge it to ``operator``."""
        m = self.metrics[operator]
        start = time.perf_counter()
        try:
            yield m
        finally:
            m.seconds += time.perf_counter() - start
            m.calls += 1
