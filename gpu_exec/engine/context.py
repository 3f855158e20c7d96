"""The execution context: runtime resources and per-query state, passed by keyword, never global."""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections import defaultdict, deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, TypeVar

import pyarrow as pa

from gpu_exec.engine.memory import MemoryPool
from gpu_exec.engine.pruning import DynamicFilters
from gpu_exec.engine.spill import SpillDirectory
from planner.errors import QueryCancelled

if TYPE_CHECKING:
    from gpu_exec.engine.kernels import Kernels, Table
    from planner.expr import Literal, ScalarSubquery
    from planner.ir import PlanNode
    from planner.placement import Capabilities, Placement

__all__ = ["ExecutionContext", "OperatorMetrics"]

T = TypeVar("T")
R = TypeVar("R")

# Per thread: seconds spent, inside the span being timed, in nested spans (an operator's input
# pulled through it, or a wait for other threads), so that each span is charged its own time only.
_clock = threading.local()


@dataclass
class OperatorMetrics:
    """One operator kind over a query (all partitions): its own seconds (summed over the threads
    that ran it, its inputs' time excluded), output rows and batches, ``calls`` (partitions it
    ran), and the memory it held: ``peak_bytes`` (the most held at once by all its partitions,
    from the memory pool) and ``spilled_bytes`` (written out instead of held; 0 until operators
    spill). Scans also count Parquet ``row_groups`` (considered), ``row_groups_pruned`` (skipped
    by statistics or a join's dynamic filter) and ``bytes_scanned`` (compressed column chunks
    read)."""

    seconds: float = 0.0
    rows: int = 0
    calls: int = 0
    batches: int = 0
    peak_bytes: int = 0
    spilled_bytes: int = 0
    row_groups: int = 0
    row_groups_pruned: int = 0
    bytes_scanned: int = 0


