"""The worker side of the shuffle: a Dask WorkerPlugin owning the worker's shuffle store.

Installed on every worker of a gpu-exec cluster (by the session, or by ``gpu-exec executor``). It
holds map outputs in a ``ShuffleStore`` outside Dask's own memory — Dask only ever sees the small
metadata a task returns — and registers three handlers on the worker's server:

- ``gpu_exec_fetch(keys, packed)``: the pieces as Arrow IPC buffers — or, with ``packed`` (a GPU
  reducer on a UCX comm, see ``gpu_exec.cudf.wire``), pieces still on this worker's device as
  packed device tables — None for a piece not held here;
- ``gpu_exec_drop_job(job_id)``: forget a job's pieces and stop its tasks still running here (the
  scheduler broadcasts it when a job ends, fails or is cancelled): each task's
  ``ExecutionContext.cancel_event`` is set, so the task raises QueryCancelled at its next operator
  or batch boundary, and its memory goes back to the OS as it unwinds; the handler answers once
  they have stopped (at most ``STOP_WAIT_SECONDS`` later); a task of a dropped job that starts
  later stops at once;
- ``gpu_exec_shuffle_stats()``: the store's contents and traffic counters, the tasks running and
  those stopped by a cancel, the worker's resident memory (tests, benchmarks, tooling);
- ``gpu_exec_set_memory_limit(limit)``: the worker's new memory limit (``gpu-exec executor``
  re-divides a node's memory as executors start and stop). The limit, at setup and at every
  change, is logged as a ``gpu-exec-memory-limit`` event, so that the scheduler can name it when
  the worker dies of memory.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from distributed import WorkerPlugin
from distributed.protocol import to_serialize
from distributed.utils import sync

from gpu_exec.engine.memory import MemoryPool, default_memory_limit
from gpu_exec.executor.shuffle_fetch import FETCH_HANDLER, fetch_pieces
from gpu_exec.executor.shuffle_store import ShuffleStore
from planner.errors import ExecutionError

if TYPE_CHECKING:
    import pyarrow as pa
    from distributed import Worker

    from gpu_exec.engine.kernels import Kernels, Table
    from gpu_exec.executor.shuffle_store import PieceKey

__all__ = [
    "ShuffleService",
    "SERVICE_NAME",
    "DROP_JOB_HANDLER",
    "STATS_HANDLER",
    "MEMORY_LIMIT_HANDLER",
    "MEMORY_LIMIT_EVENT",
    "DEFAULT_SHUFFLE_MEMORY_LIMIT",
    "DEFAULT_DEVICE_MEMORY_LIMIT",
    "DEFAULT_FETCH_TIMEOUT",
    "current_service",
    "release_memory",
]

SERVICE_NAME = "gpu-exec-shuffle"
DROP_JOB_HANDLER = "gpu_exec_drop_job"
STATS_HANDLER = "gpu_exec_shuffle_stats"
MEMORY_LIMIT_HANDLER = "gpu_exec_set_memory_limit"
MEMORY_LIMIT_EVENT = "gpu-exec-memory-limit"
DEFAULT_SHUFFLE_MEMORY_LIMIT = 2 * 1024**3
# Device memory is the scarce tier: the operators of the running tasks need it more than finished
# map outputs do.
DEFAULT_DEVICE_MEMORY_LIMIT = 1024**3
DEFAULT_FETCH_TIMEOUT = 10.0
# How long the drop handler waits for the dropped job's running tasks to stop before answering.
STOP_WAIT_SECONDS = 10.0


class ShuffleService(WorkerPlugin):
    """Shuffle store and fetch handlers of one worker.

    Parameters
    ----------
    memory_limit
        Bytes of map output kept in host memory before the oldest pieces spill to disk (Arrow IPC
        files under the worker's local directory).
    fetch_timeout
        Seconds to keep trying to connect to a peer before its map outputs count as lost.
    device_memory_limit
        Bytes of map output a GPU executor keeps on the device, as its tasks produced it, before
        the oldest pieces spill to host memory.
    memory_pool_limit
        Bytes the operators of this worker's tasks may hold at once (``memory_pool``, shared by
        its concurrent tasks; gpu_exec.engine.memory). None: the worker's own memory limit (what
        ``gpu-exec executor --memory-limit`` or Dask set), else the machine's default.
    """

    name = SERVICE_NAME
    # Registering again (another session on the same cluster) must not wipe running jobs' data.
    idempotent = True

    def __init__(self, memory_limit: int = DEFAULT_SHUFFLE_MEMORY_LIMIT,
                 fetch_timeout: float = DEFAULT_FETCH_TIMEOUT,
                 device_memory_limit: int = DEFAULT_DEVICE_MEMORY_LIMIT,
                 memory_pool_limit: int | None = None) -> None:
        self.memory_limit = memory_limit
        self.fetch_timeout = fetch_timeout
        self.device_memory_limit = device_memory_limit
        self.memory_pool_limit = memory_pool_limit
        self.memory_pool = MemoryPool(memory_pool_limit, name="executor")
        self.worker: Worker | None = None
        self.store: ShuffleStore | None = None
        self._kernels: dict[str, Kernels] = {}
        self._kernels_lock = threading.Lock()
        # The cancel events of the tasks running on this worker, by job.
        self._tasks_lock = threading.Lock()
        self._running: dict[str, set[threading.Event]] = {}
        self._cancelled_tasks = 0  # tasks that ended with their cancel event set (cumulative)
        self._dropped_at: dict[str, float] = {}  # job → when its drop reached this worker (running tasks only)
        self._stop_seconds = 0.0  # the longest a cancelled task took to stop after the drop

    def __getstate__(self) -> dict[str, Any]:
        # Shipped to workers before setup(): only the settings travel.
        return {"memory_limit": self.memory_limit, "fetch_timeout": self.fetch_timeout,
                "device_memory_limit": self.device_memory_limit, "memory_pool_limit": self.memory_pool_limit}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    # ---- plugin lifecycle -------------------------------------------------------------------
    def setup(self, worker: Worker) -> None:
        self.worker = worker
        limit = self.memory_pool_limit
        if limit is None:
            dask_limit = getattr(getattr(worker, "memory_manager", None), "memory_limit", None)
            limit = int(dask_limit) if dask_limit else default_memory_limit()
        self.memory_pool = MemoryPool(limit, name=f"executor {worker.address}")
        # Operators' spill files go beside the shuffle's, in the worker's local directory.
        self.spill_base = str(Path(worker.local_directory))
        self.store = ShuffleStore(Path(worker.local_directory) / "gpu-exec-shuffle", self.memory_limit,
                                  self.device_memory_limit)
        worker.handlers[FETCH_HANDLER] = self._handle_fetch
        worker.handlers[DROP_JOB_HANDLER] = self._handle_drop_job
        worker.handlers[STATS_HANDLER] = self._handle_stats
        worker.handlers[MEMORY_LIMIT_HANDLER] = self._handle_memory_limit
        # The scheduler forgets a worker's limit with the worker: an event outlives it, so that a
        # death for memory can be reported with the limit it went over. (Plugins given to a
        # worker are set up before it registers: the event waits for that.)
        self._announcing = asyncio.ensure_future(_announce_memory_limit(worker))

    def teardown(self, worker: Worker) -> None:
        for name in (FETCH_HANDLER, DROP_JOB_HANDLER, STATS_HANDLER, MEMORY_LIMIT_HANDLER):
            worker.handlers.pop(name, None)
        if self.store is not None:
            self.store.close()

    # ---- handlers (run on the worker's event loop) ------------------------------------------
    async def _handle_fetch(self, keys: Sequence[Sequence[Any]], packed: bool = False) -> dict[str, Any]:
        store = self._store()

        def encode() -> list[Any]:
            out: list[Any] = []
            for raw in keys:
                key: PieceKey = (str(raw[0]), int(raw[1]), int(raw[2]), int(raw[3]), int(raw[4]))
                try:
                    out.append(self._encode_piece(store, key, packed))
                except KeyError:
                    out.append(None)
            return out

        # Encoding copies the data once: keep it off the event loop.
        return {"pieces": await asyncio.to_thread(encode)}

    @staticmethod
    def _encode_piece(store: ShuffleStore, key: PieceKey, packed: bool) -> Any:
        """One piece for the wire: packed when the reducer accepts it and the piece is a device
        table still on this worker's device, else Arrow IPC. KeyError when it is not here."""
        if packed:
            from gpu_exec.cudf.wire import is_cudf_table, pack

            piece = store.get_device(key)
            if piece is not None and is_cudf_table(piece.table):
                packed_table = pack(piece.table)
                store.count_served(packed_table.nbytes)
                return to_serialize(packed_table)
        # A memoryview goes out as one Dask frame, not pickled.
        return to_serialize(memoryview(store.get_ipc(key)))

    async def _handle_drop_job(self, job_id: str) -> int:
        # Dropped first, then the running tasks told: a task starting in between sees the job
        # dropped when it registers (task_started), so none is missed.
        dropped = self._store().drop_job(job_id)
        with self._tasks_lock:
            events = list(self._running.get(job_id, ()))
            if events:
                self._dropped_at[job_id] = time.monotonic()
        for event in events:
            event.set()
        # Answer once they have stopped (at their next batch; a bounded wait for a long kernel):
        # the job's end, as its runner sees it, is the end of its work on every worker.
        deadline = time.monotonic() + STOP_WAIT_SECONDS
        while events and time.monotonic() < deadline:
            with self._tasks_lock:
                if not self._running.get(job_id):
                    break
            await asyncio.sleep(0.02)
        await asyncio.to_thread(release_memory, collect=False)
        return dropped

    def _handle_memory_limit(self, limit: int) -> None:
        worker = self.worker
        assert worker is not None
        worker.memory_manager.memory_limit = int(limit)
        worker.log_event(MEMORY_LIMIT_EVENT, {"worker": worker.address, "limit": int(limit)})

    def _handle_stats(self) -> dict[str, Any]:
        store = self._store()
        with self._tasks_lock:
            running = sum(len(events) for events in self._running.values())
            cancelled, stop_seconds = self._cancelled_tasks, self._stop_seconds
        return {**dataclasses.asdict(store.stats()), "jobs": sorted(store.job_ids()),
                "running_tasks": running, "cancelled_tasks": cancelled, "stop_seconds": stop_seconds,
                "rss": _rss()}

    # ---- tasks' cancellation (worker threads) -----------------------------------------------
    def task_started(self, job_id: str) -> threading.Event:
        """The cancel event of a task of ``job_id`` starting on this worker (its
        ``ExecutionContext.cancel_event``): set when the job is dropped — it ended, failed or was
        cancelled — and set at once when that has already happened. Pair with ``task_ended``."""
        event = threading.Event()
        with self._tasks_lock:
            self._running.setdefault(job_id, set()).add(event)
        if self._store().is_dropped(job_id):
            event.set()
        return event

    def task_ended(self, job_id: str, event: threading.Event | None) -> None:
        """The task holding ``event`` (from ``task_started``) ended; a cancelled one gives the
        memory it freed back to the OS."""
        if event is None:
            return
        with self._tasks_lock:
            events = self._running.get(job_id)
            if events is not None:
                events.discard(event)
                if not events:
                    del self._running[job_id]
            if event.is_set():
                self._cancelled_tasks += 1
                dropped = self._dropped_at.get(job_id)
                if dropped is not None:
                    self._stop_seconds = max(self._stop_seconds, time.monotonic() - dropped)
                    if job_id not in self._running:
                        del self._dropped_at[job_id]
        if event.is_set():
            release_memory()

    # ---- used by tasks (worker threads) -----------------------------------------------------
    def _store(self) -> ShuffleStore:
        if self.store is None:
            raise ExecutionError("internal error: the shuffle service is not set up on this worker")
        return self.store

    def put(self, key: PieceKey, table: Table, kernels: Kernels | None = None,
            schema: pa.Schema | None = None) -> int:
        """Keep a piece of ``kernels``' backend (see ShuffleStore.put); returns its size."""
        return self._store().put(key, table, kernels, schema)

    def append(self, key: PieceKey, table: Table, kernels: Kernels | None = None,
               schema: pa.Schema | None = None) -> int:
        """Add a chunk to a piece (see ShuffleStore.append); returns its size."""
        return self._store().append(key, table, kernels, schema)

    def fetch(self, requests: Mapping[str, Sequence[PieceKey]],
              kernels: Kernels | None = None) -> dict[PieceKey, Table]:
        """The pieces of ``requests`` (by worker address), on ``kernels``' backend (None: Arrow
        tables); raises FetchFailed."""
        worker = self.worker
        assert worker is not None
        return sync(
            worker.loop, fetch_pieces, requests, local_address=worker.address, store=self._store(),
            connect_timeout=self.fetch_timeout, connection_args=worker.connection_args,
            count_bytes=self._store().count_fetched, kernels=kernels,
        )

    def kernels(self, device: str) -> Kernels:
        """The kernels of ``device`` ("cpu" / "gpu"), made once per worker."""
        from gpu_exec.engine.device import DeviceChoice, make_kernels

        with self._kernels_lock:
            if device not in self._kernels:
                self._kernels[device] = make_kernels(DeviceChoice(device))
            return self._kernels[device]


