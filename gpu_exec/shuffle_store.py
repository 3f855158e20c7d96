"""The per-worker shuffle store: map outputs kept outside Dask's memory, spilled to disk past a limit.

A map task puts each piece of its output here (one piece per reducer partition); reducers on the
same worker read it directly, reducers elsewhere through the fetch handler of
``gpu_exec.shuffle_service``. Pieces are Arrow tables in memory; when their total passes
``memory_limit`` bytes the oldest are written to ``directory`` as Arrow IPC streams and memory-mapped
back when read, so a spilled piece is sent to a peer as the file's bytes, never re-encoded.
(Device tables on GPU workers will sit in front of this tier: device → host → disk.)

Counters record every byte that leaves or enters the worker through the shuffle, so tests and
benchmarks can show that shuffle data goes worker to worker.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

__all__ = ["PieceKey", "ShuffleStore", "ShuffleStats", "encode_ipc", "decode_ipc"]

_READ_OPTIONS = pa.ipc.IpcReadOptions(ensure_alignment=pa.ipc.Alignment.DataTypeSpecific) \
    if hasattr(pa.ipc, "Alignment") else pa.ipc.IpcReadOptions()

_DROPPED_JOBS_KEPT = 1000

PieceKey = tuple[str, int, int, int, int]
"""(job id, stage id, map partition, attempt, piece): one reducer's share of one map task's output."""


def encode_ipc(table: pa.Table) -> pa.Buffer:
    """``table`` as one Arrow IPC stream buffer (what goes on the wire)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def decode_ipc(buffer: object) -> pa.Table:
    """The table of an Arrow IPC stream, zero copy over ``buffer`` except for columns that are not
    aligned for their type (a buffer received in a Dask frame may start anywhere; Acero and the
    compute kernels want aligned data)."""
    source = buffer if isinstance(buffer, pa.Buffer) else pa.py_buffer(buffer)
    return pa.ipc.open_stream(source, options=_READ_OPTIONS).read_all()


@dataclass(frozen=True, slots=True)
class ShuffleStats:
    """A snapshot of one worker's store and its traffic counters (bytes are Arrow sizes in memory,
    IPC sizes on disk and on the wire)."""

    pieces: int
    memory_bytes: int
    disk_bytes: int
    spilled_pieces: int  # pieces written to disk so far (cumulative)
    served_bytes: int  # sent to reducers on other workers
    fetched_bytes: int  # received from other workers
    local_bytes: int  # read by reducers on this worker


class ShuffleStore:
    """Map output pieces of the jobs running on one worker. Thread safe: tasks put and read from
    worker threads while the fetch handler serves peers from the event loop."""

    def __init__(self, directory: str | os.PathLike[str], memory_limit: int) -> None:
        self.directory = Path(directory)
        self.memory_limit = memory_limit
        self._lock = threading.Lock()
        self._memory: OrderedDict[PieceKey, pa.Table] = OrderedDict()  # oldest first: spilled first
        self._disk: dict[PieceKey, tuple[Path, int]] = {}
        self._memory_bytes = 0
        # Jobs already dropped: a task of a cancelled job may still finish after the drop, and
        # its output must not linger (bounded: only recent jobs can have stragglers).
        self._dropped: OrderedDict[str, None] = OrderedDict()
        self._spilled = 0
        self._served = 0
        self._fetched = 0
        self._local = 0

    # ---- writing ----------------------------------------------------------------------------
    def put(self, key: PieceKey, table: pa.Table) -> int:
        """Keep ``table`` under ``key``; returns its size in bytes. Spills the oldest pieces when
        the store holds more than ``memory_limit`` bytes in memory. The pieces of a job already
        dropped are not kept."""
        size = table.nbytes
        with self._lock:
            if key[0] in self._dropped:
                return size
            self._discard(key)
            self._memory[key] = table
            self._memory_bytes += size
            while self._memory_bytes > self.memory_limit and self._memory:
                self._spill_oldest()
        return size

    def _spill_oldest(self) -> None:
        key, table = self._memory.popitem(last=False)
        self._memory_bytes -= table.nbytes
        path = self.directory / key[0] / "-".join(map(str, key[1:]))
        path.parent.mkdir(parents=True, exist_ok=True)
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        self._disk[key] = (path, path.stat().st_size)
        self._spilled += 1

    def _discard(self, key: PieceKey) -> None:
        table = self._memory.pop(key, None)
        if table is not None:
            self._memory_bytes -= table.nbytes
        spilled = self._disk.pop(key, None)
        if spilled is not None:
            spilled[0].unlink(missing_ok=True)

    # ---- reading ----------------------------------------------------------------------------
    def __contains__(self, key: PieceKey) -> bool:
        with self._lock:
            return key in self._memory or key in self._disk

    def get(self, key: PieceKey) -> pa.Table:
        """The piece as a table, for a reducer on this worker. KeyError when it is not here."""
        with self._lock:
            table = self._memory.get(key)
            if table is None:
                path, _ = self._disk[key]
                table = decode_ipc(pa.memory_map(str(path)).read_buffer())
            self._local += table.nbytes
        return table

    def get_ipc(self, key: PieceKey) -> pa.Buffer:
        """The piece as an Arrow IPC stream, for a reducer on another worker. KeyError when it is
        not here. A spilled piece is the file's own bytes."""
        with self._lock:
            table = self._memory.get(key)
            if table is None:
                path, _ = self._disk[key]
                buffer = pa.memory_map(str(path)).read_buffer()
        if table is not None:
            buffer = encode_ipc(table)
        with self._lock:
            self._served += buffer.size
        return buffer

    def count_fetched(self, nbytes: int) -> None:
        """Record ``nbytes`` received from another worker's store."""
        with self._lock:
            self._fetched += nbytes

    # ---- cleanup ----------------------------------------------------------------------------
    def drop_job(self, job_id: str) -> int:
        """Forget every piece of ``job_id`` (memory and disk); returns how many there were."""
        with self._lock:
            keys = [k for k in (*self._memory, *self._disk) if k[0] == job_id]
            for key in keys:
                self._discard(key)
            self._dropped[job_id] = None
            while len(self._dropped) > _DROPPED_JOBS_KEPT:
                self._dropped.popitem(last=False)
        shutil.rmtree(self.directory / job_id, ignore_errors=True)
        return len(keys)

    def job_ids(self) -> set[str]:
        with self._lock:
            return {k[0] for k in (*self._memory, *self._disk)}

    def stats(self) -> ShuffleStats:
        with self._lock:
            return ShuffleStats(
                pieces=len(self._memory) + len(self._disk),
                memory_bytes=self._memory_bytes,
                disk_bytes=sum(size for _, size in self._disk.values()),
                spilled_pieces=self._spilled,
                served_bytes=self._served,
                fetched_bytes=self._fetched,
                local_bytes=self._local,
            )

    def close(self) -> None:
        """Drop everything, including the spill directory."""
        with self._lock:
            self._memory.clear()
            self._disk.clear()
            self._memory_bytes = 0
        shutil.rmtree(self.directory, ignore_errors=True)
