"""The execution context: runtime resources and per-query state, passed by keyword, never global."""

from __future__ import annotations

import os
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, TypeVar

if TYPE_CHECKING:
    from gpu_exec.kernels import Kernels
    from planner.expr import Literal, ScalarSubquery

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
    plan that uses them (keyed by the ScalarSubquery expression itself).
    """

    kernels: Kernels
    partitions: int
    broadcast_rows: int = 0
    subquery_values: dict[ScalarSubquery, Literal] = field(default_factory=dict)
    metrics: dict[str, OperatorMetrics] = field(default_factory=lambda: defaultdict(OperatorMetrics))
    # Scanned partitions by (table source, columns), reused by later scans of the same query.
    scan_cache: dict[tuple[Any, ...], list[Any]] = field(default_factory=dict, repr=False)
    _pool: ThreadPoolExecutor | None = field(default=None, repr=False)

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """``fn`` over the partitions ``items``, in order; on threads when there are several
        (Arrow and cuDF kernels release the GIL, so partitions of one stage run in parallel)."""
        work = list(items)
        if len(work) <= 1 or (os.cpu_count() or 1) == 1:
            return [fn(x) for x in work]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=min(self.partitions, os.cpu_count() or 1),
                                            thread_name_prefix="gpu-exec-partition")
        return list(self._pool.map(fn, work))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)
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