@dataclass(eq=False)
class _Shared:
    """What every device view of one context shares (``on_device`` copies the context)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    pool: ThreadPoolExecutor | None = None
    # Set when the query is over (``close``): streams still running on other threads — after a
    # failure, an interrupt, or a consumer that stopped early — stop at their next batch.
    ended: threading.Event = field(default_factory=threading.Event)


@dataclass
class ExecutionContext:
    """What a running query needs besides its plan.

    ``subquery_values`` holds the results of uncorrelated scalar subqueries, computed before the
    plan that uses them (keyed by the ScalarSubquery expression itself). ``cancel_event``, set
    from another thread (``DataFrame.cancel()``), stops the query at the next batch with
    QueryCancelled. ``memory`` is the query's memory pool (breakers account what they hold
    there; see gpu_exec.engine.memory); ``batch_rows`` the most rows per scanned batch (0: the
    kernels' ``default_batch_rows``); ``spill`` the directory its breakers spill to (removed
    at ``close``). ``recursion_limit``: the most rounds a WITH RECURSIVE query may run (0: no
    bound); ``work_tables`` the current round's rows of each running recursive query, by the id
    of its plan node (gpu_exec.engine.operators.recursive).
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
    memory: MemoryPool = field(default_factory=lambda: MemoryPool(name="query"))
    batch_rows: int = 0
    spill: SpillDirectory = field(default_factory=SpillDirectory)
    # Build-key filters joins hand to the scans of their probe side (gpu_exec.engine.pruning).
    dynamic_filters: DynamicFilters = field(default_factory=lambda: DynamicFilters())
    cancel_event: threading.Event | None = field(default=None, repr=False)
    recursion_limit: int = 10_000
    work_tables: dict[int, tuple[str, list[Any], pa.Schema]] = field(default_factory=dict, repr=False)
    _shared: _Shared = field(default_factory=_Shared, repr=False)

    @property
    def rows_per_batch(self) -> int:
        """The most rows a scan puts in one batch, on this context's kernels."""
        return self.batch_rows or self.kernels.default_batch_rows

    def check_cancelled(self) -> None:
        """Raise QueryCancelled when the query was cancelled (or is already over)."""
        if self.cancel_event is not None and self.cancel_event.is_set():
            raise QueryCancelled("the query was cancelled")
        if self._shared.ended.is_set():
            raise QueryCancelled("the query ended")

    def device_of(self, node: PlanNode) -> str:
        return self.placement[node].device if self.placement is not None else self.kernels.name

    def on_device(self, device: str) -> ExecutionContext:
        """This context with the kernels of ``device`` (state shared: metrics, memory, threads)."""
        if device == self.kernels.name:
            return self
        return dataclasses.replace(self, kernels=self.kernels_by_device[device])

    def transfer(self, partitions: list[Iterable[Any]], schema: pa.Schema, source: str,
                 target: str) -> list[Iterable[Any]]:
        """Move partitions between devices (device ↔ host) where placement changes device, batch
        by batch as they are pulled (a partition every consumer shares is moved once, now)."""
        if source == target:
            return partitions
        from gpu_exec.engine.streams import Batches

        src, dst = self.kernels_by_device[source], self.kernels_by_device[target]
        name = f"Transfer({source}→{target})"

        def move(partition: Iterable[Any]) -> Iterator[Any]:
            self.record(name, calls=1)
            for batch in partition:
                with self.timed(name, call=False):
                    moved = dst.from_arrow(src.to_arrow(batch, schema))
                self.record(name, rows=dst.num_rows(moved), batches=1)
                yield moved

        return [Batches(list(move(p)), dst, shared=True) if isinstance(p, Batches) and p.shared else move(p)
                for p in partitions]

    # ---- threads ----------------------------------------------------------------------------
    def _ensure_pool(self) -> ThreadPoolExecutor:
        with self._shared.lock:
            if self._shared.pool is None:
                self._shared.pool = ThreadPoolExecutor(
                    max_workers=max(1, min(self.partitions, os.cpu_count() or 1)),
                    thread_name_prefix="gpu-exec-partition")
            return self._shared.pool

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """``fn`` over the partitions ``items``, in order; on threads when there are several
        (Arrow and cuDF kernels release the GIL, so partitions of one stage run in parallel).
        Called by the driver's thread only (pipeline breakers that drive a whole stage); what
        ``fn`` does is timed where it runs, so the wait is charged to no one here."""
        work = list(items)

        def run(x: T) -> R:
            self.check_cancelled()  # partitions not started yet are skipped once cancelled
            return fn(x)

        with self.waiting():
            if len(work) <= 1 or (os.cpu_count() or 1) == 1:
                return [run(x) for x in work]
            return list(self._ensure_pool().map(run, work))

    def merge(self, partitions: list[Iterable[Table]], depth: int = 2) -> Iterator[Table]:
        """The batches of every partition, as they come, each partition pulled on a thread of its
        own (at most ``depth`` batches a partition wait for the consumer). Order within a
        partition is kept; across partitions it is arrival order. Stopping early (closing the
        iterator) stops the producers at their next batch. Dedicated threads, not the partition
        pool: a merge may be pulled from a pool thread without starving it."""
        if not partitions:
            return
        if len(partitions) == 1:
            yield from partitions[0]
            return
        merge = _Merge(len(partitions) * depth)
        threads = [threading.Thread(target=merge.produce, args=(p,), name="gpu-exec-merge", daemon=True)
                   for p in partitions]
        merge.active = len(threads)
        for thread in threads:
            thread.start()
        try:
            while True:
                with self.waiting():
                    batch = merge.take()
                if batch is _DONE:
                    return
                yield batch
        finally:
            merge.stop()

    def close(self, wait: bool = False) -> None:
        """Release the partition threads and what the query's streams still hold in the memory
        pool; ``wait`` for the partitions still running (a failed query otherwise returns at once
        and leaves them to stop at their next batch)."""
        self._shared.ended.set()
        with self._shared.lock:
            pool, self._shared.pool = self._shared.pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=True)
        self.memory.close()
        self.spill.cleanup()

    # ---- metrics ----------------------------------------------------------------------------
    def record(self, operator: str, *, seconds: float = 0.0, rows: int = 0, batches: int = 0,
               calls: int = 0, row_groups: int = 0, row_groups_pruned: int = 0,
               bytes_scanned: int = 0) -> None:
        """Add to ``operator``'s metrics (from any thread)."""
        with self._shared.lock:
            m = self.metrics[operator]
            m.seconds += seconds
            m.rows += rows
            m.batches += batches
            m.calls += calls
            m.row_groups += row_groups
            m.row_groups_pruned += row_groups_pruned
            m.bytes_scanned += bytes_scanned

    @contextmanager
    def timed(self, operator: str, *, call: bool = True) -> Iterator[OperatorMetrics]:
        """Time a block of work in this thread and charge it to ``operator`` (one call of it when
        ``call``), less the time of the nested spans it contains (inputs it pulls, waits)."""
        with self._shared.lock:
            m = self.metrics[operator]
        start = time.perf_counter()
        saved = getattr(_clock, "inner", 0.0)
        _clock.inner = 0.0
        try:
            yield m
        finally:
            elapsed = time.perf_counter() - start
            own = elapsed - _clock.inner
            _clock.inner = saved + elapsed
            self.record(operator, seconds=own, calls=1 if call else 0)

    @contextmanager
    def waiting(self) -> Iterator[None]:
        """A span charged to no operator: the enclosing span does not count it as its own."""
        start = time.perf_counter()
        saved = getattr(_clock, "inner", 0.0)
        try:
            yield
        finally:
            _clock.inner = saved + (time.perf_counter() - start)

    def pulled(self, operator: str, iterator: Iterator[T]) -> T:
        """``next(iterator)``, its own time (not its inputs') charged to ``operator``; raises
        StopIteration at the end."""
        start = time.perf_counter()
        saved = getattr(_clock, "inner", 0.0)
        _clock.inner = 0.0
        try:
            return next(iterator)
        finally:
            elapsed = time.perf_counter() - start
            own = elapsed - _clock.inner
            _clock.inner = saved + elapsed
            self.record(operator, seconds=own)

    def memory_metrics(self) -> None:
        """Copy the memory pool's per-consumer peaks and spills into the operators' metrics."""
        stats = self.memory.stats()
        with self._shared.lock:
            for name, consumer in stats.consumers.items():
                m = self.metrics[name]
                m.peak_bytes = max(m.peak_bytes, consumer.peak)
                m.spilled_bytes = max(m.spilled_bytes, consumer.spilled)