async def _announce_memory_limit(worker: Worker) -> None:
    from distributed.core import Status

    for _ in range(1200):  # a minute at most
        if worker.status is Status.running:
            break
        if worker.status in (Status.closing, Status.closed, Status.failed):
            return
        await asyncio.sleep(0.05)
    limit = getattr(getattr(worker, "memory_manager", None), "memory_limit", None)
    if limit:
        worker.log_event(MEMORY_LIMIT_EVENT, {"worker": worker.address, "limit": int(limit)})


def release_memory(collect: bool = True) -> None:
    """Hand memory freed by stopped tasks or dropped pieces back to the OS: Arrow's allocator
    keeps freed pages for reuse, glibc keeps its arenas; after a cancelled query the worker's
    resident memory should return to where it was. ``collect``: run the garbage collector first
    (a cancelled task's frames hold cycles)."""
    if collect:
        gc.collect()
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # not glibc
            pass


def _rss() -> int:
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except Exception:  # noqa: BLE001 — a statistic only
        return 0


def current_service() -> ShuffleService:
    """The shuffle service of the worker running the calling task."""
    from distributed import get_worker

    service = get_worker().plugins.get(SERVICE_NAME)
    if not isinstance(service, ShuffleService):
        raise ExecutionError(
            "this Dask worker has no gpu-exec shuffle service: start workers with `gpu-exec executor`, "
            "or connect a gpu-exec session to the cluster first (it installs the service)"
        )
    return service
