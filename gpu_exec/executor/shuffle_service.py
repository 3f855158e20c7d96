"""The worker side of the shuffle: a Dask WorkerPlugin owning the worker's shuffle store.

Installed on every worker of a gpu-exec cluster (by the session, or by ``gpu-exec executor``). It
holds map outputs in a ``ShuffleStore`` outside Dask's own memory — Dask only ever sees the small
metadata a task returns — and registers three handlers on the worker's server:

- ``gpu_exec_fetch(keys, packed)``: the pieces as Arrow IPC buffers — or, with ``packed`` (a GPU
  reducer on a UCX comm, see ``gpu_exec.cudf.wire``), pieces still on this worker's device as
  packed device tables — None for a piece not held here;
- ``gpu_exec_drop_job(job_id)``: forget a job's pieces (the scheduler broadcasts it when a job
  ends, fails or is cancelled);
- ``gpu_exec_shuffle_stats()``: the store's contents and traffic counters (tests, benchmarks).
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from distributed import WorkerPlugin
from distributed.protocol import to_serialize
from distributed.utils import sync

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
    "DEFAULT_SHUFFLE_MEMORY_LIMIT",
    "DEFAULT_DEVICE_MEMORY_LIMIT",
    "DEFAULT_FETCH_TIMEOUT",
    "current_service",
]

SERVICE_NAME = "gpu-exec-shuffle"
DROP_JOB_HANDLER = "gpu_exec_drop_job"
STATS_HANDLER = "gpu_exec_shuffle_stats"
DEFAULT_SHUFFLE_MEMORY_LIMIT = 2 * 1024**3
# Device memory is the scarce tier: the operators of the running tasks need it more than finished
# map outputs do.
DEFAULT_DEVICE_MEMORY_LIMIT = 1024**3
DEFAULT_FETCH_TIMEOUT = 10.0


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
    """

    name = SERVICE_NAME
    # Registering again (another session on the same cluster) must not wipe running jobs' data.
    idempotent = True

    def __init__(self, memory_limit: int = DEFAULT_SHUFFLE_MEMORY_LIMIT,
                 fetch_timeout: float = DEFAULT_FETCH_TIMEOUT,
                 device_memory_limit: int = DEFAULT_DEVICE_MEMORY_LIMIT) -> None:
        self.memory_limit = memory_limit
        self.fetch_timeout = fetch_timeout
        self.device_memory_limit = device_memory_limit
        self.worker: Worker | None = None
        self.store: ShuffleStore | None = None
        self._kernels: dict[str, Kernels] = {}
        self._kernels_lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        # Shipped to workers before setup(): only the settings travel.
        return {"memory_limit": self.memory_limit, "fetch_timeout": self.fetch_timeout,
                "device_memory_limit": self.device_memory_limit}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    # ---- plugin lifecycle -------------------------------------------------------------------
    def setup(self, worker: Worker) -> None:
        self.worker = worker
        self.store = ShuffleStore(Path(worker.local_directory) / "gpu-exec-shuffle", self.memory_limit,
                                  self.device_memory_limit)
        worker.handlers[FETCH_HANDLER] = self._handle_fetch
        worker.handlers[DROP_JOB_HANDLER] = self._handle_drop_job
        worker.handlers[STATS_HANDLER] = self._handle_stats

    def teardown(self, worker: Worker) -> None:
        for name in (FETCH_HANDLER, DROP_JOB_HANDLER, STATS_HANDLER):
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

    def _handle_drop_job(self, job_id: str) -> int:
        return self._store().drop_job(job_id)

    def _handle_stats(self) -> dict[str, Any]:
        store = self._store()
        return {**dataclasses.asdict(store.stats()), "jobs": sorted(store.job_ids())}

    # ---- used by tasks (worker threads) -----------------------------------------------------
    def _store(self) -> ShuffleStore:
        if self.store is None:
            raise ExecutionError("internal error: the shuffle service is not set up on this worker")
        return self.store

    def put(self, key: PieceKey, table: Table, kernels: Kernels | None = None,
            schema: pa.Schema | None = None) -> int:
        """Keep a piece of ``kernels``' backend (see ShuffleStore.put); returns its size."""
        return self._store().put(key, table, kernels, schema)

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