_DONE: Any = object()


class _Merge:
    """The bounded buffer between a merge's producer threads and its consumer."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.buffer: deque[Any] = deque()
        self.cond = threading.Condition()
        self.active = 0
        self.error: BaseException | None = None
        self.stopped = False

    def produce(self, partition: Iterable[Any]) -> None:
        iterator = iter(partition)
        try:
            for batch in iterator:
                with self.cond:
                    while len(self.buffer) >= self.capacity and not self.stopped:
                        self.cond.wait()
                    if self.stopped:
                        return
                    self.buffer.append(batch)
                    self.cond.notify_all()
                if self.stopped:
                    return
        except BaseException as exc:  # noqa: BLE001 — handed to the consumer
            with self.cond:
                if self.error is None:
                    self.error = exc
                self.cond.notify_all()
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()  # in this thread, where the generator ran: its cleanup (reservations) runs
            with self.cond:
                self.active -= 1
                self.cond.notify_all()

    def take(self) -> Any:
        with self.cond:
            while not self.buffer and self.active and self.error is None:
                self.cond.wait()
            if self.error is not None:
                raise self.error
            if self.buffer:
                batch = self.buffer.popleft()
                self.cond.notify_all()
                return batch
            return _DONE

    def stop(self) -> None:
        with self.cond:
            self.stopped = True
            self.buffer.clear()
            self.cond.notify_all()
